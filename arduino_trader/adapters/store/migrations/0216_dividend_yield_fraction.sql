-- yfinance 1.x serves Yahoo's dividendYield as a percent (0.4 for 0.4 %), which the
-- adapter used to store as if it were a fraction; it now stores a fraction. A figure
-- stored before cannot be told apart: it is dropped, and those securities are due for a
-- data sync (the startup sync refetches them).
UPDATE securities SET last_synced = NULL
WHERE isin IN (SELECT isin FROM security_data WHERE kind = 'fundamentals'
               AND json_extract(data, '$.values.dividendYield') IS NOT NULL);

UPDATE security_data SET data = json_remove(data, '$.values.dividendYield')
WHERE kind = 'fundamentals' AND json_extract(data, '$.values.dividendYield') IS NOT NULL;
