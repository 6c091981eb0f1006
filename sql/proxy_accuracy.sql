-- Per-triple CBQA accuracy of every checkpoint the project trained itself (the proxies of a
-- forecast: trained on the corpus the forecast is for), with its size.
SELECT s.checkpoint_id AS model, c.params, s.idx, avg(s.correct::DOUBLE) AS acc
FROM cbqa_scores AS s
JOIN checkpoints AS c USING (checkpoint_id)
WHERE s.decoding = $decoding AND c.origin = 'trained'
GROUP BY ALL
ORDER BY c.params, s.idx;
