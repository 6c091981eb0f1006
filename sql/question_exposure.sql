-- Expected exposure of each triple in each checkpoint: its co-occurrence count N_so times the
-- share of the corpus the checkpoint was trained on, tokens_seen / corpus tokens (above 1 after
-- more than one epoch). NULL where the checkpoint's tokens or the corpus' are unknown.
WITH corpus AS (SELECT sum(tokens) AS corpus_tokens FROM corpus_shard_tokens)
SELECT c.checkpoint_id, f.idx, f.N_so, c.tokens_seen, corpus.corpus_tokens,
       f.N_so * c.tokens_seen::DOUBLE / corpus.corpus_tokens AS expected_exposure
FROM checkpoints AS c
CROSS JOIN knowledge_frequency AS f
CROSS JOIN corpus
ORDER BY c.checkpoint_id, f.idx;
