"""Dynamic partitions: corpus shards and checkpoints.

Shards and checkpoints appear while the project lives (a new corpus file, a model dropped
into the watched folder), so both are dynamic. `expected_shards` says which shards the
configured corpus has; sensors and `smi run-default` register the missing ones.
"""

from __future__ import annotations

import dagster as dg

from smi_assets.corpus import sources, world
from smi_assets.defs.resources import ProjectSettings

corpus_shards = dg.DynamicPartitionsDefinition(name="corpus_shards")
checkpoint_partitions = dg.DynamicPartitionsDefinition(name="checkpoints")


def world_config(settings: ProjectSettings) -> world.WorldConfig:
    return world.WorldConfig(seed=settings.world_seed, n_people=settings.world_people, n_shards=settings.world_shards)


def expected_shards(settings: ProjectSettings) -> dict[str, str]:
    """Shard partition key -> where its documents come from (a path, or the world shard)."""
    if settings.corpus_source == "synthetic":
        return {name: name for name in world.build_world(world_config(settings)).shard_names}
    if settings.corpus_source == "files":
        return {name: str(path) for name, path in sources.corpus_shards(settings.corpus_glob).items()}
    return {"saved-dataset": settings.saved_dataset_path}


def register_missing(instance: dg.DagsterInstance, partitions: dg.DynamicPartitionsDefinition, keys: list[str]) -> list[str]:
    """Add the partition keys the instance does not know yet; return those added."""
    known = set(instance.get_dynamic_partitions(partitions.name))
    missing = [key for key in keys if key not in known]
    if missing:
        instance.add_dynamic_partitions(partitions.name, missing)
    return missing
