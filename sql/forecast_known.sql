SELECT count(*) > 0 FROM forecast_runs WHERE forecast_id = $forecast_id;
