-- Concentration alerts in force (country, sector, position) and their acknowledgement.
-- One row per country, sector or position at or above its alert threshold; a row is
-- deleted when the alert clears. level: 1 warning, 2 critical, 3 at or over the limit.
-- Percentages are exact TEXT fractions; timestamps unix seconds (UTC).
CREATE TABLE concentration_alerts (
    type                TEXT NOT NULL,                    -- country | sector | position
    name                TEXT NOT NULL,
    level               INTEGER NOT NULL,
    severity            TEXT NOT NULL,                    -- warning | critical
    current_pct         TEXT NOT NULL,
    limit_pct           TEXT NOT NULL,
    alert_threshold_pct TEXT NOT NULL,
    raised_at           INTEGER NOT NULL,                 -- when it reached this level
    checked_at          INTEGER NOT NULL,                 -- the last check that saw it
    acknowledged_at     INTEGER,                          -- NULL until acknowledged
    PRIMARY KEY (type, name)
);
