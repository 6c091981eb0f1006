SELECT * EXCLUDE (created_at) FROM knowledge_gaps ORDER BY planned_run, extra_cooccurrences NULLS LAST, idx;
