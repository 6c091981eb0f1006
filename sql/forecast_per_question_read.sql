SELECT forecast_id, target, idx, rel, predicted_accuracy, acc_low, acc_high, N, N_s, N_o, N_so
FROM forecast_questions
WHERE forecast_id = $forecast_id AND target = $target
ORDER BY idx;
