SELECT * EXCLUDE (created_at) FROM forecast_backtest ORDER BY params;
