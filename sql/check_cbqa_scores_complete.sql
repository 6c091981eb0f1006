-- Questions of one checkpoint and decoding whose scores are missing, duplicated or orphaned:
-- every (idx, template_id) of `questions` must have exactly $samples distinct samples.
WITH scored AS (
    SELECT idx, template_id, count(*) AS n_rows, count(DISTINCT sample) AS n_samples
    FROM cbqa_scores
    WHERE checkpoint_id = $checkpoint_id AND decoding = $decoding
    GROUP BY idx, template_id
)
SELECT q.idx, q.template_id, coalesce(s.n_rows, 0) AS n_rows, 'missing or duplicated' AS problem
FROM questions AS q
LEFT JOIN scored AS s USING (idx, template_id)
WHERE coalesce(s.n_rows, 0) <> $samples OR coalesce(s.n_samples, 0) <> $samples
UNION ALL
SELECT s.idx, s.template_id, s.n_rows, 'no such question' AS problem
FROM scored AS s
ANTI JOIN questions AS q USING (idx, template_id)
ORDER BY 1, 2;
