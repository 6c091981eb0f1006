"""Assets `shard_knowledge_counts` (per shard) and `knowledge_frequency` (their sum, published as a DuckDB table), with checks.

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
