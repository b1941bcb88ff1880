-- Market data and the securities universe.
-- Timestamps are unix seconds (UTC); days are ISO 'YYYY-MM-DD' text.
-- Prices in the history are analytics inputs (float64); FX rates are exact (TEXT Decimal).

CREATE TABLE securities (
    isin                  TEXT PRIMARY KEY,
    symbol                TEXT NOT NULL UNIQUE,           -- broker ticker, e.g. AAPL.US
    yahoo_symbol          TEXT,                           -- explicit override / resolved symbol
    name                  TEXT NOT NULL,
    product_type          TEXT NOT NULL DEFAULT 'UNKNOWN'
        CHECK (product_type IN ('EQUITY', 'ETF', 'ETC', 'MUTUALFUND', 'UNKNOWN')),
    country               TEXT,
    industry              TEXT,
    exchange              TEXT,                           -- Yahoo fullExchangeName
    mic                   TEXT,                           -- market-hours key (ISO MIC)
    market_code           TEXT,                           -- broker mkt_short_code
    currency              TEXT NOT NULL,
    min_lot               INTEGER NOT NULL DEFAULT 1 CHECK (min_lot >= 1),
    priority_multiplier   REAL NOT NULL DEFAULT 1.0
        CHECK (priority_multiplier BETWEEN 0.1 AND 3.0),
    allow_buy             INTEGER NOT NULL DEFAULT 1 CHECK (allow_buy IN (0, 1)),
    allow_sell            INTEGER NOT NULL DEFAULT 1 CHECK (allow_sell IN (0, 1)),
    active                INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    min_portfolio_target  REAL CHECK (min_portfolio_target BETWEEN 0 AND 20),
    max_portfolio_target  REAL CHECK (max_portfolio_target BETWEEN 0 AND 30),
    source                TEXT NOT NULL DEFAULT '',       -- where the record came from
    last_synced           INTEGER,                        -- NULL = never processed
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    CHECK (max_portfolio_target IS NULL OR min_portfolio_target IS NULL
           OR max_portfolio_target >= min_portfolio_target)
);
CREATE INDEX securities_active ON securities (active, last_synced);

-- The one daily price history table (not a file per symbol).
CREATE TABLE price_history (
    isin       TEXT NOT NULL REFERENCES securities (isin) ON DELETE CASCADE,
    day        TEXT NOT NULL,
    open       REAL,
    high       REAL,
    low        REAL,
    close      REAL NOT NULL CHECK (close > 0),
    adj_close  REAL,
    volume     REAL,
    source     TEXT NOT NULL,
    PRIMARY KEY (isin, day)
) WITHOUT ROWID;

-- The latest accepted quote per security (kept when a refresh fails: marked stale).
CREATE TABLE latest_prices (
    isin        TEXT PRIMARY KEY REFERENCES securities (isin) ON DELETE CASCADE,
    price       REAL NOT NULL CHECK (price > 0),
    currency    TEXT NOT NULL,
    as_of       INTEGER NOT NULL,                        -- when the price was printed
    fetched_at  INTEGER NOT NULL,
    source      TEXT NOT NULL
);

-- Prices refused by validation: logged here, never used.
CREATE TABLE price_quarantine (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    isin         TEXT NOT NULL,
    day          TEXT NOT NULL,
    close        REAL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL,
    detected_at  INTEGER NOT NULL,
    UNIQUE (isin, day, reason, source)
);
CREATE INDEX price_quarantine_isin ON price_quarantine (isin, day);

-- Fundamentals and analyst data, one JSON document per security and kind.
CREATE TABLE security_data (
    isin        TEXT NOT NULL REFERENCES securities (isin) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('fundamentals', 'analyst')),
    data        TEXT NOT NULL,
    as_of       INTEGER NOT NULL,
    PRIMARY KEY (isin, kind)
);

-- FX: EUR value of one unit of currency, per day and source (exact).
CREATE TABLE fx_rates (
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    day         TEXT NOT NULL,
    eur_per     TEXT NOT NULL,
    source      TEXT NOT NULL,
    fetched_at  INTEGER NOT NULL,
    PRIMARY KEY (currency, day, source)
);
