-- Tokens per corpus shard (smi_assets.corpus.sources.ShardStats.tokens), one row per shard,
-- replaced when the shard is read again.
CREATE TABLE IF NOT EXISTS corpus_shard_tokens (
    shard VARCHAR PRIMARY KEY,
    documents BIGINT,
    tokens BIGINT
);
