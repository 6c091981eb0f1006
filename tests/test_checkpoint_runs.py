"""Tokens in every record: a checkpoint's run, step and training tokens (from a ladder training's
summary or a dropped folder's sidecar), the corpus' tokens, the expected exposure of each
question, and a ladder run's intermediate checkpoints as partitions of their own, registered,
materialized and scored through Dagster."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from smi_assets.checkpoints import runs, store
from smi_assets.checkpoints.commands import _count
from smi_assets.cli import main
from smi_assets.common.errors import InputError
from smi_assets.corpus.sources import write_shard_documents
from smi_assets.definitions import build_definitions
from smi_assets.defs.automation.sensors import inputs_sensor
from smi_assets.orchestration.maintenance import prune, stale_partitions
from smi_assets.orchestration.observe import observe_and_register
from smi_assets.orchestration.partitions import checkpoint_partitions, corpus_shards
from smi_assets.orchestration.pipeline import report
from smi_assets.orchestration.resources import ModelingResource, StorageResource
from tests.test_checkpoint_integrity import _save_checkpoint
from tests.test_dagster_layer import TINY_LADDER, Graph, tiny_resources
from training.config import DEFAULT_LADDER, TrainConfig
from training.tokenizer import train_tokenizer

# --- the sidecar of a dropped folder -------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "position"),
    [
        ({"training_tokens": 1000}, runs.RunPosition("folder", None, 1000, None)),
        ({"training_tokens": 1000, "step": 4, "run_id": "r", "run_tokens": 5000}, runs.RunPosition("r", 4, 1000, 5000)),
        ({"step": 143_000, "tokens_per_step": 2_097_152}, runs.RunPosition("folder", 143_000, 143_000 * 2_097_152, None)),  # Pythia
        ({"run_id": "r"}, runs.RunPosition("r", None, None, None)),  # tokens unknown: a warning later, never a guess
    ],
)
def test_a_sidecar_states_run_step_and_tokens(values, position):
    assert runs.parse_sidecar(values, "smi_checkpoint.json", default_run_id="folder") == position


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"training_tokens": 0}, "training_tokens must be a positive whole number, not 0"),
        ({"training_tokens": -5}, "training_tokens must be a positive whole number, not -5"),
        ({"training_tokens": 1.5e9}, "training_tokens must be a positive whole number, not 1500000000.0"),
        ({"training_tokens": "1000"}, "training_tokens must be a positive whole number, not '1000'"),
        ({"training_tokens": True}, "training_tokens must be a positive whole number, not True"),
        ({"step": 3, "tokens_per_step": 0}, "tokens_per_step must be a positive whole number, not 0"),
        ({"tokens_per_step": 100}, "tokens_per_step 100 needs the step"),
        ({"training_tokens": 10, "step": 1, "tokens_per_step": 10}, "not both"),
        ({"training_tokens": 10, "run_tokens": 5}, "training tokens 10 exceed the run's planned run_tokens 5"),
        ({"training_tokens": 10, "run_id": ""}, "run_id must be a non-empty string, not ''"),
        ({"tokens": 10}, r"unknown fields \['tokens'\]"),
        ([1000], "expected a JSON object"),
    ],
)
def test_a_bad_sidecar_is_refused_naming_the_file_and_the_value(values, message):
    with pytest.raises(InputError, match=rf"^smi_checkpoint\.json: .*{message}"):
        runs.parse_sidecar(values, "smi_checkpoint.json", default_run_id="folder")


def test_smi_describe_checkpoint_writes_and_checks_the_sidecar(tmp_path, capsys, monkeypatch):
    folder = _save_checkpoint(tmp_path / "pythia-step1000")
    assert main(["describe-checkpoint", str(folder)]) == 1
    assert "does not exist: this checkpoint's tokens are unknown" in capsys.readouterr().out

    assert main(["describe-checkpoint", str(folder), "--step", "1000", "--tokens-per-step", "2097152", "--run-id", "pythia-70m"]) == 0
    assert json.loads((folder / runs.SIDECAR_FILE).read_text()) == {"step": 1000, "tokens_per_step": 2097152, "run_id": "pythia-70m"}
    assert runs.read_sidecar(folder) == runs.RunPosition("pythia-70m", 1000, 2_097_152_000, None)
    assert main(["describe-checkpoint", str(folder)]) == 0
    assert "run 'pythia-70m', step 1,000: 2,097,152,000 training tokens" in capsys.readouterr().out

    assert main(["describe-checkpoint", str(folder), "--training-tokens", "3e11", "--step", "5"]) == 0
    assert runs.read_sidecar(folder).tokens == 300_000_000_000
    assert main(["describe-checkpoint", str(folder), "--training-tokens", "5", "--step", "2", "--tokens-per-step", "3"]) == 2
    assert "not both" in capsys.readouterr().err
    assert runs.read_sidecar(folder).tokens == 300_000_000_000, "a refused sidecar leaves the previous one"
    assert main(["describe-checkpoint", str(tmp_path), "--training-tokens", "5"]) == 2
    assert "no config.json" in capsys.readouterr().err
    (folder / runs.SIDECAR_FILE).write_text('{"training_tokens": 12.5}')
    assert main(["describe-checkpoint", str(folder)]) == 2
    assert f"{folder / runs.SIDECAR_FILE}: training_tokens must be a positive whole number, not 12.5" in capsys.readouterr().err
    for text in ("0", "-3", "1.5", "lots"):
        with pytest.raises(Exception, match="positive whole number|not a number"):
            _count(text)


# --- records and the tables that read them -------------------------------------------------------


def _record(checkpoint_id: str, run_id: str, step: int | None, tokens: int | None) -> store.CheckpointRecord:
    hashes = {"model.safetensors": checkpoint_id.ljust(64, "0")}
    return store.CheckpointRecord(checkpoint_id, "trained", f"/m/{checkpoint_id}", 100, 80, tokens, 1.0, "v", hashes, run_id, step, 3000)


def test_a_checkpoint_whose_tokens_disagree_with_its_step_in_its_run_is_found():
    connection = duckdb.connect()
    for record in (_record("r.step1", "r", 1, 1000), _record("r.step3", "r", 3, 3000), _record("other", "o", 2, 9000)):
        store.record_checkpoint(connection, record)
    assert store.out_of_order_checkpoint(connection, _record("r.step2", "r", 2, 2000)) is None
    assert store.out_of_order_checkpoint(connection, _record("r.step2", "r", 2, 900)) == ("r.step1", 1, 1000)
    assert store.out_of_order_checkpoint(connection, _record("r.step2", "r", 2, 3500)) == ("r.step3", 3, 3000)
    assert store.out_of_order_checkpoint(connection, _record("r.step2", "r", None, 900)) is None, "no step: nothing to order by"
    assert store.out_of_order_checkpoint(connection, _record("r.step2", "r", 2, None)) is None, "unknown tokens: nothing to compare"
    assert store.out_of_order_checkpoint(connection, _record("r.step1", "r", 1, 1200)) is None, "its own earlier row does not count"


def test_shard_tokens_are_what_the_word_level_training_tokenizer_splits_plus_one_eos_per_document(tmp_path):
    texts = ["Ada Lovelace was born in London.", "naïve café — 東京, x_y 3.14... it's", "   ", "Bob"]
    stats = write_shard_documents([pl.DataFrame({"doc_id": ["a", "b", "c", "d"], "text": texts})], tmp_path / "shard.parquet")
    pre_tokenizer = train_tokenizer(texts, kind="word").backend_tokenizer.pre_tokenizer
    assert stats.tokens == sum(len(pre_tokenizer.pre_tokenize_str(text)) for text in texts) + len(texts)
    assert stats.tokens == 7 + 13 + 0 + 1 + 4


def test_expected_exposure_is_cooccurrences_times_the_share_of_the_corpus_seen():
    connection = duckdb.connect()
    assert store.corpus_tokens(connection) is None, "no shard read yet"
    store.replace_shard_tokens(connection, "s1", 10, 600)
    store.replace_shard_tokens(connection, "s2", 10, 400)
    store.replace_shard_tokens(connection, "s2", 10, 400)  # a rerun replaces its row
    assert store.corpus_tokens(connection) == 1000
    connection.execute("CREATE TABLE knowledge_frequency AS SELECT * FROM (VALUES (1, 10), (2, 0)) AS f(idx, N_so)")
    store.record_checkpoint(connection, _record("half", "r", 1, 500))
    store.record_checkpoint(connection, _record("two-epochs", "r", 2, 2000))
    store.record_checkpoint(connection, _record("unknown", "u", None, None))
    exposure = store.question_exposure(connection)
    assert exposure.select("checkpoint_id", "idx", "expected_exposure").rows() == [
        ("half", 1, 5.0), ("half", 2, 0.0), ("two-epochs", 1, 20.0), ("two-epochs", 2, 0.0), ("unknown", 1, None), ("unknown", 2, None),
    ]  # fmt: skip
    assert exposure["corpus_tokens"].unique().to_list() == [1000]


def test_the_default_ladder_leaves_intermediate_checkpoints_and_a_ladder_file_sets_its_own(tmp_path):
    assert {name: config.intermediate_every for name, config in DEFAULT_LADDER.items()} == dict.fromkeys(DEFAULT_LADDER, 1000)
    ladder = tmp_path / "ladder.json"
    ladder.write_text(json.dumps({"few": {**TINY_LADDER["tiny-a"], "intermediate_every": 4}, "none": TINY_LADDER["tiny-b"]}))
    configs = ModelingResource(ladder_file=str(ladder)).ladder_configs()
    assert {name: config.intermediate_every for name, config in configs.items()} == {"few": 4, "none": 0}
    assert TrainConfig.from_dict(DEFAULT_LADDER["gpt-tiny"].to_dict()) == DEFAULT_LADDER["gpt-tiny"]


# --- intermediate partitions through Dagster -----------------------------------------------------


def _intermediate_folder(storage: StorageResource, run: str, step: int, seed: int = 0) -> Path:
    """What a ladder run leaves at `step` (its weights do not matter here, its summary does)."""
    folder = storage.checkpoint_dir(run) / "intermediate" / f"step{step:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training_summary.json").write_text(json.dumps({"step": step, "tokens_seen": step * 256, "config": {"seed": seed}}))
    return folder


def test_an_intermediate_checkpoint_is_registered_and_requested_while_its_run_still_trains(settled_graph, tmp_path):
    graph, instance = settled_graph, settled_graph.instance
    resources = tiny_resources(tmp_path)  # the settled graph's
    job = graph.definitions.resolve_implicit_global_asset_job_def()
    training = instance.create_run_for_job(
        job, asset_selection={dg.AssetKey("checkpoints")}, status=dg.DagsterRunStatus.STARTED, tags={"dagster/partition": "tiny-a"}
    )  # tiny-a is training again
    _intermediate_folder(resources["storage"], "tiny-a", 6)
    (resources["storage"].checkpoint_dir("tiny-a") / "intermediate" / ".staging-x").mkdir()  # a folder being written: not one yet
    state = observe_and_register(instance, resources["inputs"], resources["storage"], resources["modeling"], None, register=True)
    assert state.new_checkpoints == ["tiny-a.step000006"]
    first = graph.tick()
    assert first == {(name, "tiny-a.step000006") for name in ("checkpoints", "cbqa_scores", "smi_fit")}, "registered, scored and fitted in one run"
    graph.materialize(first)
    assert ("cbqa_forecast", None) not in graph.settle(), "the forecast waits for the run in flight"
    instance.report_run_failed(training)  # the run ended (how does not matter here)
    graph.materialize({("checkpoints", "tiny-a")})
    assert ("cbqa_forecast", None) in graph.settle()


def test_a_changed_sidecar_or_a_rewritten_intermediate_checkpoint_is_registered_again(tmp_path):
    """What a checkpoint is registered from is an input the inputs sensor observes: a sidecar
    that now states other tokens, or an intermediate folder its restarted run wrote anew, is
    registered again (and so re-scored), without training anything."""
    resources = tiny_resources(tmp_path)
    storage = resources["storage"]
    dropped = _save_checkpoint(storage.incoming_checkpoints_dir / "dropped")
    _intermediate_folder(storage, "tiny-a", 6)
    with dg.instance_for_test() as instance:
        cursor = None

        def observe() -> set[tuple[str, str | None]]:
            nonlocal cursor
            result = inputs_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor))
            for request in result.dynamic_partitions_requests:
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            for event in result.asset_events:
                instance.report_runless_asset_event(event)
            cursor = result.cursor or cursor
            return {
                (event.asset_key.to_user_string(), event.partition) for event in result.asset_events if event.asset_key.to_user_string() == "checkpoint_source"
            }

        first = observe()
        assert first == {("checkpoint_source", key) for key in ("tiny-a", "tiny-b", "tiny-a.step000006", "dropped")}
        graph = Graph(build_definitions(resources), instance, datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc))
        graph.materialize_everything()
        assert graph.tick() == set() and observe() == set()

        runs.write_sidecar(dropped, {"training_tokens": 1000})
        assert observe() == {("checkpoint_source", "dropped")}
        assert graph.tick() == {(name, "dropped") for name in ("checkpoints", "cbqa_scores", "smi_fit")}
        runs.write_sidecar(dropped, {"training_tokens": 1000})  # the same content again: no change
        _intermediate_folder(storage, "tiny-a", 6, seed=1)  # the run restarted from step 0 and reached step 6 again
        assert observe() == {("checkpoint_source", "tiny-a.step000006")}
        assert ("checkpoints", "tiny-a.step000006") in graph.tick()
        assert ("checkpoints", "tiny-a") not in graph.settle(), "a ladder checkpoint is never retrained by this"


def _execute(definitions: dg.Definitions, instance: dg.DagsterInstance, assets: list[str], partition: str | None = None, **options):
    job = definitions.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, partition_key=partition, asset_selection=[dg.AssetKey(name) for name in assets], **options)


def _materialization_metadata(instance: dg.DagsterInstance, partition: str) -> dict:
    record = instance.get_latest_data_version_record(dg.AssetKey("checkpoints"), partition_key=partition)
    return {key: value.value for key, value in record.asset_materialization.metadata.items()}


def test_intermediate_and_dropped_checkpoints_are_recorded_with_their_tokens_and_scored(tmp_path, capsys, monkeypatch):
    ladder = tmp_path / "ladder-with-intermediates.json"
    ladder.write_text(json.dumps({"tiny-a": {**TINY_LADDER["tiny-a"], "intermediate_every": 6}}))
    resources = {**tiny_resources(tmp_path), "modeling": ModelingResource(ladder_file=str(ladder), planned_runs=["50000", "50000:2e6"])}
    storage = resources["storage"]
    definitions = build_definitions(resources)
    tokens_per_step = 8 * 32
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:

        def register() -> list[str]:
            return observe_and_register(instance, resources["inputs"], storage, resources["modeling"], None, register=True).new_checkpoints

        assert register() == ["tiny-a"]
        _execute(definitions, instance, ["knowledge_triples", "cbqa_questions"])
        for shard in instance.get_dynamic_partitions(corpus_shards.name):
            _execute(definitions, instance, ["corpus_documents", "shard_knowledge_counts"], shard)
        _execute(definitions, instance, ["checkpoints", "cbqa_scores"], "tiny-a")
        assert register() == ["tiny-a.step000006"]
        # While a training holds the only slot of the `gpu` pool (tiny-a training again, in
        # another run), its intermediate checkpoint is registered and scored all the same.
        job = definitions.resolve_implicit_global_asset_job_def()
        training = instance.create_run_for_job(job, asset_selection={dg.AssetKey("checkpoints")}, status=dg.DagsterRunStatus.STARTED)
        assert instance.event_log_storage.claim_concurrency_slot("gpu", training.run_id, "checkpoints").is_claimed
        registration = threading.Thread(target=_execute, args=(definitions, instance, ["checkpoints", "cbqa_scores"], "tiny-a.step000006"))
        registration.start()
        registration.join(timeout=180)
        waited = registration.is_alive()
        instance.event_log_storage.free_concurrency_slots_for_run(training.run_id)  # lets a registration that waited end
        registration.join()
        assert not waited, "registering an intermediate checkpoint waited for the slot its run's training holds"
        assert instance.get_latest_materialization_event(dg.AssetKey("cbqa_scores")).asset_materialization.partition == "tiny-a.step000006"
        _execute(definitions, instance, ["knowledge_frequency", "cbqa_forecast"])

        incoming = storage.incoming_checkpoints_dir
        _save_checkpoint(incoming / "no-tokens", seed=1)
        runs.write_sidecar(_save_checkpoint(incoming / "ext-step10", seed=2), {"step": 10, "tokens_per_step": 100, "run_id": "ext"})
        runs.write_sidecar(_save_checkpoint(incoming / "ext-step20", seed=3), {"step": 20, "training_tokens": 500, "run_id": "ext"})
        assert register() == ["ext-step10", "ext-step20", "no-tokens"]
        warned = _execute(definitions, instance, ["checkpoints", "cbqa_scores"], "no-tokens")
        log = [record.event_log_entry for record in instance.get_records_for_run(warned.run_id).records]
        assert any(entry.level == 30 and "no training tokens stated" in entry.user_message for entry in log), "a warning in the run log"
        assert "smi describe-checkpoint" in _materialization_metadata(instance, "no-tokens")["warning"]
        _execute(definitions, instance, ["checkpoints"], "ext-step10")
        refused = _execute(definitions, instance, ["checkpoints"], "ext-step20", raise_on_error=False)
        assert not refused.success
        failure = refused.get_step_failure_events()[0].event_specific_data.error
        while failure.cause is not None:
            failure = failure.cause
        assert f"{incoming / 'ext-step20' / runs.SIDECAR_FILE}: training tokens 500 at step 20 are below the 1000 of checkpoint 'ext-step10'" in failure.message

        corpus_tokens = sum(pl.read_parquet(path)["text"].str.count_matches(r"\w+|[^\w\s]+").sum() + len(pl.read_parquet(path)) for path in storage.path("corpus").glob("*.parquet"))  # fmt: skip
        with storage.connection(read_only=True) as connection:
            recorded = connection.execute(
                "SELECT checkpoint_id, origin, run_id, step, tokens_seen, run_tokens FROM checkpoints ORDER BY checkpoint_id"
            ).fetchall()
            proxies = store.proxy_accuracy(connection, resources["modeling"].decoding().label())
            assert store.corpus_tokens(connection) == corpus_tokens
        assert recorded == [
            ("ext-step10", "registered", "ext", 10, 1000, None),
            ("no-tokens", "registered", "no-tokens", None, None, None),
            ("tiny-a", "trained", "tiny-a", 12, 12 * tokens_per_step, 12 * tokens_per_step),
            ("tiny-a.step000006", "trained", "tiny-a", 6, 6 * tokens_per_step, 12 * tokens_per_step),
        ]
        assert proxies.columns == ["model", "params", "idx", "acc", "tokens", "run_id", "run_tokens", "step"]
        assert proxies.schema["tokens"] == pl.Int64
        assert proxies.group_by("model").agg(pl.col("tokens", "step").first()).sort("model").rows() == [
            ("tiny-a", 12 * tokens_per_step, 12), ("tiny-a.step000006", 6 * tokens_per_step, 6)
        ]  # fmt: skip
        metadata = _materialization_metadata(instance, "tiny-a.step000006")
        assert (metadata["run_id"], metadata["step"], metadata["tokens"]) == ("tiny-a", 6, 6 * tokens_per_step)
        assert metadata["epochs"] == round(6 * tokens_per_step / corpus_tokens, 4)

        summary = report(storage, resources["modeling"], instance)
        assert summary["corpus_tokens"] == corpus_tokens
        intermediate = next(row for row in summary["checkpoints"] if row["id"] == "tiny-a.step000006")
        assert (intermediate["run_id"], intermediate["step"], intermediate["tokens"]) == ("tiny-a", 6, 6 * tokens_per_step)
        assert intermediate["epochs"] == pytest.approx(6 * tokens_per_step / corpus_tokens)

        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))  # `smi report` opens (and sets) the instance
        assert main(["report", "--data-dir", str(storage.root)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert f"corpus: {corpus_tokens:,} tokens" in lines
        expected = f"run tiny-a step 6  {6 * tokens_per_step:,} tokens ({6 * tokens_per_step / corpus_tokens:.3f} epochs)"
        assert any(line.startswith("tiny-a.step000006") and line.endswith(expected) for line in lines), lines
        assert any(line.startswith("no-tokens") and line.endswith("run no-tokens step ?  ? tokens (? epochs)") for line in lines), lines

        shutil.rmtree(storage.checkpoint_dir("tiny-a") / "intermediate")  # the run restarted from step 0
        stale = stale_partitions(instance, resources["inputs"], storage, resources["modeling"])
        assert stale.checkpoints == ["tiny-a.step000006"], "reported like a dropped folder that vanished"
        prune(instance, storage, stale)
        assert "tiny-a.step000006" not in instance.get_dynamic_partitions(checkpoint_partitions.name)
        with storage.connection(read_only=True) as connection:
            assert connection.execute("SELECT count(*) FROM cbqa_scores WHERE checkpoint_id = 'tiny-a.step000006'").fetchone()[0] == 0
