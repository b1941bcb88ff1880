-- The order journal and the trade ledger.
-- An order row is committed before the order is sent; its client id is what the broker
-- knows it by. Fills are stored once, keyed by the broker's trade id. Money is TEXT.

CREATE TABLE orders (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    client_order_id    INTEGER NOT NULL UNIQUE CHECK (client_order_id > 0),
    intent_key         TEXT NOT NULL UNIQUE,
    isin               TEXT NOT NULL,
    symbol             TEXT NOT NULL,
    side               TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity           INTEGER NOT NULL CHECK (quantity > 0),
    limit_price        TEXT NOT NULL,
    currency           TEXT NOT NULL,
    source             TEXT NOT NULL,
    bucket_id          TEXT NOT NULL DEFAULT 'core',
    mode               TEXT NOT NULL CHECK (mode IN ('live', 'research')),
    state              TEXT NOT NULL CHECK (state IN ('journaled', 'sent', 'unresolved',
                           'partially_filled', 'filled', 'cancelled', 'rejected', 'expired',
                           'not_placed')),
    broker_order_id    INTEGER,
    broker_status      INTEGER,
    filled_quantity    TEXT NOT NULL DEFAULT '0',
    reason             TEXT NOT NULL DEFAULT '',
    note               TEXT NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    sent_at            INTEGER,
    finished_at        INTEGER,
    checks             INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX orders_broker_id ON orders (mode, broker_order_id)
    WHERE broker_order_id IS NOT NULL;
CREATE INDEX orders_open ON orders (state) WHERE finished_at IS NULL;

CREATE TABLE trades (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    trade_key          TEXT NOT NULL UNIQUE,             -- '<mode>:<broker trade id>'
    order_row          INTEGER REFERENCES orders (id),
    broker_order_id    INTEGER,
    isin               TEXT NOT NULL,
    symbol             TEXT NOT NULL,
    side               TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity           TEXT NOT NULL,
    price              TEXT NOT NULL,
    value              TEXT NOT NULL,
    currency           TEXT NOT NULL,
    currency_rate      TEXT,                              -- units per 1 EUR; NULL = unknown yet
    value_eur          TEXT,
    fee                TEXT,
    executed_at        INTEGER NOT NULL,
    source             TEXT NOT NULL,
    bucket_id          TEXT NOT NULL DEFAULT 'core',
    mode               TEXT NOT NULL CHECK (mode IN ('live', 'research')),
    created_at         INTEGER NOT NULL
);
CREATE INDEX trades_isin_time ON trades (isin, executed_at);
CREATE INDEX trades_time ON trades (executed_at);

-- Refused orders (by the safety pipeline) with their layer and code, for the operator.
CREATE TABLE order_rejections (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    at                 INTEGER NOT NULL,
    isin               TEXT NOT NULL,
    symbol             TEXT NOT NULL,
    side               TEXT NOT NULL,
    quantity           TEXT NOT NULL,
    source             TEXT NOT NULL,
    mode               TEXT NOT NULL,
    layer              TEXT NOT NULL,
    code               TEXT NOT NULL,
    message            TEXT NOT NULL
);
CREATE INDEX order_rejections_at ON order_rejections (at);
