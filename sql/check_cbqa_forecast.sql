-- Forecast rows that break the table's shape: a predicted accuracy outside [0, 1], or a
-- (planned size, relation) that appears more than once, or a planned size without its '*' mean.
SELECT planned_params, rel, predicted_accuracy, 'accuracy outside [0, 1]' AS problem
FROM cbqa_forecast
WHERE predicted_accuracy IS NULL OR predicted_accuracy < 0 OR predicted_accuracy > 1
UNION ALL
SELECT planned_params, rel, NULL, 'duplicated' AS problem
FROM cbqa_forecast
GROUP BY planned_params, rel
HAVING count(*) > 1
UNION ALL
SELECT planned_params, '*', NULL, 'no overall mean' AS problem
FROM cbqa_forecast
GROUP BY planned_params
HAVING count(*) FILTER (WHERE rel = '*') = 0
ORDER BY 1, 2;
