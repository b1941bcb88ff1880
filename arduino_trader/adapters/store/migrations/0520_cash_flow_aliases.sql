-- A broker record first seen without an id (stored under its content key) and later with
-- one (or with its id spelled differently, 77.0 then 77): the later key is an alias of
-- the stored row, so the record is booked once. One alias per stored row.
CREATE TABLE cash_flow_aliases (
    alias_key   TEXT PRIMARY KEY,
    stored_key  TEXT NOT NULL UNIQUE REFERENCES cash_flows (transaction_id),
    created_at  INTEGER NOT NULL
);
