-- Per-triple CBQA accuracy of every checkpoint the project trained itself (the proxies of a
-- forecast: trained on the corpus the forecast is for; a ladder run's intermediate checkpoints
-- too), with its size and where it sits in its run: tokens trained on (NULL: unknown), run,
-- the run's planned tokens and the step.
SELECT s.checkpoint_id AS model, c.params, s.idx, avg(s.correct::DOUBLE) AS acc,
       c.tokens_seen AS tokens, c.run_id, c.run_tokens, c.step
FROM cbqa_scores AS s
JOIN checkpoints AS c USING (checkpoint_id)
WHERE s.decoding = $decoding AND c.origin = 'trained'
GROUP BY ALL
ORDER BY c.params, s.idx;
