-- `new_forecast_rows` is a polars frame registered by the caller. A forecast_id already
-- stored keeps its rows and its created_at: a rerun inserts nothing.
INSERT OR IGNORE INTO forecast_runs VALUES ($forecast_id, $lineage, now());
INSERT OR IGNORE INTO forecast_per_question
SELECT forecast_id, planned_params, idx, rel, predicted_accuracy, proxies, largest_proxy_params, N, N_s, N_o, N_so
FROM new_forecast_rows;
