-- Per-triple CBQA accuracy of one checkpoint (share of correct generations over templates
-- and samples), joined with the triple's corpus counts.
SELECT f.idx, f.rel, f.N, f.N_s, f.N_o, f.N_so, avg(s.correct::DOUBLE) AS acc, count(*) AS n_generations
FROM cbqa_scores AS s
JOIN knowledge_frequency AS f USING (idx)
WHERE s.checkpoint_id = $checkpoint_id AND s.decoding = $decoding
GROUP BY ALL
ORDER BY f.idx;
