-- `new_backtest` (one row) and `new_calibration` are Arrow tables registered by the caller:
-- a backtest already stored for the key is kept as it is.
INSERT OR IGNORE INTO forecast_backtest_results BY NAME SELECT *, now() AS created_at FROM new_backtest;
INSERT OR IGNORE INTO forecast_backtest_calibration BY NAME SELECT * FROM new_calibration;
