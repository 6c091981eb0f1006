-- Forecast rows that break the table's shape: a predicted accuracy outside [0, 1] or outside
-- its own interval, a (target, relation) that appears more than once, or a target without its
-- '*' mean.
SELECT target, rel, predicted_accuracy, 'accuracy outside [0, 1] or outside its interval' AS problem
FROM cbqa_forecast
WHERE predicted_accuracy IS NULL OR predicted_accuracy < 0 OR predicted_accuracy > 1
   OR predicted_accuracy < acc_low OR predicted_accuracy > acc_high
UNION ALL
SELECT target, rel, NULL, 'duplicated' AS problem
FROM cbqa_forecast
GROUP BY target, rel
HAVING count(*) > 1
UNION ALL
SELECT target, '*', NULL, 'no overall mean' AS problem
FROM cbqa_forecast
GROUP BY target
HAVING count(*) FILTER (WHERE rel = '*') = 0
ORDER BY 1, 2;
