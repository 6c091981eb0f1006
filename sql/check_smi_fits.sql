-- Fits of one checkpoint that are missing or malformed: exactly one row per method
-- (CO-OCCUR, MI, SMI), R^2 at most 1, finite slope and intercept.
WITH expected(method) AS (VALUES ('CO-OCCUR'), ('MI'), ('SMI')),
fits AS (SELECT * FROM smi_fits WHERE checkpoint_id = $checkpoint_id AND decoding = $decoding)
SELECT e.method, count(f.method) AS n_rows, 'missing or duplicated' AS problem
FROM expected AS e
LEFT JOIN fits AS f USING (method)
GROUP BY e.method
HAVING count(f.method) <> 1
UNION ALL
SELECT method, 1, 'r2 above 1 or coefficients not finite' AS problem
FROM fits
WHERE (r2 > 1 + 1e-9 AND NOT isnan(r2)) OR NOT isfinite(slope) OR NOT isfinite(intercept)
ORDER BY 1;
