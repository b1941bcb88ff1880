-- Per-bucket planner configuration, versioned: every PUT or DELETE appends a version
-- (config_json NULL = deleted: the bucket plans with the global settings again).
CREATE TABLE planner_configs (
    bucket_id    TEXT NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    config_json  TEXT,
    changed_by   TEXT NOT NULL,
    changed_at   INTEGER NOT NULL,
    PRIMARY KEY (bucket_id, version)
);
