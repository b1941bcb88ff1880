-- Buys deferred behind their funding exchange (actors/executor_deferred.py). The row is
-- written before the exchange is journaled, so no exchange is ever sent without the buy it
-- funds on record. It keeps what rebuilds the buy's SubmitOrder: the same intent under its
-- own intent key (the journal's intent-key dedup places it at most once). 'waiting': the
-- order follow-up resubmits it once its funding exchange is final; 'done': the buy was
-- submitted (its journal entry or refusal says the rest); 'ended': it will not be placed
-- (the funding ended unfilled, a layer refused it, the trading mode changed), see `note`.
-- Money and quantities are TEXT (Decimal); times are unix seconds.

CREATE TABLE deferred_buys (
    intent_key   TEXT PRIMARY KEY,
    isin         TEXT NOT NULL,
    symbol       TEXT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    quantity     TEXT NOT NULL,
    source       TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    bucket_id    TEXT NOT NULL DEFAULT 'core',
    mode         TEXT NOT NULL CHECK (mode IN ('live', 'research')),
    state        TEXT NOT NULL CHECK (state IN ('waiting', 'done', 'ended')),
    note         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX deferred_buys_waiting ON deferred_buys (mode, state);
