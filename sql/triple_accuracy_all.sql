-- Per-triple CBQA accuracy of every scored checkpoint, with its size: the training rows of
-- the size-conditioned forecaster.
SELECT s.checkpoint_id AS model, c.params, s.idx, avg(s.correct::DOUBLE) AS acc
FROM cbqa_scores AS s
JOIN checkpoints AS c USING (checkpoint_id)
WHERE s.decoding = $decoding
GROUP BY ALL
ORDER BY c.params, s.idx;
