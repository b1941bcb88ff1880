-- Yahoo quotes London, Johannesburg and Tel Aviv listings in minor units (GBp/GBX pence,
-- ZAc cents, ILA agorot); the Yahoo adapter now hands out pounds, rand and shekels.
-- Prices stored earlier in minor units are recognised by their latest quote's currency
-- code (stored as Yahoo sent it) and converted once, with that quote and the
-- securities' currency code (which had been upper-cased: GBX, ZAC, ILA).
UPDATE price_history
SET open = open / 100.0, high = high / 100.0, low = low / 100.0, close = close / 100.0,
    adj_close = adj_close / 100.0
WHERE source LIKE 'yfinance%'
  AND isin IN (SELECT isin FROM latest_prices
               WHERE currency IN ('GBp', 'GBX', 'GBx', 'ZAc', 'ZAC', 'ILA', 'ILa'));

UPDATE securities
SET currency = CASE currency WHEN 'GBX' THEN 'GBP' WHEN 'ZAC' THEN 'ZAR' ELSE 'ILS' END
WHERE source = 'yfinance' AND currency IN ('GBX', 'ZAC', 'ILA');

UPDATE latest_prices
SET price = price / 100.0,
    currency = CASE WHEN currency IN ('GBp', 'GBX', 'GBx') THEN 'GBP'
                    WHEN currency IN ('ZAc', 'ZAC') THEN 'ZAR' ELSE 'ILS' END
WHERE currency IN ('GBp', 'GBX', 'GBx', 'ZAc', 'ZAC', 'ILA', 'ILa');
