-- The market regime, one row per day it was computed: the smoothed score (an EMA over the
-- previous day's row, so it must survive restarts), the day's raw score and the components
-- it came from, and the label under the cuts in force then.

CREATE TABLE market_regime (
    day              TEXT PRIMARY KEY,
    score            REAL NOT NULL,
    raw              REAL NOT NULL,
    label            TEXT NOT NULL,
    ret_component    REAL NOT NULL,
    vol_component    REAL NOT NULL,
    dd_component     REAL NOT NULL,
    bear_override    INTEGER NOT NULL,
    indices          TEXT NOT NULL,
    computed_at      INTEGER NOT NULL
);
