-- Per-bucket planning: each bucket plans on its own; one run
-- stores core's plan row (parent_id NULL) and one row per planning satellite pointing to
-- it. Every recommendation names the bucket whose cash and positions it uses, and the
-- executor attributes the order to that bucket.

ALTER TABLE plans ADD COLUMN bucket_id TEXT NOT NULL DEFAULT 'core';
ALTER TABLE plans ADD COLUMN parent_id INTEGER REFERENCES plans (id);
CREATE INDEX plans_parent ON plans (parent_id);
ALTER TABLE recommendations ADD COLUMN bucket_id TEXT NOT NULL DEFAULT 'core';
