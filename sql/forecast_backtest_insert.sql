-- `new_backtest` (one row) and `new_calibration` are polars frames registered by the caller;
-- a backtest already stored for the key is kept as it is.
INSERT OR IGNORE INTO forecast_backtest_results
SELECT forecast_id, checkpoint_id, checkpoint_version, planned_params, checkpoint_params, n_questions, mean_predicted,
       mean_actual, mean_error, abs_error, relation_mae, r2_question, brier, auc, now()
FROM new_backtest;
INSERT OR IGNORE INTO forecast_backtest_calibration
SELECT forecast_id, checkpoint_id, checkpoint_version, bin, bin_low, bin_high, n_questions, mean_predicted, mean_actual
FROM new_calibration;
