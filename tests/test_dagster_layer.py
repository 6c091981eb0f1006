"""The Dagster layer: definitions load, the sensors register new partitions, the schedule
asks for one run per checkpoint, and the default graph materializes end to end on a tiny
world without duplicating rows or retraining when rerun."""

from __future__ import annotations

import dataclasses
import json

import dagster as dg
import duckdb
import pytest

from smi_assets.definitions import build_definitions
from smi_assets.defs import automation
from smi_assets.defs import checkpoints as checkpoint_defs
from smi_assets.defs.partitions import checkpoint_partitions, corpus_shards
from smi_assets.defs.resources import ProjectSettings
from smi_assets.pipeline import report, run_default
from training.config import DEFAULT_LADDER, ModelConfig, TrainConfig
from training.model import build_model
from training.tokenizer import train_tokenizer

TINY_LADDER = {
    "tiny-a": TrainConfig(
        model=ModelConfig(n_layer=1, n_embd=16, n_head=2, block_size=32), max_steps=12, batch_size=8,
        grad_accum_steps=1, warmup_steps=2, checkpoint_every=6, log_every=6,
    ),
    "tiny-b": TrainConfig(
        model=ModelConfig(n_layer=2, n_embd=32, n_head=2, block_size=32), max_steps=12, batch_size=8,
        grad_accum_steps=1, warmup_steps=2, checkpoint_every=6, log_every=6,
    ),
}  # fmt: skip


@pytest.fixture
def tiny_ladder(monkeypatch):
    monkeypatch.setattr(checkpoint_defs, "DEFAULT_LADDER", TINY_LADDER)
    return TINY_LADDER


def tiny_settings(tmp_path, **overrides) -> ProjectSettings:
    values = dict(data_dir=str(tmp_path / "data"), world_people=24, world_shards=2, planned_params=[50_000], max_templates_per_relation=2)
    values.update(overrides)
    return ProjectSettings(**values)


def test_definitions_load_with_every_domain():
    definitions = build_definitions()
    dg.Definitions.validate_loadable(definitions)
    groups = {spec.group_name for spec in definitions.resolve_all_asset_specs()}
    assert {"corpus", "knowledge", "frequency", "checkpoints", "smi", "crossmodel"} <= groups
    assert {job.name for job in automation.jobs} <= {job.name for job in definitions.resolve_all_job_defs()}


def test_every_asset_has_a_code_version():
    for spec in build_definitions().resolve_all_asset_specs():
        assert spec.code_version, f"{spec.key.to_user_string()} has no code_version: reruns would mark all dependents stale"


def _save_tiny_hf_checkpoint(folder, texts):
    tokenizer = train_tokenizer(texts, kind="word", vocab_size=200)
    config = ModelConfig(n_layer=1, n_embd=16, n_head=2, block_size=32, vocab_size=len(tokenizer))
    build_model(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def test_checkpoint_sensor_registers_a_dropped_checkpoint(tmp_path, tiny_ladder):
    settings = tiny_settings(tmp_path)
    _save_tiny_hf_checkpoint(settings.incoming_checkpoints_dir / "dropped-model", ["alice was born in paris ."] * 4)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"settings": settings})
        result = automation.checkpoint_sensor(context)
        added = [key for request in result.dynamic_partitions_requests for key in request.partition_keys]
        assert added == ["tiny-a", "tiny-b", "dropped-model"]
        assert [request.partition_key for request in result.run_requests] == added
        # Once registered, the same folder is not requested again.
        instance.add_dynamic_partitions(checkpoint_partitions.name, added)
        assert isinstance(automation.checkpoint_sensor(dg.build_sensor_context(instance=instance, resources={"settings": settings})), dg.SkipReason)


def test_nightly_schedule_requests_one_run_per_checkpoint():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(checkpoint_partitions.name, ["model-b", "model-a", "model-c"])
        requests = automation.nightly_rescore_schedule(dg.build_schedule_context(instance=instance))
        assert sorted(request.partition_key for request in requests) == ["model-a", "model-b", "model-c"]
        assert automation.nightly_rescore_schedule.cron_schedule == "0 2 * * *"


def _table_counts(database) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = [row[0] for row in connection.execute("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()]
        return {table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def test_default_graph_end_to_end_is_idempotent_and_reuses_checkpoints(tmp_path, tiny_ladder, monkeypatch):
    settings = tiny_settings(tmp_path)
    with dg.instance_for_test() as instance:
        run_default(settings, instance, log=lambda message: None, cross_model=False)
        assert sorted(instance.get_dynamic_partitions(corpus_shards.name)) == ["shard-000", "shard-001"]
        first = _table_counts(settings.database_path)
        weights = {name: (settings.checkpoints_dir / name / "model.safetensors").stat().st_mtime_ns for name in tiny_ladder}

        summary = report(settings)
        assert [checkpoint["id"] for checkpoint in summary["checkpoints"]] == ["tiny-a", "tiny-b"]
        assert {fit["method"] for fit in summary["fits"]} == {"CO-OCCUR", "MI", "SMI"}
        assert [row["planned_params"] for row in summary["forecast"]] == [50_000]
        assert summary["leave_one_size_out_mae"] is not None
        json.dumps(summary)

        run_default(settings, instance, log=lambda message: None, cross_model=False)
        assert _table_counts(settings.database_path) == first, "a rerun must replace rows, never add them"
        assert {name: (settings.checkpoints_dir / name / "model.safetensors").stat().st_mtime_ns for name in tiny_ladder} == weights

        # A changed training config retrains that checkpoint only.
        monkeypatch.setattr(checkpoint_defs, "DEFAULT_LADDER", dict(tiny_ladder, **{"tiny-b": dataclasses.replace(tiny_ladder["tiny-b"], max_steps=14)}))
        run_default(settings, instance, log=lambda message: None, cross_model=False)
        retrained = {name: (settings.checkpoints_dir / name / "model.safetensors").stat().st_mtime_ns for name in tiny_ladder}
        assert retrained["tiny-a"] == weights["tiny-a"] and retrained["tiny-b"] != weights["tiny-b"]

    with duckdb.connect(str(settings.database_path), read_only=True) as connection:
        n_questions = connection.execute("SELECT count(*) FROM questions").fetchone()[0]
        n_triples = connection.execute("SELECT count(*) FROM triples").fetchone()[0]
        lineage = json.loads(connection.execute("SELECT any_value(lineage) FROM cbqa_forecast").fetchone()[0])
    assert first["knowledge_frequency"] == n_triples
    assert first["cbqa_scores"] == n_questions * len(tiny_ladder)
    assert set(lineage) == {"corpus_documents", "knowledge_triples", "knowledge_frequency", "checkpoints"}
    assert set(lineage["checkpoints"]) == set(tiny_ladder) and all(lineage["checkpoints"].values())


def test_default_ladder_spans_ten_times_in_parameters():
    sizes = []
    for config in DEFAULT_LADDER.values():
        model = build_model(dataclasses.replace(config.model, vocab_size=2000))
        sizes.append(sum(parameter.numel() for parameter in model.parameters()))
    assert len(sizes) >= 3 and max(sizes) >= 10 * min(sizes)


def _data_version(instance, asset, partition_key=None) -> str:
    record = instance.get_latest_data_version_record(asset.key, partition_key=partition_key)
    return record.asset_materialization.tags["dagster/data_version"]


def test_file_corpus_new_shard_and_edited_template_touch_only_their_dependents(tmp_path):
    from smi_assets.defs import corpus, frequency, knowledge

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    (corpus_dir / "part-1.jsonl").write_text(
        '{"text": "Ada Lovelace was born in London."}\n{"text": "London is large."}\n'
    )
    triples_path = tmp_path / "triples.json"
    triples_path.write_text(json.dumps([{"idx": 1, "subj": "Ada Lovelace", "rel": "born", "obj": "London", "qus": "Ada Lovelace was born in"}]))
    templates_path = tmp_path / "templates.json"
    templates_path.write_text(json.dumps({"born": ["[S] was born in"]}))
    settings = tiny_settings(
        tmp_path, corpus_source="files", corpus_glob=str(corpus_dir / "*.jsonl"),
        triples_path=str(triples_path), templates_path=str(templates_path),
    )  # fmt: skip
    resources = build_definitions(settings).resources
    every_asset = [*corpus.assets, *knowledge.assets, *frequency.assets, *corpus.asset_checks, *knowledge.asset_checks, *frequency.asset_checks]

    def materialize(assets, partition_key=None):
        dg.materialize(every_asset, selection=dg.AssetSelection.assets(*assets), partition_key=partition_key, instance=instance, resources=resources)

    with dg.instance_for_test() as instance:
        first = automation.corpus_shard_sensor(dg.build_sensor_context(instance=instance, resources={"settings": settings}))
        [shard] = [key for request in first.dynamic_partitions_requests for key in request.partition_keys]
        instance.add_dynamic_partitions(corpus_shards.name, [shard])
        materialize(knowledge.assets)
        materialize([corpus.corpus_documents, frequency.shard_knowledge_counts], shard)
        materialize([frequency.knowledge_frequency])
        with duckdb.connect(str(settings.database_path), read_only=True) as connection:
            assert connection.execute("SELECT N, N_s, N_o, N_so FROM knowledge_frequency").fetchone() == (2, 1, 2, 1)
        triples_version, questions_version = _data_version(instance, knowledge.knowledge_triples), _data_version(instance, knowledge.cbqa_questions)

        templates_path.write_text(json.dumps({"born": ["[S] was born in", "[S] is a native of"]}))
        materialize(knowledge.assets)
        assert _data_version(instance, knowledge.knowledge_triples) == triples_version, "unchanged triples keep their data version"
        assert _data_version(instance, knowledge.cbqa_questions) != questions_version

        (corpus_dir / "part-2.jsonl").write_text('{"text": "Ada Lovelace lived in London."}\n')
        second = automation.corpus_shard_sensor(dg.build_sensor_context(instance=instance, resources={"settings": settings}))
        assert [request.partition_key for request in second.run_requests] == ["part-2"], "only the new shard is scanned"
