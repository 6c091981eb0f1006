SELECT * EXCLUDE (created_at) FROM cbqa_forecast ORDER BY planned_params, planned_tokens, target, rel;
