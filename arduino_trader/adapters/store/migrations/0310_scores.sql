-- Security scores: one row per security with the
-- total, every group score as its own column, quality = mean(long_term, fundamentals),
-- and the components (breakdown_json) so each score can be explained. Written by the
-- score_universe job (no portfolio context: diversification neutral) and by every plan
-- (with the account's context); `source` says which.

CREATE TABLE scores (
    isin                   TEXT PRIMARY KEY,
    symbol                 TEXT NOT NULL,
    total_score            REAL NOT NULL,
    quality_score          REAL,
    long_term_score        REAL,
    fundamentals_score     REAL,
    opportunity_score      REAL,
    dividends_score        REAL,
    short_term_score       REAL,
    technicals_score       REAL,
    opinion_score          REAL,
    diversification_score  REAL,
    volatility             REAL,
    breakdown_json         TEXT NOT NULL,
    source                 TEXT NOT NULL,
    calculated_at          INTEGER NOT NULL
);
CREATE INDEX scores_total ON scores (total_score);
