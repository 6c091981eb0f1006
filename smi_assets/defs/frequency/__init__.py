"""Assets `shard_knowledge_counts` (per shard) and `knowledge_frequency` (their sum in DuckDB), with checks.

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
