-- Mean CBQA accuracy per checkpoint and decade of co-occurrence count (N_so): the table that
-- shows whether accuracy rises with exposure and with model size.
WITH triple_accuracy AS (
    SELECT s.checkpoint_id, s.idx, avg(s.correct::DOUBLE) AS acc
    FROM cbqa_scores AS s
    WHERE s.decoding = $decoding
    GROUP BY ALL
)
SELECT a.checkpoint_id,
       CASE WHEN f.N_so = 0 THEN '0'
            ELSE printf('%d-%d', (10 ^ floor(log10(f.N_so)))::BIGINT, (10 ^ (floor(log10(f.N_so)) + 1))::BIGINT - 1)
       END AS n_so_range,
       min(f.N_so) AS n_so_min,
       count(*) AS triples,
       avg(a.acc) AS accuracy
FROM triple_accuracy AS a
JOIN knowledge_frequency AS f USING (idx)
GROUP BY ALL
ORDER BY a.checkpoint_id, n_so_min;
