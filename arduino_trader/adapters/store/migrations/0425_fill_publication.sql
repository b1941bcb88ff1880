-- One path for every fill of our own orders: whichever of the executor's follow-up and
-- the broker trade-history import stores it first, the row carries its order (order_row,
-- source, bucket) and waits in this outbox until TradeExecuted has been published.
-- published_at NULL = a fill of our own order whose event has not gone out yet.
ALTER TABLE trades ADD COLUMN published_at INTEGER;

-- Imports of earlier versions linked a fill to its order only when the order's broker id
-- was already known, and always stored it as source 'broker_sync' in bucket 'core'.
UPDATE trades SET order_row = (SELECT o.id FROM orders o WHERE o.mode = trades.mode
                               AND o.broker_order_id = trades.broker_order_id)
 WHERE order_row IS NULL AND broker_order_id IS NOT NULL AND source = 'broker_sync';

-- Everything else was published (or is not ours) already.
UPDATE trades SET published_at = created_at
 WHERE NOT (order_row IS NOT NULL AND source = 'broker_sync');

-- The imported fills of our orders get their order's source and bucket and are published
-- once (the consumers key what they book by the trade key: a replay books nothing).
UPDATE trades SET source = (SELECT o.source FROM orders o WHERE o.id = trades.order_row),
                  bucket_id = (SELECT o.bucket_id FROM orders o WHERE o.id = trades.order_row)
 WHERE order_row IS NOT NULL AND source = 'broker_sync';

CREATE INDEX trades_unpublished ON trades (mode, id) WHERE published_at IS NULL;
