-- Security discovery: every candidate the monthly discovery added or proposed, and what
-- became of it. A candidate is never proposed twice: 'pending' waits for the owner,
-- 'added' joined automatically, 'approved' joined on the owner's word, 'rejected' is
-- never proposed again. `month` ('YYYY-MM', UTC) is the month it counts against the
-- monthly cap. Times are unix seconds; the score is the universe scorer's total.

CREATE TABLE discovery_candidates (
    isin         TEXT PRIMARY KEY,
    symbol       TEXT NOT NULL,
    name         TEXT NOT NULL,
    currency     TEXT NOT NULL,
    country      TEXT,
    region       TEXT NOT NULL,
    exchange     TEXT NOT NULL,                  -- broker exchange (usa, europe, ...)
    source       TEXT NOT NULL,                  -- 'broker' or the market-data source name
    score        REAL NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'added', 'approved', 'rejected')),
    month        TEXT NOT NULL,
    proposed_at  INTEGER NOT NULL,
    decided_at   INTEGER,
    detail       TEXT NOT NULL DEFAULT '{}'      -- JSON: score groups, volume, screen
);
CREATE INDEX discovery_candidates_month ON discovery_candidates (month, status);
