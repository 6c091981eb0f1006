-- The project's checkpoints as benchmark-table models ($1 = source name). FLOPs follow
-- the usual dense-transformer estimate 6 * params * tokens.
SELECT
    ?::VARCHAR AS source,
    checkpoint_id AS model,
    'smi-synthetic' AS family,
    params::DOUBLE AS params,
    tokens_seen::DOUBLE AS tokens,
    6.0 * params::DOUBLE * tokens_seen::DOUBLE AS flops
FROM checkpoints
ORDER BY checkpoint_id;
