-- Cash flows, dividends/DRIP, emergency runs and allocation groups/targets.
-- Money columns are TEXT holding exact Decimals (protocols/money.py decimal_to_str).
-- Bucket ledger rows (bucket_transactions) belong to the satellites migration (0600);
-- they are keyed by (source_kind='cash_flow', source_id=cash_flows.transaction_id).

-- Every broker cash movement, once. transaction_id is the stable key built by
-- domain/cash_flows/keys.py: it never contains a mutable field (status), so a re-sync
-- hits ON CONFLICT(transaction_id) DO NOTHING and a status change is an UPDATE.
CREATE TABLE cash_flows (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id    TEXT NOT NULL UNIQUE,
    source            TEXT NOT NULL
                      CHECK (source IN ('cps', 'corporate_action', 'trade', 'user_cash_flow')),
    type_doc_id       TEXT NOT NULL,
    transaction_type  TEXT NOT NULL,
    kind              TEXT NOT NULL,
    date              TEXT NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    amount            TEXT NOT NULL,            -- signed: inflow > 0, outflow < 0
    currency          TEXT NOT NULL CHECK (length(currency) = 3),
    amount_eur        TEXT NOT NULL,            -- broker EUR value or FX at the record date
    status            TEXT NOT NULL,
    status_c          INTEGER,
    description       TEXT NOT NULL DEFAULT '',
    symbol            TEXT NOT NULL DEFAULT '',
    isin              TEXT NOT NULL DEFAULT '',
    related_id        TEXT NOT NULL DEFAULT '',
    stable_id         INTEGER NOT NULL DEFAULT 1 CHECK (stable_id IN (0, 1)),
    params_json       TEXT NOT NULL DEFAULT '{}',   -- never exposed by the API
    created_at        INTEGER NOT NULL,             -- unix seconds
    updated_at        INTEGER,
    processed_at      INTEGER                       -- effects applied (same transaction)
);
CREATE INDEX cash_flows_date ON cash_flows (date);
CREATE INDEX cash_flows_type ON cash_flows (transaction_type);
CREATE INDEX cash_flows_unprocessed ON cash_flows (id) WHERE processed_at IS NULL;

-- Append-only: no deletes, the money facts of a row never change, effects apply once.
CREATE TRIGGER cash_flows_no_delete BEFORE DELETE ON cash_flows
BEGIN
    SELECT RAISE(ABORT, 'cash_flows is append-only');
END;
CREATE TRIGGER cash_flows_immutable BEFORE UPDATE ON cash_flows
WHEN NEW.transaction_id IS NOT OLD.transaction_id OR NEW.source IS NOT OLD.source
  OR NEW.kind IS NOT OLD.kind OR NEW.date IS NOT OLD.date OR NEW.amount IS NOT OLD.amount
  OR NEW.currency IS NOT OLD.currency OR NEW.amount_eur IS NOT OLD.amount_eur
BEGIN
    SELECT RAISE(ABORT, 'cash_flows money facts are immutable');
END;
CREATE TRIGGER cash_flows_processed_once BEFORE UPDATE OF processed_at ON cash_flows
WHEN OLD.processed_at IS NOT NULL AND NEW.processed_at IS NOT OLD.processed_at
BEGIN
    SELECT RAISE(ABORT, 'cash flow effects were already applied');
END;

-- One row per dividend/coupon cash flow (UNIQUE cash_flow_id), or a manual entry (NULL).
CREATE TABLE dividend_history (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol               TEXT NOT NULL,
    isin                 TEXT NOT NULL DEFAULT '',
    cash_flow_id         TEXT UNIQUE REFERENCES cash_flows (transaction_id),
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
    created_at           INTEGER NOT NULL
);
CREATE INDEX dividend_history_symbol ON dividend_history (symbol);
CREATE INDEX dividend_history_isin ON dividend_history (isin);
CREATE INDEX dividend_history_payment_date ON dividend_history (payment_date);
CREATE INDEX dividend_history_pending ON dividend_history (symbol)
    WHERE pending_cash_eur <> '0' AND bonus_cleared = 0;
CREATE INDEX dividend_history_unreinvested ON dividend_history (payment_date, id)
    WHERE reinvested = 0;

-- DRIP ledger: euros of a dividend consumed by one confirmed fill. UNIQUE(dividend, fill)
-- makes a replayed fill a no-op, so a dividend's euros are spent at most once.
CREATE TABLE dividend_allocations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    dividend_id      INTEGER NOT NULL REFERENCES dividend_history (id),
    fill_key         TEXT NOT NULL,              -- broker trade id of the fill
    client_order_id  TEXT,
    symbol           TEXT NOT NULL,
    quantity         TEXT NOT NULL,
    amount_eur       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    UNIQUE (dividend_id, fill_key)
);
CREATE INDEX dividend_allocations_fill ON dividend_allocations (fill_key);

-- Emergency rebalancing runs: what was found, planned and done. The partial unique
-- index admits one running run at a time (a run never overlaps another).
CREATE TABLE emergency_runs (
    run_id                   TEXT PRIMARY KEY,
    started_at               INTEGER NOT NULL,
    finished_at              INTEGER,
    mode                     TEXT NOT NULL CHECK (mode IN ('research', 'live')),
    trigger                  TEXT NOT NULL DEFAULT 'sync',
    outcome                  TEXT NOT NULL DEFAULT 'running'
                             CHECK (outcome IN ('running', 'no_shortfall', 'resolved',
                                                'unresolved', 'failed')),
    initial_shortfalls_json  TEXT NOT NULL DEFAULT '{}',
    final_shortfalls_json    TEXT NOT NULL DEFAULT '{}',
    actions_json             TEXT NOT NULL DEFAULT '[]',
    notes                    TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX emergency_runs_one_running ON emergency_runs (outcome)
    WHERE outcome = 'running';
CREATE INDEX emergency_runs_started ON emergency_runs (started_at DESC);

-- Allocation: country/industry groups and their targets (fractions in [0, 1],
-- exact TEXT). Setting a group replaces its members in one transaction; an empty group
-- is one '__EMPTY__' member (hidden on read). A target needs an existing group; deleting
-- a group deletes its target in the same transaction (done by the repository, since a
-- member replace also empties the group for a moment).
CREATE TABLE country_groups (
    group_name    TEXT NOT NULL CHECK (length(trim(group_name)) > 0),
    country_name  TEXT NOT NULL CHECK (length(trim(country_name)) > 0),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (group_name, country_name)
) WITHOUT ROWID;

CREATE TABLE industry_groups (
    group_name     TEXT NOT NULL CHECK (length(trim(group_name)) > 0),
    industry_name  TEXT NOT NULL CHECK (length(trim(industry_name)) > 0),
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (group_name, industry_name)
) WITHOUT ROWID;

CREATE TABLE allocation_targets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    type        TEXT NOT NULL CHECK (type IN ('country_group', 'industry_group')),
    name        TEXT NOT NULL CHECK (length(trim(name)) > 0),
    target_pct  TEXT NOT NULL CHECK (CAST(target_pct AS REAL) BETWEEN 0 AND 1),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (type, name)
);
CREATE TRIGGER allocation_targets_need_group BEFORE INSERT ON allocation_targets
WHEN (NEW.type = 'country_group'
      AND NOT EXISTS (SELECT 1 FROM country_groups WHERE group_name = NEW.name))
  OR (NEW.type = 'industry_group'
      AND NOT EXISTS (SELECT 1 FROM industry_groups WHERE group_name = NEW.name))
BEGIN
    SELECT RAISE(ABORT, 'allocation target for an unknown group');
END;
