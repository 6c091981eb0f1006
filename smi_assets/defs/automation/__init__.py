"""The sensors: `inputs_sensor` (input hashes, new shard and checkpoint partitions) and `smi_automation` (Dagster's declarative-automation sensor).

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
