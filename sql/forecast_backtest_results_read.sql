SELECT * EXCLUDE (created_at) FROM forecast_backtest_results ORDER BY checkpoint_params, forecast_id;
