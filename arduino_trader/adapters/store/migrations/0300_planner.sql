-- Planner: every plan run, and its steps as recommendations.
-- A recommendation's identity is (symbol, side, reason, portfolio_hash): a dismissal by
-- the user sticks for that identity; a pending row is refreshed by the next plan; rows a
-- newer plan no longer proposes are dismissed as 'superseded'. Money is TEXT (Decimal).

CREATE TABLE plans (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    portfolio_hash     TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('plan', 'nothing_to_do')),
    reason             TEXT NOT NULL,
    trigger            TEXT NOT NULL,
    current_score      REAL,
    end_state_score    REAL,
    improvement        REAL,
    result_json        TEXT NOT NULL,                   -- PlanResult.to_dict()
    timings_json       TEXT NOT NULL DEFAULT '{}',
    warnings_json      TEXT NOT NULL DEFAULT '[]',
    inputs_json        TEXT NOT NULL DEFAULT '{}',      -- what the plan saw (weights, cash)
    duration_ms        REAL NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX plans_time ON plans (created_at);

CREATE TABLE recommendations (
    uuid               TEXT PRIMARY KEY,
    plan_id            INTEGER NOT NULL REFERENCES plans (id),
    step               INTEGER NOT NULL CHECK (step >= 1),
    symbol             TEXT NOT NULL,
    isin               TEXT NOT NULL,
    name               TEXT NOT NULL DEFAULT '',
    side               TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    estimated_price    TEXT NOT NULL,                   -- security currency
    estimated_value    TEXT NOT NULL,                   -- EUR
    cost_eur           TEXT NOT NULL,
    currency           TEXT NOT NULL,
    category           TEXT NOT NULL DEFAULT '',
    reason             TEXT NOT NULL,
    priority           REAL NOT NULL,
    score_before       REAL NOT NULL,
    score_after        REAL NOT NULL,
    security_score     REAL,
    breakdown_json     TEXT NOT NULL DEFAULT '{}',
    status             TEXT NOT NULL CHECK (status IN ('pending', 'executed', 'dismissed')),
    dismissed_by       TEXT CHECK (dismissed_by IN ('user', 'superseded')),
    portfolio_hash     TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    executed_at        INTEGER,
    dismissed_at       INTEGER,
    UNIQUE (symbol, side, reason, portfolio_hash)
);
CREATE INDEX recommendations_status ON recommendations (status, step);
CREATE INDEX recommendations_hash ON recommendations (portfolio_hash, status);
