-- Synthetic CBQA accuracy of the project's checkpoints ($1 = source, $2 = benchmark prefix);
-- one benchmark per decoding, e.g. synthetic_cbqa_greedy.
SELECT
    ?::VARCHAR AS source,
    checkpoint_id AS model,
    ?::VARCHAR || '_' || decoding AS benchmark,
    mean_accuracy::DOUBLE AS score
FROM cbqa_checkpoint_accuracy
WHERE mean_accuracy IS NOT NULL
ORDER BY checkpoint_id, decoding;
