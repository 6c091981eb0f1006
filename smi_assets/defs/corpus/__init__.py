"""The observed `corpus_file` source and the `corpus_documents` asset, one partition per shard.

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
