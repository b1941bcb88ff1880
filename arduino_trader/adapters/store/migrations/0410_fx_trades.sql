-- The FX ledger: fills of currency-exchange orders (domain/fx_exchange.py). The orders
-- themselves are ordinary journal entries in `orders` (ISIN column `FX:<pair symbol>`),
-- so they get the same client id, follow-up and reconciliation; their fills land here,
-- not in `trades`, because an exchange is no position. Money is TEXT (Decimal); amounts
-- are the signed cash changes before the fee.

CREATE TABLE fx_trades (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    trade_key          TEXT NOT NULL UNIQUE,             -- '<mode>:<broker trade id>'
    order_row          INTEGER NOT NULL REFERENCES orders (id),
    broker_order_id    INTEGER,
    symbol             TEXT NOT NULL,
    side               TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity           TEXT NOT NULL,                    -- base units
    price              TEXT NOT NULL,                    -- quote units per base unit
    base_currency      TEXT NOT NULL,
    base_amount        TEXT NOT NULL,
    quote_currency     TEXT NOT NULL,
    quote_amount       TEXT NOT NULL,
    fee                TEXT,
    executed_at        INTEGER NOT NULL,
    source             TEXT NOT NULL,
    bucket_id          TEXT NOT NULL DEFAULT 'core',
    mode               TEXT NOT NULL CHECK (mode IN ('live', 'research')),
    created_at         INTEGER NOT NULL
);
CREATE INDEX fx_trades_time ON fx_trades (executed_at);
