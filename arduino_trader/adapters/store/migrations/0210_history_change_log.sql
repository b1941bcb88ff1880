-- A change log of the daily price history: one row per inserted, changed or deleted bar,
-- written by triggers, so readers that keep history in memory (the planner) re-read only
-- what changed since the last sequence number they saw, whoever wrote it.
CREATE TABLE history_change_log (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    isin  TEXT NOT NULL,
    day   TEXT NOT NULL
);

CREATE TRIGGER price_history_logged_insert AFTER INSERT ON price_history
BEGIN
    INSERT INTO history_change_log (isin, day) VALUES (NEW.isin, NEW.day);
END;

-- An upsert that rewrites a bar with the same values is not a change.
CREATE TRIGGER price_history_logged_update AFTER UPDATE ON price_history
WHEN OLD.close IS NOT NEW.close OR OLD.open IS NOT NEW.open OR OLD.high IS NOT NEW.high
     OR OLD.low IS NOT NEW.low OR OLD.adj_close IS NOT NEW.adj_close
     OR OLD.volume IS NOT NEW.volume OR OLD.day IS NOT NEW.day OR OLD.isin IS NOT NEW.isin
BEGIN
    INSERT INTO history_change_log (isin, day) VALUES (OLD.isin, OLD.day);
    INSERT INTO history_change_log (isin, day) SELECT NEW.isin, NEW.day
        WHERE NEW.isin IS NOT OLD.isin OR NEW.day IS NOT OLD.day;
END;

CREATE TRIGGER price_history_logged_delete AFTER DELETE ON price_history
BEGIN
    INSERT INTO history_change_log (isin, day) VALUES (OLD.isin, OLD.day);
END;
