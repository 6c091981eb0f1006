DELETE FROM corpus_shard_tokens WHERE shard = $shard;
