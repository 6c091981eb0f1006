"""Observing the input files: their content hash is the data version of an external asset.

The corpus files (one `corpus_file` partition per shard), the triples file, the templates
file, the reference tables folder and what each checkpoint is registered from
(`checkpoint_source`, per checkpoint partition) are assets the pipeline does not make.
`observe_and_register` hashes what the settings point at and records an `AssetObservation`
for each input whose hash differs from the latest one the instance recorded, so Dagster sees
exactly which inputs changed, and declarative automation rematerializes only their
dependents. The synthetic world has no files: its inputs are versioned by the world's
settings (its templates can come from a file, `SMI_TEMPLATES_PATH`).

Hashing a large corpus on every sensor tick would be wasteful, so hashes are cached by
(path, size, mtime): a file is re-read only when one of them changes.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from smi_assets.checkpoints.runs import SIDECAR_FILE
from smi_assets.common.storage import file_sha256
from smi_assets.orchestration.partitions import (
    checkpoint_partitions,
    corpus_shards,
    expected_checkpoints,
    expected_shards,
    incoming_checkpoint_folders,
    intermediate_checkpoint_folders,
    register_missing,
    world_config,
)
from smi_assets.orchestration.resources import InputsResource, ModelingResource, StorageResource

CORPUS_FILE = dg.AssetKey("corpus_file")
TRIPLES_FILE = dg.AssetKey("triples_file")
TEMPLATES_FILE = dg.AssetKey("templates_file")
REFERENCE_TABLES = dg.AssetKey("reference_tables")
CHECKPOINT_SOURCE = dg.AssetKey("checkpoint_source")


def observable_input(**kwargs) -> Callable:
    """`dg.observable_source_asset`: Dagster's model of an input it does not make, which the
    automation sees change when a new data version is observed. Dagster labels the decorator
    beta; that label would print on every load and says nothing about this use."""

    def decorate(function: Callable) -> dg.SourceAsset:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.observable_source_asset(**kwargs)(function)

    return decorate


@dataclass
class HashCache:
    """path -> [size, mtime_ns, sha256 prefix]; kept in the observing sensor's cursor."""

    entries: dict[str, list] = field(default_factory=dict)

    def digest(self, path: Path) -> str:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        digest = hashlib.sha256()
        for file in files:
            stat = file.stat()
            cached = self.entries.get(str(file))
            if cached is None or cached[:2] != [stat.st_size, stat.st_mtime_ns]:
                cached = [stat.st_size, stat.st_mtime_ns, file_sha256(file)[:16]]
                self.entries[str(file)] = cached
            digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:{cached[2]}".encode())
        return digest.hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(self.entries, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> HashCache:
        return cls(json.loads(text) if text else {})


def _settings_version(*values: object) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class InputVersion:
    key: dg.AssetKey
    partition: str | None
    version: str
    source: str


def input_versions(inputs: InputsResource, cache: HashCache) -> list[InputVersion]:
    """The current data version of every input the settings point at (an absent reference
    folder has none: it stays unobserved, so what reads it is never automated)."""
    reference = Path(inputs.reference_dir)
    versions = [InputVersion(REFERENCE_TABLES, None, cache.digest(reference), str(reference))] if reference.is_dir() else []
    return versions + _corpus_and_knowledge_versions(inputs, cache)


def _corpus_and_knowledge_versions(inputs: InputsResource, cache: HashCache) -> list[InputVersion]:
    if inputs.corpus_source == "synthetic":
        world = world_config(inputs)
        versions = [InputVersion(TRIPLES_FILE, None, _settings_version("world-triples", world), "synthetic world")]
        if inputs.templates_path:  # the world's facts, asked with the user's templates
            versions += _file_versions(inputs, cache, [(TEMPLATES_FILE, "templates_path")])
        else:
            versions.append(InputVersion(TEMPLATES_FILE, None, _settings_version("world-templates", world), "synthetic world"))
        return versions + [
            InputVersion(CORPUS_FILE, shard, _settings_version("world-shard", world, shard), f"synthetic world {shard}") for shard in expected_shards(inputs)
        ]
    versions = _file_versions(inputs, cache, [(TRIPLES_FILE, "triples_path"), (TEMPLATES_FILE, "templates_path")])
    for shard, origin in expected_shards(inputs).items():
        if Path(origin).exists():
            versions.append(InputVersion(CORPUS_FILE, shard, cache.digest(Path(origin)), origin))
    return versions


def _file_versions(inputs: InputsResource, cache: HashCache, settings: list[tuple[dg.AssetKey, str]]) -> list[InputVersion]:
    """Content hashes of the files that `settings` (asset key, InputsResource field) name; a
    file that does not exist yet is not observed."""
    paths = [(key, inputs.required_path(name)) for key, name in settings]
    return [InputVersion(key, None, cache.digest(path), str(path)) for key, path in paths if path.exists()]


def checkpoint_source_versions(storage: StorageResource, modeling: ModelingResource, cache: HashCache) -> list[InputVersion]:
    """What each checkpoint partition is registered from, as a data version: a dropped folder's
    sidecar (a changed one registers the checkpoint again, with its new tokens), an intermediate
    checkpoint's training summary (rewritten when its run restarted from step 0), a ladder
    config's name (configs are not watched: a changed one retrains on a click or in `smi run-default`)."""
    # Imported here: training.train loads torch, which the rest of the sensor does not need.
    from training.train import SUMMARY_FILE

    versions = {
        name: InputVersion(CHECKPOINT_SOURCE, name, _settings_version("ladder-config", name), f"ladder config {name}") for name in modeling.ladder_configs()
    }
    for key, folder in intermediate_checkpoint_folders(storage, modeling).items():
        versions[key] = InputVersion(CHECKPOINT_SOURCE, key, cache.digest(folder / SUMMARY_FILE), str(folder / SUMMARY_FILE))
    for key, folder in incoming_checkpoint_folders(storage).items():
        sidecar = folder / SIDECAR_FILE
        if key not in versions:  # a ladder name wins, as in expected_checkpoints
            version = cache.digest(sidecar) if sidecar.is_file() else _settings_version("no sidecar")
            versions[key] = InputVersion(CHECKPOINT_SOURCE, key, version, str(sidecar if sidecar.is_file() else folder))
    return list(versions.values())


def current_versions(inputs: InputsResource, key: dg.AssetKey) -> dict[str | None, str]:
    """Partition (None when unpartitioned) -> current data version of one input asset; what the
    UI's Observe button records."""
    return {item.partition: item.version for item in input_versions(inputs, HashCache()) if item.key == key}


def latest_observed_version(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None) -> str | None:
    record = instance.get_latest_data_version_record(key, is_source=True, partition_key=partition)
    if record is None or record.asset_observation is None:
        return None
    return record.asset_observation.data_version


def changed_observations(instance: dg.DagsterInstance, versions: list[InputVersion]) -> list[dg.AssetObservation]:
    """Observations for the inputs whose version differs from the one the instance last recorded."""
    return [
        dg.AssetObservation(
            asset_key=item.key,
            partition=item.partition,
            tags={DATA_VERSION_TAG: item.version},
            metadata={"source": dg.MetadataValue.path(item.source) if Path(item.source).exists() else item.source},
        )
        for item in versions
        if latest_observed_version(instance, item.key, item.partition) != item.version
    ]


def vanished_shards(instance: dg.DagsterInstance, registered: list[str], versions: list[InputVersion]) -> list[str]:
    """Registered shard partitions that were observed before but whose source no longer exists."""
    present = {item.partition for item in versions if item.key == CORPUS_FILE}
    return [shard for shard in registered if shard not in present and latest_observed_version(instance, CORPUS_FILE, shard) is not None]


@dataclass
class InputsState:
    """What one look at the inputs found: observations to record, partitions to add, warnings."""

    observations: list[dg.AssetObservation]
    new_shards: list[str]
    new_checkpoints: list[str]
    vanished_shards: list[str]
    cursor: str

    @property
    def warnings(self) -> list[str]:
        if not self.vanished_shards:
            return []
        return [
            f"corpus shards whose source is gone: {self.vanished_shards}; their last counts stay in knowledge_frequency "
            "until `smi prune` removes the partitions"
        ]

    def partition_requests(self) -> list[dg.AddDynamicPartitionsRequest]:
        requests = []
        if self.new_shards:
            requests.append(corpus_shards.build_add_request(self.new_shards))
        if self.new_checkpoints:
            requests.append(checkpoint_partitions.build_add_request(self.new_checkpoints))
        return requests

    def summary(self) -> str:
        if self.vanished_shards:
            return f"inputs unchanged; {len(self.vanished_shards)} shard(s) lost their source: {self.vanished_shards}"
        return "inputs unchanged, no new shards or checkpoints"


def observe_and_register(
    instance: dg.DagsterInstance,
    inputs: InputsResource,
    storage: StorageResource,
    modeling: ModelingResource,
    cursor: str | None,
    *,
    register: bool,
) -> InputsState:
    """Hash the inputs, find new shards and checkpoints and vanished shards. With `register`
    (outside a sensor) the partitions are added and the observations recorded right away; a
    sensor returns them in its result instead."""
    cache = HashCache.from_json(cursor)
    versions = input_versions(inputs, cache) + checkpoint_source_versions(storage, modeling, cache)
    known_shards = instance.get_dynamic_partitions(corpus_shards.name)
    known_checkpoints = set(instance.get_dynamic_partitions(checkpoint_partitions.name))
    state = InputsState(
        observations=changed_observations(instance, versions),
        new_shards=[key for key in expected_shards(inputs) if key not in set(known_shards)],
        new_checkpoints=[key for key in expected_checkpoints(storage, modeling) if key not in known_checkpoints],
        vanished_shards=vanished_shards(instance, known_shards, versions) if inputs.corpus_source != "synthetic" else [],
        cursor=cache.to_json(),
    )
    if register:
        register_missing(instance, corpus_shards, state.new_shards)
        register_missing(instance, checkpoint_partitions, state.new_checkpoints)
        for observation in state.observations:
            instance.report_runless_asset_event(observation)
    return state
