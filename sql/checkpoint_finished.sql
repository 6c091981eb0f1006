-- Checkpoints at the end of their run (or of unknown run): those that can judge a forecast.
-- An intermediate checkpoint is not a finished model of its size.
SELECT checkpoint_id, run_id, params, tokens_seen AS tokens, data_version
FROM checkpoints
WHERE run_tokens IS NULL OR tokens_seen IS NULL OR tokens_seen >= run_tokens
ORDER BY params, tokens_seen, checkpoint_id;
