SELECT * EXCLUDE (created_at) FROM forecast_backtest_results ORDER BY checkpoint_params, run_fraction_seen NULLS LAST, forecast_id;
