-- Multi-bucket portfolio: core + satellites.
-- Money and fractions are TEXT (exact Decimal, protocols/money.py); timestamps are unix
-- seconds (UTC). Targets are TEXT rather than REAL so core + Σ satellites = 1 exactly.
-- The state the reference computed but never stored (re-awakening, win cooldown, last
-- reallocation) lives on the bucket row so it survives restarts.

CREATE TABLE buckets (
    id                      TEXT PRIMARY KEY CHECK (length(trim(id)) > 0),
    name                    TEXT NOT NULL,
    type                    TEXT NOT NULL CHECK (type IN ('core', 'satellite')),
    notes                   TEXT NOT NULL DEFAULT '',
    target_pct              TEXT NOT NULL DEFAULT '0',     -- fraction of the portfolio
    min_pct                 TEXT NOT NULL DEFAULT '0',
    max_pct                 TEXT NOT NULL DEFAULT '1',
    consecutive_losses      INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_losses >= 0),
    max_consecutive_losses  INTEGER NOT NULL DEFAULT 5 CHECK (max_consecutive_losses >= 1),
    high_water_mark         TEXT NOT NULL DEFAULT '0',     -- EUR, flow-adjusted
    high_water_mark_date    INTEGER,
    loss_streak_paused_at   INTEGER,
    status                  TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('research', 'accumulating', 'active', 'hibernating', 'paused',
                          'retired')),
    reawaken_stage          INTEGER NOT NULL DEFAULT 0 CHECK (reawaken_stage BETWEEN 0 AND 4),
    reawaken_wins           INTEGER NOT NULL DEFAULT 0 CHECK (reawaken_wins >= 0),
    reawaken_trades         INTEGER NOT NULL DEFAULT 0 CHECK (reawaken_trades >= 0),
    cooldown_started_at     INTEGER,
    cooldown_trigger_gain   TEXT,
    last_reallocated_at     INTEGER,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    CHECK ((id = 'core') = (type = 'core')),
    CHECK (type = 'satellite' OR status NOT IN ('hibernating', 'retired'))
);
CREATE INDEX buckets_status ON buckets (status);

-- Core exists from the first start: active, the whole portfolio until satellites get
-- targets (core target = 1 − Σ satellite targets).
INSERT INTO buckets (id, name, type, target_pct, min_pct, max_pct, status, created_at,
                     updated_at)
VALUES ('core', 'Core', 'core', '1', '0', '1', 'active', CAST(strftime('%s', 'now') AS INTEGER),
        CAST(strftime('%s', 'now') AS INTEGER));

CREATE TABLE satellite_settings (
    satellite_id            TEXT PRIMARY KEY REFERENCES buckets (id) ON DELETE CASCADE,
    preset                  TEXT,
    risk_appetite           TEXT NOT NULL DEFAULT '0.5',
    hold_duration           TEXT NOT NULL DEFAULT '0.5',
    entry_style             TEXT NOT NULL DEFAULT '0.5',
    position_spread         TEXT NOT NULL DEFAULT '0.5',
    profit_taking           TEXT NOT NULL DEFAULT '0.5',
    trailing_stops          INTEGER NOT NULL DEFAULT 0 CHECK (trailing_stops IN (0, 1)),
    follow_regime           INTEGER NOT NULL DEFAULT 0 CHECK (follow_regime IN (0, 1)),
    auto_harvest            INTEGER NOT NULL DEFAULT 0 CHECK (auto_harvest IN (0, 1)),
    pause_high_volatility   INTEGER NOT NULL DEFAULT 0
        CHECK (pause_high_volatility IN (0, 1)),
    dividend_handling       TEXT NOT NULL DEFAULT 'reinvest_same'
        CHECK (dividend_handling IN ('reinvest_same', 'send_to_core', 'accumulate_cash')),
    risk_free_rate          TEXT NOT NULL DEFAULT '0.035',
    sortino_mar             TEXT NOT NULL DEFAULT '0.05',
    evaluation_period_days  INTEGER NOT NULL DEFAULT 90 CHECK (evaluation_period_days >= 1),
    volatility_window       INTEGER NOT NULL DEFAULT 60 CHECK (volatility_window >= 2),
    updated_at              INTEGER NOT NULL
);

-- A cache of the ledger: balance = Σ bucket_transactions.amount per (bucket, currency).
CREATE TABLE bucket_balances (
    bucket_id     TEXT NOT NULL REFERENCES buckets (id),
    currency      TEXT NOT NULL CHECK (length(currency) = 3),
    balance       TEXT NOT NULL DEFAULT '0',
    last_updated  INTEGER NOT NULL,
    PRIMARY KEY (bucket_id, currency)
) WITHOUT ROWID;

-- The signed ledger (inflow > 0, outflow < 0). Re-processing a broker record or retrying
-- a request hits the UNIQUE key and changes nothing.
CREATE TABLE bucket_transactions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket_id    TEXT NOT NULL REFERENCES buckets (id),
    type         TEXT NOT NULL CHECK (type IN ('deposit', 'reallocation', 'trade_buy',
                     'trade_sell', 'dividend', 'transfer_in', 'transfer_out', 'withdrawal',
                     'fee', 'reconciliation', 'maturity')),
    amount       TEXT NOT NULL,
    currency     TEXT NOT NULL CHECK (length(currency) = 3),
    description  TEXT NOT NULL DEFAULT '',
    source_kind  TEXT NOT NULL CHECK (source_kind IN ('cash_flow', 'trade', 'dividend',
                     'manual', 'reconcile', 'realloc')),
    source_id    TEXT NOT NULL CHECK (length(source_id) > 0),
    created_at   INTEGER NOT NULL,
    UNIQUE (source_kind, source_id, bucket_id, type)
);
CREATE INDEX bucket_transactions_bucket ON bucket_transactions (bucket_id, currency);
CREATE INDEX bucket_transactions_type ON bucket_transactions (type);
CREATE INDEX bucket_transactions_created ON bucket_transactions (created_at);

-- Allocation settings; the seeds equal records.ALLOCATION_DEFAULTS (a test checks it).
CREATE TABLE allocation_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
INSERT OR IGNORE INTO allocation_settings (key, value, updated_at) VALUES
    ('satellite_budget_pct', '0.00', 0),
    ('satellite_min_pct', '0.02', 0),
    ('satellite_max_pct', '0.15', 0),
    ('evaluation_months', '3', 0),
    ('reallocation_dampening', '0.5', 0),
    ('default_risk_free_rate', '0.035', 0),
    ('default_sortino_mar', '0.05', 0),
    ('default_evaluation_days', '90', 0);
