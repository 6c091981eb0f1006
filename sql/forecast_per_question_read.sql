SELECT forecast_id, planned_params, idx, rel, predicted_accuracy, proxies, largest_proxy_params, N, N_s, N_o, N_so
FROM forecast_per_question
WHERE forecast_id = $forecast_id
ORDER BY planned_params, idx;
