-- Stored forecasts whose proxies are all smaller than a checkpoint of $params parameters
-- and that are not yet backtested against this checkpoint version: one row per
-- (forecast_id, planned size), the planned size nearest (in log2) to the checkpoint's.
WITH sizes AS (
    SELECT DISTINCT forecast_id, planned_params, largest_proxy_params
    FROM forecast_per_question
    WHERE largest_proxy_params < $params
), nearest AS (
    SELECT forecast_id, arg_min(planned_params, abs(log2(planned_params) - log2($params))) AS planned_params
    FROM sizes GROUP BY forecast_id
)
SELECT nearest.forecast_id, nearest.planned_params
FROM nearest
WHERE NOT EXISTS (
    SELECT 1 FROM forecast_backtest_results AS done
    WHERE done.forecast_id = nearest.forecast_id AND done.checkpoint_id = $checkpoint_id
      AND done.checkpoint_version = $checkpoint_version
)
ORDER BY nearest.forecast_id;
