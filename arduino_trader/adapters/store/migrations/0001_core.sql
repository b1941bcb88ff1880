-- Core tables of the daemon's body. Later feature areas add numbered migrations in their
-- own range (0100 broker, 0200 market data, 0300 planner, 0400 executor, 0500 cash flows,
-- 0600 satellites, 0700 portfolio) so parallel work never collides on a number.

CREATE TABLE settings_overrides (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,              -- JSON text, or a Fernet token for secrets
    encrypted   INTEGER NOT NULL DEFAULT 0 CHECK (encrypted IN (0, 1)),
    updated_at  INTEGER NOT NULL            -- unix seconds
);

CREATE TABLE job_runs (
    run_id       TEXT PRIMARY KEY,
    job          TEXT NOT NULL,
    trigger      TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'startup')),
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    ok           INTEGER CHECK (ok IN (0, 1)),
    duration_s   REAL,
    summary      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX job_runs_job_started ON job_runs (job, started_at DESC);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,                  -- "api", "daemon", an actor name
    action  TEXT NOT NULL,                  -- e.g. "trading_mode", "setting", "kill_switch"
    detail  TEXT NOT NULL DEFAULT '{}'      -- JSON, never containing secrets
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
