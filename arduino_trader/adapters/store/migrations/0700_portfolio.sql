-- Portfolio state and daily snapshots.
-- Money is TEXT (exact Decimal, protocols/money.py); eur_per = EUR value of one unit of
-- the currency (NULL = no stored rate: EUR figures are NULL, never assumed 1:1).
-- Timestamps are unix seconds (UTC); days are ISO 'YYYY-MM-DD'.

-- Positions as last synced from the broker; upserted so bucket_id and the first/last
-- trade dates survive re-syncs; a position the broker no longer reports is deleted.
CREATE TABLE portfolio_positions (
    symbol              TEXT PRIMARY KEY,                 -- broker ticker
    isin                TEXT,                             -- NULL: not in the universe
    quantity            TEXT NOT NULL,
    avg_price           TEXT NOT NULL,
    currency            TEXT NOT NULL,
    eur_per             TEXT,
    current_price       TEXT NOT NULL,
    market_value        TEXT NOT NULL,                    -- in the position's currency
    market_value_eur    TEXT,
    cost_basis_eur      TEXT,
    unrealized_pnl_eur  TEXT,
    unrealized_pnl_pct  REAL,
    bucket_id           TEXT NOT NULL DEFAULT 'core',
    first_bought_at     INTEGER,
    last_sold_at        INTEGER,
    price_updated_at    INTEGER NOT NULL,
    last_updated        INTEGER NOT NULL
);
CREATE INDEX portfolio_positions_isin ON portfolio_positions (isin);

-- Broker cash per currency (negative balances included).
CREATE TABLE portfolio_cash (
    currency      TEXT PRIMARY KEY CHECK (length(currency) = 3),
    amount        TEXT NOT NULL,
    eur_per       TEXT,
    amount_eur    TEXT,
    last_updated  INTEGER NOT NULL
);

-- One row per day, upserted by every sync of that day. total = positions + cash (EUR).
CREATE TABLE portfolio_snapshots (
    date                   TEXT PRIMARY KEY
        CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    total_value            TEXT NOT NULL,
    cash_balance           TEXT NOT NULL,
    invested_value         TEXT NOT NULL,
    unrealized_pnl         TEXT NOT NULL,
    geo_eu_pct             REAL NOT NULL DEFAULT 0,
    geo_asia_pct           REAL NOT NULL DEFAULT 0,
    geo_us_pct             REAL NOT NULL DEFAULT 0,
    position_count         INTEGER NOT NULL DEFAULT 0,
    annual_turnover        REAL,
    net_external_flow_eur  TEXT NOT NULL DEFAULT '0',    -- deposits - withdrawals that day
    updated_at             INTEGER NOT NULL
);

-- The EUR value of each holding in a snapshot: the day's weights for attribution.
CREATE TABLE portfolio_snapshot_positions (
    date       TEXT NOT NULL REFERENCES portfolio_snapshots (date) ON DELETE CASCADE,
    symbol     TEXT NOT NULL,
    isin       TEXT,
    value_eur  TEXT NOT NULL,
    PRIMARY KEY (date, symbol)
) WITHOUT ROWID;
