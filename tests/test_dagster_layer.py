"""The Dagster layer, tested through Dagster's own machinery: the defs folder loads, resources
come from the environment, the inputs sensor registers and observes through `evaluate_tick`,
and declarative automation (`evaluate_automation_conditions`) requests exactly the
dependents of what changed, respects in-flight runs, re-scores on the cron and trains only
new checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from smi_assets.common.errors import InputError
from smi_assets.common.storage import validate_partition_key
from smi_assets.definitions import build_definitions
from smi_assets.defs.automation.sensors import inputs_sensor
from smi_assets.orchestration.observe import CORPUS_FILE, REFERENCE_TABLES, TEMPLATES_FILE, observe_and_register
from smi_assets.orchestration.partitions import checkpoint_partitions, corpus_shards
from smi_assets.orchestration.resources import (
    RESOURCE_CLASSES,
    InputsResource,
    ModelingResource,
    StorageResource,
    resources_from_environment,
)

TINY_LADDER = {
    "tiny-a": {"model": {"n_layer": 1, "n_embd": 16, "n_head": 2, "block_size": 32}, "max_steps": 12, "batch_size": 8,
               "grad_accum_steps": 1, "warmup_steps": 2, "checkpoint_every": 6, "log_every": 6},
    "tiny-b": {"model": {"n_layer": 2, "n_embd": 32, "n_head": 2, "block_size": 32}, "max_steps": 12, "batch_size": 8,
               "grad_accum_steps": 1, "warmup_steps": 2, "checkpoint_every": 6, "log_every": 6},
}  # fmt: skip


def tiny_resources(tmp_path: Path, **inputs_overrides) -> dict:
    ladder_file = tmp_path / "ladder.json"
    ladder_file.write_text(json.dumps(TINY_LADDER))
    return resources_from_environment(
        {},
        storage=StorageResource(data_dir=str(tmp_path / "data")),
        inputs=InputsResource(
            **{
                "world_people": 24,
                "world_shards": 2,
                "max_templates_per_relation": 2,
                "reference_dir": str(tmp_path / "no-reference"),
                **inputs_overrides,
            }
        ),  # fmt: skip
        modeling=ModelingResource(ladder_file=str(ladder_file), planned_runs=["50000", "50000:2e6"]),
    )


def test_definitions_load_from_the_defs_folder_with_automation_on_every_derived_asset():
    definitions = build_definitions()
    dg.Definitions.validate_loadable(definitions)
    graph = definitions.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert {"corpus", "knowledge", "frequency", "checkpoints", "smi", "crossmodel"} <= groups
    assert {CORPUS_FILE, TEMPLATES_FILE} <= graph.external_asset_keys
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert node.code_version, f"{key.to_user_string()} has no code_version: reruns would mark all dependents stale"
        assert node.automation_condition is not None, f"{key.to_user_string()} has no automation condition"
    sensors = {sensor.name: sensor for sensor in definitions.sensors}
    assert {"inputs_sensor", "smi_automation"} <= set(sensors)
    assert all(sensor.default_status == dg.DefaultSensorStatus.RUNNING for sensor in sensors.values())


def test_every_setting_has_a_one_line_description():
    from smi_assets.defs.crossmodel import assets as crossmodel

    configs = [crossmodel.SourceFileConfig, crossmodel.ObsScalingConfig, crossmodel.CppConfig, crossmodel.DesignFactorConfig]
    for cls in [*RESOURCE_CLASSES.values(), *configs]:
        for name, field in cls.model_fields.items():
            assert field.description and "\n" not in field.description, f"{cls.__name__}.{name} has no one-line description"


def test_environment_variables_become_env_vars_and_lists_are_parsed():
    environ = {"SMI_DATA_DIR": "/tmp/somewhere", "SMI_WORLD_PEOPLE": "7", "SMI_PLANNED_RUNS": "1e6, 2000000:4e7", "SMI_SKIP_BAD_RECORDS": "true"}
    resources = resources_from_environment(environ, as_env_vars=True)
    assert isinstance(resources["storage"].data_dir, dg.EnvVar) and resources["storage"].data_dir.env_var_name == "SMI_DATA_DIR"
    assert [(run.params, run.tokens) for run in resources["modeling"].planned_targets()] == [(1e6, None), (2e6, 4e7)]
    plain = resources_from_environment(environ)
    assert plain["storage"].data_dir == "/tmp/somewhere" and plain["inputs"].world_people == 7 and plain["inputs"].skip_bad_records


@pytest.mark.parametrize("key", ["../../outside/x", "a/b", ".hidden", "..", "", "x" * 200, "a\\b"])
def test_partition_keys_must_be_plain_names(key):
    with pytest.raises(InputError):
        validate_partition_key(key)


def test_storage_paths_stay_inside_the_data_directory(tmp_path):
    storage = StorageResource(data_dir=str(tmp_path / "data"))
    assert storage.shard_documents_path("shard-000").parent == (tmp_path / "data" / "corpus").resolve()
    with pytest.raises(InputError):
        storage.shard_documents_path("../../etc/passwd")
    with pytest.raises(InputError):
        storage.path("..", "outside")


def test_the_ladder_comes_from_a_file_and_names_are_checked(tmp_path):
    resources = tiny_resources(tmp_path)
    assert list(resources["modeling"].ladder_configs()) == ["tiny-a", "tiny-b"]
    with pytest.raises(InputError, match="unknown ladder configs"):
        ModelingResource(ladder_file=resources["modeling"].ladder_file, ladder=["nope"]).ladder_configs()


def _sensor_tick(instance, resources, cursor=None):
    context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
    return inputs_sensor.evaluate_tick(context)


def test_inputs_sensor_registers_partitions_and_observes_only_changed_files(tmp_path):
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / "part-1.jsonl").write_text('{"text": "Ada Lovelace was born in London."}\n')
    triples = tmp_path / "triples.json"
    triples.write_text(json.dumps([{"idx": 1, "subj": "Ada Lovelace", "rel": "born", "obj": "London"}]))
    templates = tmp_path / "templates.json"
    templates.write_text(json.dumps({"born": ["[S] was born in"]}))
    reference = tmp_path / "reference"
    resources = tiny_resources(
        tmp_path, corpus_source="files", corpus_glob=str(corpus_dir / "*.jsonl"), triples_path=str(triples), templates_path=str(templates),
        reference_dir=str(reference),
    )  # fmt: skip
    with dg.instance_for_test() as instance:
        first = _sensor_tick(instance, resources)
        added = {request.partitions_def_name: list(request.partition_keys) for request in first.dynamic_partitions_requests}
        assert added == {"corpus_shards": ["part-1"], "checkpoints": ["tiny-a", "tiny-b"]}
        observed = {(event.asset_key.to_user_string(), event.partition) for event in first.asset_events}
        assert observed == {
            ("triples_file", None), ("templates_file", None), ("corpus_file", "part-1"), ("checkpoint_source", "tiny-a"), ("checkpoint_source", "tiny-b"),
        }  # fmt: skip
        assert not first.run_requests, "the inputs sensor starts no runs: declarative automation does"
        assert "reference_tables" not in {event.asset_key.to_user_string() for event in first.asset_events}, "absent: not observed"
        for event in first.asset_events:
            instance.report_runless_asset_event(event)
        for request in first.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))

        unchanged = _sensor_tick(instance, resources, first.cursor)
        assert unchanged.skip_message and not unchanged.asset_events

        templates.write_text(json.dumps({"born": ["[S] was born in", "[S] is a native of"]}))
        (corpus_dir / "part-2.jsonl").write_text('{"text": "Ada Lovelace lived in London."}\n')
        (reference / "smi").mkdir(parents=True)  # `smi fetch-reference` ran
        (reference / "smi" / "table.csv").write_text("model,score\n")
        changed = _sensor_tick(instance, resources, unchanged.cursor)
        assert {(event.asset_key.to_user_string(), event.partition) for event in changed.asset_events} == {
            ("templates_file", None), ("corpus_file", "part-2"), ("reference_tables", None),
        }  # fmt: skip
        for event in changed.asset_events:
            instance.report_runless_asset_event(event)
        instance.add_dynamic_partitions(corpus_shards.name, ["part-2"])

        (corpus_dir / "part-1.jsonl").unlink()
        vanished = _sensor_tick(instance, resources, changed.cursor)
        assert "part-1" in vanished.skip_message
        assert "part-1" in instance.get_dynamic_partitions(corpus_shards.name), "a vanished shard is reported, not dropped"


class Graph:
    """A definitions object, an instance and the automation cursor, evaluated tick by tick."""

    def __init__(self, definitions: dg.Definitions, instance: dg.DagsterInstance, start: datetime):
        self.definitions, self.instance, self.now = definitions, instance, start
        self.cursor = None
        self.graph = definitions.resolve_asset_graph()

    def tick(self, minutes: int = 1) -> set[tuple[str, str | None]]:
        self.now += timedelta(minutes=minutes)
        result = dg.evaluate_automation_conditions(self.definitions, self.instance, cursor=self.cursor, evaluation_time=self.now)
        self.cursor = result.cursor
        return {
            (key.to_user_string(), partition)
            for key in self.graph.materializable_asset_keys
            for partition in (result.get_requested_partitions(key) or ([] if not result.get_num_requested(key) else [None]))
        }

    def materialize(self, requested: set[tuple[str, str | None]]) -> None:
        """Record what a run of `requested` would produce (runless materializations)."""
        for name, partition in requested:
            self.instance.report_runless_asset_event(dg.AssetMaterialization(name, partition=partition))

    def settle(self) -> set[tuple[str, str | None]]:
        """Materialize what each tick requests until a tick requests nothing; return all of it."""
        seen: set[tuple[str, str | None]] = set()
        wave = self.tick()
        while wave:
            seen |= wave
            self.materialize(wave)
            wave = self.tick()
        return seen

    def materialize_everything(self) -> None:
        for key in self.graph.materializable_asset_keys:
            node = self.graph.get(key)
            partitions = node.partitions_def.get_partition_keys(dynamic_partitions_store=self.instance) if node.partitions_def else [None]
            self.materialize({(key.to_user_string(), partition) for partition in partitions})

    def observe(self, key: dg.AssetKey, version: str, partition: str | None = None) -> None:
        self.instance.report_runless_asset_event(dg.AssetObservation(key, partition=partition, tags={DATA_VERSION_TAG: version}))


def test_an_edited_templates_file_rematerializes_only_cbqa_questions_and_its_dependents(settled_graph):
    graph = settled_graph
    graph.observe(TEMPLATES_FILE, "edited-templates")
    first = graph.tick()
    assert first == {("cbqa_questions", None)}
    graph.materialize(first)
    seen = {name for name, _ in first | graph.settle()}
    downstream = dg.AssetSelection.assets("cbqa_questions").downstream().resolve(graph.graph)
    assert seen == {key.to_user_string() for key in downstream}
    assert not seen & {"knowledge_triples", "corpus_documents", "shard_knowledge_counts", "knowledge_frequency", "checkpoints"}


def test_a_new_shard_is_scanned_alone_and_checkpoints_are_only_marked_stale(settled_graph):
    graph = settled_graph
    graph.instance.add_dynamic_partitions(corpus_shards.name, ["shard-new"])
    graph.observe(CORPUS_FILE, "new-shard", partition="shard-new")
    first = graph.tick()
    assert first == {("corpus_documents", "shard-new"), ("shard_knowledge_counts", "shard-new")}
    graph.materialize(first)
    seen = graph.settle()
    assert ("knowledge_frequency", None) in seen and ("cbqa_forecast", None) in seen
    assert not {name for name, _ in seen} & {"checkpoints", "cbqa_scores", "corpus_documents"}, "no retraining, no other shard"


def test_a_new_checkpoint_trains_scores_and_refreshes_the_forecast(settled_graph):
    graph = settled_graph
    graph.instance.add_dynamic_partitions(checkpoint_partitions.name, ["dropped"])
    first = graph.tick()
    assert first == {("checkpoints", "dropped"), ("cbqa_scores", "dropped"), ("smi_fit", "dropped")}, "one run trains, scores and fits it"
    graph.materialize(first)
    seen = graph.settle()
    assert {("cbqa_forecast", None), ("smi_fit_across_checkpoints", None)} <= seen
    assert not {partition for name, partition in seen if name in {"checkpoints", "cbqa_scores", "smi_fit"}} - {"dropped"}


def test_the_rescore_cron_rescores_every_checkpoint_once(settled_graph):
    graph = settled_graph
    graph.now = graph.now.replace(hour=1, minute=50)
    assert graph.tick(minutes=0) == set()
    nightly = graph.tick(minutes=20)  # 02:10: the 02:00 tick passed
    assert nightly == {(name, checkpoint) for name in ("cbqa_scores", "smi_fit") for checkpoint in ("tiny-a", "tiny-b")}
    assert graph.tick() == set(), "requested once per cron tick, not on every evaluation after it"


def test_an_in_flight_run_is_not_requested_twice_and_a_failed_one_does_not_block(settled_graph):
    graph = settled_graph
    job = graph.definitions.resolve_implicit_global_asset_job_def()
    graph.observe(TEMPLATES_FILE, "edited-once")
    assert graph.tick() == {("cbqa_questions", None)}
    run = graph.instance.create_run_for_job(job, asset_selection={dg.AssetKey("cbqa_questions")}, status=dg.DagsterRunStatus.STARTED)
    graph.observe(TEMPLATES_FILE, "edited-twice")
    assert ("cbqa_questions", None) not in graph.tick(), "a run of it is in flight"
    graph.instance.report_run_failed(run)
    graph.observe(TEMPLATES_FILE, "edited-three-times")
    assert graph.tick() == {("cbqa_questions", None)}, "a failed run must not block later ticks"


def _table_counts(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = [row[0] for row in connection.execute("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()]
        return {table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def _weights_mtimes(data: Path) -> dict[str, int]:
    return {name: (data / "checkpoints" / name / "model.safetensors").stat().st_mtime_ns for name in TINY_LADDER}


def test_run_default_materializes_the_graph_with_progress_and_reruns_without_duplicates(tmp_path):
    """The README's command, as a user runs it: the whole graph through the configured executor,
    progress in the terminal, no Dagster warnings, the intermediate checkpoint tiny-a leaves
    registered and scored in the same walk (and a proxy of the forecast); a rerun adds no
    rows and retrains nothing; a changed ladder config retrains that checkpoint only."""
    data = tmp_path / "data"
    ladder_file = tmp_path / "ladder-with-intermediate.json"
    ladder_file.write_text(json.dumps({**TINY_LADDER, "tiny-a": {**TINY_LADDER["tiny-a"], "intermediate_every": 6}}))
    env = {
        **os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "SMI_LADDER_FILE": str(ladder_file),
        "SMI_WORLD_PEOPLE": "24", "SMI_WORLD_SHARDS": "2", "SMI_MAX_TEMPLATES_PER_RELATION": "2", "SMI_PLANNED_RUNS": "50000",
        "SMI_REFERENCE_DIR": str(tmp_path / "no-reference"),
    }  # fmt: skip

    def run_default() -> str:
        done = subprocess.run(["smi", "run-default", "--data-dir", str(data)], env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    output = run_default()
    assert "checkpoints[tiny-b] train: 12/12" in output and "cbqa_scores[tiny-a] cbqa:" in output, output
    assert "cbqa_scores[tiny-a.step000006] cbqa:" in output, output
    assert "Warning" not in output, output
    assert "skipping" in output and "smi fetch-reference" in output
    first, weights = _table_counts(data / "smi.duckdb"), _weights_mtimes(data)
    with duckdb.connect(str(data / "smi.duckdb"), read_only=True) as connection:
        n_questions = connection.execute("SELECT count(*) FROM questions").fetchone()[0]
        lineage = json.loads(connection.execute("SELECT any_value(lineage) FROM cbqa_forecast").fetchone()[0])
    assert first["cbqa_scores"] == n_questions * (len(TINY_LADDER) + 1)
    # The intermediate checkpoint is a proxy too: it places tiny-a's run on the tokens axis.
    assert set(lineage["checkpoints"]) == {*TINY_LADDER, "tiny-a.step000006"} and all(lineage["checkpoints"].values())
    report = subprocess.run(["smi", "report", "--data-dir", str(data)], env=env, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    assert "forecast 50,000 params x ladder-recipe tokens" in report.stdout and "(80% " in report.stdout, report.stdout
    assert f"knowledge gaps at 50,000 params x ladder-recipe tokens: {first['knowledge_gaps']} facts below" in report.stdout, report.stdout
    # The tiny ladder answers nothing: no run within 1000x its compute reaches 0.5, and the plan says so, naming the value.
    plan = subprocess.run(["smi", "plan", "--data-dir", str(data), "--target-accuracy", "0.5"], env=env, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 1 and "smi plan: target accuracy 0.5 is not reached within 1000x the largest proxy's compute" in plan.stdout, (
        plan.stdout + plan.stderr
    )
    assert "plan: target accuracy 0.5 is not reached" in report.stdout

    run_default()
    assert _table_counts(data / "smi.duckdb") == first, "a rerun must replace rows, never add them"
    assert _weights_mtimes(data) == weights, "unchanged checkpoints are reused, not retrained"

    changed = json.loads(Path(env["SMI_LADDER_FILE"]).read_text())
    changed["tiny-b"]["max_steps"] = 14
    Path(env["SMI_LADDER_FILE"]).write_text(json.dumps(changed))
    run_default()
    retrained = _weights_mtimes(data)
    assert retrained["tiny-a"] == weights["tiny-a"] and retrained["tiny-b"] != weights["tiny-b"]


def test_skipped_bad_records_are_logged_and_reported(tmp_path):
    from smi_assets.defs.corpus import assets as corpus
    from smi_assets.orchestration.pipeline import skipped_records

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / "part-1.jsonl").write_text('{"text": "Ada was born in London."}\n{not json\n{"text": "London is large."}\n')
    resources = tiny_resources(tmp_path, corpus_source="files", corpus_glob=str(corpus_dir / "*.jsonl"), skip_bad_records=True)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(corpus_shards.name, ["part-1"])
        result = dg.materialize(
            [corpus.corpus_file, corpus.corpus_documents], selection=["corpus_documents"], partition_key="part-1", instance=instance, resources=resources
        )
        log = [record.event_log_entry.user_message for record in instance.get_records_for_run(result.run_id).records]
        assert any("skipped 1 bad records in" in message for message in log), "the run log says so"
        assert skipped_records(instance) == {"corpus_documents[part-1]": 1}


def test_a_fresh_instance_builds_the_whole_graph_even_when_inputs_were_registered_first(tmp_path):
    """The daemon's inputs sensor may register shards and checkpoints, and observe the input
    files, before the automation sensor's first evaluation; that evaluation must still build
    everything, training every checkpoint included."""
    resources = tiny_resources(tmp_path)
    with dg.instance_for_test() as instance:
        observe_and_register(instance, resources["inputs"], resources["storage"], resources["modeling"], None, register=True)
        graph = Graph(build_definitions(resources), instance, datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc))
        built = graph.settle()
        checkpoints = set(instance.get_dynamic_partitions(checkpoint_partitions.name))
        assert {partition for name, partition in built if name == "checkpoints"} == checkpoints
        reads_reference = dg.AssetSelection.assets(REFERENCE_TABLES).downstream().resolve(graph.graph)
        assert {name for name, _ in built} == {key.to_user_string() for key in graph.graph.materializable_asset_keys - reads_reference}
        assert reads_reference, "what reads the absent reference tables waits for them; it is not requested to fail"

        graph.observe(REFERENCE_TABLES, "fetched")  # `smi fetch-reference` ran; the inputs sensor saw it
        assert {name for name, _ in graph.settle()} == {key.to_user_string() for key in reads_reference - {REFERENCE_TABLES}}


def test_the_synthetic_world_can_be_asked_with_an_edited_templates_file(tmp_path):
    """`smi export-templates` writes the world's templates; with SMI_TEMPLATES_PATH set, the
    templates file is observed by its content and an edit changes nothing but it."""
    from smi_assets.cli import main
    from smi_assets.knowledge.loaders import load_templates
    from smi_assets.orchestration.observe import HashCache, input_versions

    templates = tmp_path / "templates.json"
    assert main(["export-templates", str(templates)]) == 0
    inputs = tiny_resources(tmp_path, templates_path=str(templates))["inputs"]
    before = {(item.key, item.partition): item.version for item in input_versions(inputs, HashCache())}
    edited = load_templates(templates)
    edited["born"] = ["[S] hails from"]
    templates.write_text(json.dumps(edited))
    after = {(item.key, item.partition): item.version for item in input_versions(inputs, HashCache())}
    assert {key for key in before if before[key] != after[key]} == {(TEMPLATES_FILE, None)}
    assert before.keys() == after.keys() and (CORPUS_FILE, "shard-000") in after, "the corpus still comes from the world"


def test_a_checkpoint_whose_first_training_failed_trains_once_its_corpus_arrives(tmp_path):
    """The daemon's first automation tick can see the ladder's checkpoints before the inputs
    sensor registered any shard: that training fails (no corpus). It must not be the end."""
    resources = tiny_resources(tmp_path)
    with dg.instance_for_test() as instance:
        graph = Graph(build_definitions(resources), instance, datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc))
        instance.add_dynamic_partitions(checkpoint_partitions.name, list(TINY_LADDER))
        assert graph.tick() == {("checkpoints", name) for name in TINY_LADDER}  # both runs fail: nothing materialized
        assert graph.tick() == set(), "a failed training is not retried on every tick"
        observe_and_register(instance, resources["inputs"], resources["storage"], resources["modeling"], None, register=True)
        built = graph.settle()
        assert {partition for name, partition in built if name == "checkpoints"} == set(TINY_LADDER)
        assert ("cbqa_forecast", None) in built
        graph.observe(CORPUS_FILE, "edited", partition="shard-000")
        assert not {name for name, _ in graph.settle()} & {"checkpoints"}, "a trained checkpoint is only marked stale"
