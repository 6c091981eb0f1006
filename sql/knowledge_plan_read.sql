SELECT * EXCLUDE (created_at) FROM knowledge_plan;
