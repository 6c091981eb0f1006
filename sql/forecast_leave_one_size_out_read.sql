SELECT * EXCLUDE (created_at) FROM forecast_leave_one_size_out ORDER BY params;
