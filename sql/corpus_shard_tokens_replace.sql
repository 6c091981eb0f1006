INSERT OR REPLACE INTO corpus_shard_tokens (shard, documents, tokens) VALUES ($shard, $documents, $tokens);
