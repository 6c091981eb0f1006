-- Tokens of the whole corpus: the sum over its registered shards (NULL when none is).
SELECT sum(tokens) FROM corpus_shard_tokens;
