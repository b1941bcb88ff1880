-- Old plan runs are pruned daily (plan_repo.prune_history): deleting a plan checks that
-- no recommendation names it, which without this index scans every recommendation.
CREATE INDEX recommendations_plan ON recommendations (plan_id);
