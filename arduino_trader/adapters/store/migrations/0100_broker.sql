-- The paper broker's account (adapters/paper_broker.py). Every row is simulated money:
-- the `simulated` column is fixed to 1 so no query can mistake these rows for the real
-- broker's. Money columns are TEXT (Decimal).

CREATE TABLE paper_account (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    created_at    INTEGER NOT NULL,
    initial_cash  TEXT NOT NULL,
    currency      TEXT NOT NULL,
    simulated     INTEGER NOT NULL DEFAULT 1 CHECK (simulated = 1)
);

CREATE TABLE paper_cash (
    currency   TEXT PRIMARY KEY,
    amount     TEXT NOT NULL,
    simulated  INTEGER NOT NULL DEFAULT 1 CHECK (simulated = 1)
);

CREATE TABLE paper_positions (
    symbol     TEXT PRIMARY KEY,
    quantity   TEXT NOT NULL,
    avg_price  TEXT NOT NULL,
    currency   TEXT NOT NULL,
    simulated  INTEGER NOT NULL DEFAULT 1 CHECK (simulated = 1)
);

CREATE TABLE paper_prices (
    symbol     TEXT PRIMARY KEY,
    price      TEXT NOT NULL,
    currency   TEXT NOT NULL,
    at         INTEGER NOT NULL
);

CREATE TABLE paper_orders (
    order_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_order_id  INTEGER NOT NULL UNIQUE,
    symbol         TEXT NOT NULL,
    side           TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    limit_price    TEXT,
    currency       TEXT NOT NULL,
    status         INTEGER NOT NULL,
    placed_at      INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    simulated      INTEGER NOT NULL DEFAULT 1 CHECK (simulated = 1)
);
CREATE INDEX paper_orders_status ON paper_orders (status);

CREATE TABLE paper_trades (
    trade_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id     INTEGER NOT NULL UNIQUE REFERENCES paper_orders (order_id),
    symbol       TEXT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity     INTEGER NOT NULL,
    price        TEXT NOT NULL,
    value        TEXT NOT NULL,
    fee          TEXT NOT NULL,
    currency     TEXT NOT NULL,
    executed_at  INTEGER NOT NULL,
    simulated    INTEGER NOT NULL DEFAULT 1 CHECK (simulated = 1)
);

CREATE TABLE paper_cash_flows (
    flow_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    type_code  TEXT NOT NULL,
    amount     TEXT NOT NULL,
    currency   TEXT NOT NULL,
    at         INTEGER NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    simulated  INTEGER NOT NULL DEFAULT 1 CHECK (simulated = 1)
);
