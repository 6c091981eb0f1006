-- Has this checkpoint version judged the forecast already?
SELECT count(*) > 0 FROM forecast_backtest_results
WHERE forecast_id = $forecast_id AND checkpoint_id = $checkpoint_id AND checkpoint_version = $checkpoint_version;
