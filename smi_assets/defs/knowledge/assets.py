"""Knowledge domain: the observed triples and templates files, the triples whose frequency is
counted and the CBQA questions about them."""

import dagster as dg
import polars as pl

from smi_assets.common.storage import file_fingerprint, publish_snapshot
from smi_assets.corpus import world
from smi_assets.knowledge import loaders, questions
from smi_assets.orchestration.automation import derived
from smi_assets.orchestration.metadata import offending_rows_check, skipped_records_metadata, table_preview
from smi_assets.orchestration.observe import TEMPLATES_FILE, TRIPLES_FILE, current_versions, observable_input
from smi_assets.orchestration.partitions import world_config
from smi_assets.orchestration.resources import InputsResource, StorageResource


@observable_input(
    key=TRIPLES_FILE,
    group_name="knowledge",
    description="The triples file (`SMI_TRIPLES_PATH`, or the synthetic world's facts), observed by `inputs_sensor`: its data version is its content hash.",
)
def triples_file(inputs: InputsResource) -> dg.DataVersion:
    return dg.DataVersion(current_versions(inputs, TRIPLES_FILE)[None])


@observable_input(
    key=TEMPLATES_FILE,
    group_name="knowledge",
    description="The cloze templates file (`SMI_TEMPLATES_PATH`, or the synthetic world's), observed by `inputs_sensor`: its data version is its content hash.",
)
def templates_file(inputs: InputsResource) -> dg.DataVersion:
    return dg.DataVersion(current_versions(inputs, TEMPLATES_FILE)[None])


@dg.asset(
    deps=[triples_file],
    group_name="knowledge",
    code_version="1",
    kinds={"duckdb", "parquet"},
    automation_condition=derived(),
    description="Knowledge triples (idx, subj, rel, obj, aliases): DuckDB table `triples`.",
)
def knowledge_triples(context: dg.AssetExecutionContext, inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    n_skipped = 0
    if inputs.corpus_source == "synthetic":
        triples = world.build_world(world_config(inputs)).triples
    else:
        triples, n_skipped = loaders.load_triples(inputs.required_path("triples_path"), format=inputs.triples_format, on_error=inputs.on_error)
    with storage.connection() as connection:
        snapshot = publish_snapshot(connection, triples, storage.knowledge_path("triples.parquet"), "triples_table")
    return dg.MaterializeResult(
        metadata={
            "rows": len(triples),
            "relations": triples["rel"].n_unique(),
            **skipped_records_metadata(context, n_skipped, inputs.triples_path or "synthetic world"),
            "preview": table_preview(triples),
        },
        data_version=dg.DataVersion(file_fingerprint(snapshot)),
    )


@dg.asset(
    deps=[knowledge_triples, templates_file],
    group_name="knowledge",
    code_version="1",
    kinds={"duckdb", "parquet"},
    automation_condition=derived(),
    description="CBQA cloze questions, one per triple x template: DuckDB table `questions`.",
)
def cbqa_questions(inputs: InputsResource, storage: StorageResource) -> dg.MaterializeResult:
    triples = pl.read_parquet(storage.knowledge_path("triples.parquet"))
    if inputs.corpus_source == "synthetic" and not inputs.templates_path:
        templates = world.build_world(world_config(inputs)).templates
    else:
        templates = loaders.load_templates(inputs.required_path("templates_path"))
    frame = questions.build_questions(triples, templates, max_templates=inputs.max_templates_per_relation)
    with storage.connection() as connection:
        snapshot = publish_snapshot(connection, frame, storage.knowledge_path("questions.parquet"), "questions_table")
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "triples_asked": frame["idx"].n_unique(),
            "templates": sum(min(len(t), inputs.max_templates_per_relation) for t in templates.values()),
            "preview": table_preview(frame),
        },
        data_version=dg.DataVersion(file_fingerprint(snapshot)),
    )


@dg.asset_check(asset=knowledge_triples, blocking=True, description="Every triple id is unique.")
def triple_ids_unique(storage: StorageResource) -> dg.AssetCheckResult:
    return offending_rows_check(storage, "check_duplicate_triple_ids")


@dg.asset_check(asset=cbqa_questions, blocking=True, description="Every question's triple exists.")
def questions_have_triples(storage: StorageResource) -> dg.AssetCheckResult:
    return offending_rows_check(storage, "check_questions_without_triple")
