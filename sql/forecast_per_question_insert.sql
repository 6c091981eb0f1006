-- `new_targets`, `new_questions` and `new_summary` are Arrow tables registered by the caller. A
-- forecast_id already stored keeps its rows and its created_at: a rerun inserts nothing.
INSERT OR IGNORE INTO forecast_runs VALUES ($forecast_id, $lineage, now());
INSERT OR IGNORE INTO forecast_targets BY NAME SELECT * FROM new_targets;
INSERT OR IGNORE INTO forecast_questions BY NAME SELECT * FROM new_questions;
INSERT OR IGNORE INTO forecast_summary BY NAME SELECT * FROM new_summary;
