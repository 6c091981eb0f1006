-- Triple ids that occur more than once.
SELECT idx, count(*) AS n_rows
FROM triples
GROUP BY idx
HAVING count(*) > 1
ORDER BY idx;
