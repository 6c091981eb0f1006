SELECT forecast_id, target, rel, predicted_accuracy, acc_low, acc_high, n_questions
FROM forecast_summary
WHERE forecast_id = $forecast_id AND target = $target
ORDER BY rel;
