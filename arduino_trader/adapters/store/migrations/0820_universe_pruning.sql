-- Universe pruning: one score sample per security and day (the monthly pruning job reads
-- the mean over the configured months), and the held securities it would have
-- deactivated, flagged for the owner instead. Days are ISO 'YYYY-MM-DD'; times unix s.

CREATE TABLE score_history (
    isin         TEXT NOT NULL,
    day          TEXT NOT NULL,
    total_score  REAL NOT NULL,
    PRIMARY KEY (isin, day)
) WITHOUT ROWID;

CREATE TABLE universe_flags (
    isin        TEXT PRIMARY KEY,
    symbol      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    flagged_at  INTEGER NOT NULL
);
