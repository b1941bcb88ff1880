-- Which securities' broker trade history the ledger holds. A row (mode, isin) is written
-- in the transaction that stores a full-window broker trade import (a year back) made
-- while the security was in the universe: from then on, a held security without a trade
-- in `trades` was bought before that window, so its hold time is known to be long. A held
-- security without a row has an unknown hold time (its buys may not be imported yet): the
-- planner waits for it and the executor refuses to sell it (adapters/store/
-- trade_history_coverage.py). Times are unix seconds.

CREATE TABLE trade_history_coverage (
    mode        TEXT NOT NULL CHECK (mode IN ('live', 'research')),
    isin        TEXT NOT NULL,
    covered_at  INTEGER NOT NULL,
    PRIMARY KEY (mode, isin)
) WITHOUT ROWID;
