SELECT forecast_id, target, planned_params, planned_tokens, run_id, run_fraction_seen, proxies, largest_proxy_params, reach
FROM forecast_targets
ORDER BY forecast_id, planned_params, target;
