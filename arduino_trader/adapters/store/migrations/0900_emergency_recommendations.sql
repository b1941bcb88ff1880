-- Emergency recommendations: the position sales a
-- negative-balance repair proposes, kept apart from the planner's plans so they never
-- become its latest plan or its targets and a new plan never supersedes them.
-- A row's key is stable for one situation (the shortfalls it repairs) and one position
-- (symbol, bucket): a later run in the same situation refreshes it, an owner's dismissal
-- sticks until the situation changes, and no shortfall left dismisses the pending rows
-- as 'resolved'. Money is TEXT (Decimal).

CREATE TABLE emergency_recommendations (
    key                TEXT PRIMARY KEY,                -- emergency:<situation>:<symbol>:<bucket>
    situation          TEXT NOT NULL,                   -- digest of the shortfalls
    shortfalls_json    TEXT NOT NULL,                   -- {currency: amount short}
    run_id             TEXT NOT NULL,                   -- the emergency run that proposed it
    mode               TEXT NOT NULL CHECK (mode IN ('research', 'live')),
    symbol             TEXT NOT NULL,
    isin               TEXT NOT NULL DEFAULT '',
    side               TEXT NOT NULL CHECK (side = 'SELL'),
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    estimated_price    TEXT NOT NULL,                   -- security currency
    estimated_value    TEXT NOT NULL,                   -- EUR
    currency           TEXT NOT NULL,
    bucket_id          TEXT NOT NULL DEFAULT 'core',
    reason             TEXT NOT NULL,
    priority           REAL NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'executed', 'dismissed')),
    dismissed_by       TEXT CHECK (dismissed_by IN ('user', 'resolved', 'superseded')),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    executed_at        INTEGER,
    dismissed_at       INTEGER
);
CREATE INDEX emergency_recommendations_status ON emergency_recommendations (status, situation);
