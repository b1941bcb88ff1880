-- migration: rebuilds tables
-- A dividend of a security held by several buckets is split over them: one
-- dividend_history row per (cash flow, bucket) instead of one per cash flow. SQLite
-- cannot drop the column's UNIQUE, so the table is rebuilt with the same ids (the DRIP
-- allocations refer to them) and the same AUTOINCREMENT sequence.
CREATE TABLE dividend_history_new (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol               TEXT NOT NULL,
    isin                 TEXT NOT NULL DEFAULT '',
    cash_flow_id         TEXT REFERENCES cash_flows (transaction_id),
    bucket_id            TEXT NOT NULL DEFAULT 'core',
    amount               TEXT NOT NULL,
    currency             TEXT NOT NULL CHECK (length(currency) = 3),
    amount_eur           TEXT NOT NULL,
    payment_date         TEXT NOT NULL,
    allocated_eur        TEXT NOT NULL DEFAULT '0',  -- euros consumed by confirmed fills
    reinvested           INTEGER NOT NULL DEFAULT 0 CHECK (reinvested IN (0, 1)),
    reinvested_at        INTEGER,
    reinvested_quantity  TEXT,
    pending_cash_eur     TEXT NOT NULL DEFAULT '0',  -- DRIP bonus source
    bonus_cleared        INTEGER NOT NULL DEFAULT 0 CHECK (bonus_cleared IN (0, 1)),
    cleared_at           INTEGER,
    created_at           INTEGER NOT NULL,
    UNIQUE (cash_flow_id, bucket_id)
);

INSERT INTO dividend_history_new (id, symbol, isin, cash_flow_id, bucket_id, amount,
    currency, amount_eur, payment_date, allocated_eur, reinvested, reinvested_at,
    reinvested_quantity, pending_cash_eur, bonus_cleared, cleared_at, created_at)
SELECT id, symbol, isin, cash_flow_id, bucket_id, amount, currency, amount_eur,
    payment_date, allocated_eur, reinvested, reinvested_at, reinvested_quantity,
    pending_cash_eur, bonus_cleared, cleared_at, created_at
FROM dividend_history ORDER BY id;

INSERT INTO sqlite_sequence (name, seq)
SELECT 'dividend_history_new', 0
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'dividend_history_new');
UPDATE sqlite_sequence
SET seq = max(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'dividend_history'), 0))
WHERE name = 'dividend_history_new';

DROP TABLE dividend_history;
ALTER TABLE dividend_history_new RENAME TO dividend_history;

CREATE INDEX dividend_history_symbol ON dividend_history (symbol);
CREATE INDEX dividend_history_isin ON dividend_history (isin);
CREATE INDEX dividend_history_payment_date ON dividend_history (payment_date);
CREATE INDEX dividend_history_pending ON dividend_history (symbol)
    WHERE pending_cash_eur <> '0' AND bonus_cleared = 0;
CREATE INDEX dividend_history_unreinvested ON dividend_history (payment_date, id)
    WHERE reinvested = 0;
