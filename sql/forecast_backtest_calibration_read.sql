SELECT * FROM forecast_backtest_calibration
WHERE forecast_id = $forecast_id AND checkpoint_id = $checkpoint_id AND checkpoint_version = $checkpoint_version
ORDER BY bin;
