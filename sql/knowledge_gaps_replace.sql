-- The latest knowledge-gap report, replaced whole: `new_gaps` and `new_plans` are Arrow tables
-- registered by the caller.
CREATE OR REPLACE TABLE knowledge_gaps AS SELECT *, now() AS created_at FROM new_gaps;
CREATE OR REPLACE TABLE knowledge_plan AS SELECT *, now() AS created_at FROM new_plans;
