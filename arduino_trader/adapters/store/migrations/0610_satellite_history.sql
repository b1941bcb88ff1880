-- Satellite history the actor keeps beside the ledger (high-water marks,
-- reconciliations, performance). Money is TEXT (exact Decimal); timestamps unix seconds (UTC).

-- Every reconciliation outcome per currency: the audit trail of auto-corrections
-- (their ledger row is the 'reconciliation' entry) and of reported or deferred gaps.
CREATE TABLE satellite_reconciliations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    status         TEXT NOT NULL
                   CHECK (status IN ('reconciled', 'corrected', 'gap_reported', 'deferred',
                                     'initialised')),
    virtual_total  TEXT NOT NULL,
    actual_total   TEXT NOT NULL,
    difference     TEXT NOT NULL,
    adjustment     TEXT NOT NULL DEFAULT '0',
    message        TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL
);
CREATE INDEX satellite_reconciliations_at ON satellite_reconciliations (created_at);

-- Daily bucket value (EUR) and its net external flow that day: the flow-adjusted value
-- series of the performance metrics and the win cooldown's trailing return.
CREATE TABLE bucket_value_history (
    bucket_id     TEXT NOT NULL REFERENCES buckets (id),
    day           TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    value_eur     TEXT NOT NULL,
    net_flow_eur  TEXT NOT NULL DEFAULT '0',
    PRIMARY KEY (bucket_id, day)
) WITHOUT ROWID;

-- Realised P&L of closed sells per bucket, once per trade (a replayed fill changes
-- nothing): the loss streak, re-awakening and the performance metrics read it.
CREATE TABLE bucket_trade_results (
    trade_key     TEXT PRIMARY KEY,
    bucket_id     TEXT NOT NULL REFERENCES buckets (id),
    symbol        TEXT NOT NULL,
    realized_pnl  TEXT NOT NULL,
    currency      TEXT NOT NULL,
    closed_at     INTEGER NOT NULL
);
CREATE INDEX bucket_trade_results_bucket ON bucket_trade_results (bucket_id, closed_at);

-- Which bucket's universe a security belongs to (a security's bucket_id, kept
-- beside the market-data table): a security without a row belongs to core.
CREATE TABLE security_buckets (
    isin        TEXT PRIMARY KEY REFERENCES securities (isin) ON DELETE CASCADE,
    bucket_id   TEXT NOT NULL REFERENCES buckets (id),
    updated_at  INTEGER NOT NULL
);
CREATE INDEX security_buckets_bucket ON security_buckets (bucket_id);

-- External records whose flow-adjusted high-water-mark shift is applied: once per
-- record, also when the cash-flow actor booked the record's ledger rows itself.
CREATE TABLE bucket_flow_marks (
    source_kind  TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (source_kind, source_id)
) WITHOUT ROWID;
