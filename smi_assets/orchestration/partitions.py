"""Dynamic partitions: corpus shards and checkpoints, and what the configured inputs say they are.

Shards and checkpoints appear while the project lives (a new corpus file, a model dropped
into the watched folder, an intermediate checkpoint a ladder run leaves while it trains:
``<run>.step<NNNNNN>``), so both are dynamic. A partition key names a file or folder inside
the data directory, so it must be a plain name: `validate_partition_key`
(`smi_assets.common.storage`) refuses anything with a path separator or a leading dot
(``..``, hidden files).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from smi_assets.checkpoints.runs import INTERMEDIATE_FOLDER, intermediate_key
from smi_assets.common.storage import PLAIN_NAME, validate_partition_key
from smi_assets.corpus import sources, world

if TYPE_CHECKING:
    from smi_assets.orchestration.resources import InputsResource, ModelingResource, StorageResource

corpus_shards = dg.DynamicPartitionsDefinition(name="corpus_shards")
checkpoint_partitions = dg.DynamicPartitionsDefinition(name="checkpoints")


def world_config(inputs: InputsResource) -> world.WorldConfig:
    return world.WorldConfig(seed=inputs.world_seed, n_people=inputs.world_people, n_shards=inputs.world_shards)


def expected_shards(inputs: InputsResource) -> dict[str, str]:
    """Shard partition key -> where its documents come from (a file, a saved dataset, or the world)."""
    if inputs.corpus_source == "synthetic":
        shards = {name: name for name in world.build_world(world_config(inputs)).shard_names}
    elif inputs.corpus_source == "files":
        shards = {name: str(path) for name, path in sources.corpus_shards(inputs.corpus_glob).items()}
    else:
        shards = {"saved-dataset": inputs.saved_dataset_path}
    for key in shards:
        validate_partition_key(key)
    return shards


def incoming_checkpoint_folders(storage: StorageResource) -> dict[str, Path]:
    """Partition key -> folder, for every HF checkpoint folder (one with config.json) dropped in."""
    root = storage.incoming_checkpoints_dir
    if not root.is_dir():
        return {}
    return {
        folder.name: folder
        for folder in sorted(root.iterdir())
        if (folder / "config.json").is_file() and PLAIN_NAME.fullmatch(folder.name) and ".." not in folder.name
    }


def intermediate_checkpoint_folders(storage: StorageResource, modeling: ModelingResource) -> dict[str, Path]:
    """Partition key ``<run>.step<NNNNNN>`` -> folder, for every intermediate checkpoint a ladder
    run left (`training.train` renames each into place whole: one that exists is complete)."""
    # Imported here: training.train loads torch, which the sensor's other work does not need.
    from training.train import INTERMEDIATE_DIR

    folders = {}
    for run in modeling.ladder_configs():
        parent = storage.checkpoint_dir(run) / INTERMEDIATE_DIR
        for folder in sorted(parent.iterdir()) if parent.is_dir() else []:
            if folder.is_dir() and INTERMEDIATE_FOLDER.fullmatch(folder.name):
                folders[validate_partition_key(intermediate_key(run, folder.name))] = folder
    return folders


def expected_checkpoints(storage: StorageResource, modeling: ModelingResource) -> list[str]:
    """The ladder's checkpoints, their runs' intermediate checkpoints, then every checkpoint folder
    dropped into the watched folder."""
    ladder = [*modeling.ladder_configs(), *intermediate_checkpoint_folders(storage, modeling)]
    return [*ladder, *(name for name in incoming_checkpoint_folders(storage) if name not in set(ladder))]


def register_missing(instance: dg.DagsterInstance, partitions: dg.DynamicPartitionsDefinition, keys: list[str]) -> list[str]:
    """Add the partition keys the instance does not know yet; return those added."""
    known = set(instance.get_dynamic_partitions(partitions.name))
    missing = [key for key in keys if key not in known]
    if missing:
        instance.add_dynamic_partitions(partitions.name, missing)
    return missing
