"""Knowledge domain: the triples whose frequency is counted and the CBQA questions about them."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from smi_assets.corpus import world
from smi_assets.defs.metadata import offending_rows_check, table_preview
from smi_assets.defs.partitions import world_config
from smi_assets.defs.resources import ProjectSettings
from smi_assets.knowledge import loaders, questions
from smi_assets.storage import file_fingerprint, publish_snapshot


def _require_path(value: str, what: str) -> str:
    if not value:
        raise ValueError(f"settings: {what} must be set when corpus_source is not 'synthetic'")
    return value


@dg.asset(
    group_name="knowledge",
    code_version="1",
    kinds={"duckdb", "parquet"},
    description="Knowledge triples (idx, subj, rel, obj, aliases): DuckDB table `triples`.",
)
def knowledge_triples(context: dg.AssetExecutionContext, settings: ProjectSettings, duckdb: DuckDBResource) -> dg.MaterializeResult:
    n_skipped = 0
    if settings.corpus_source == "synthetic":
        triples = world.build_world(world_config(settings)).triples
    else:
        path = _require_path(settings.triples_path, "triples_path")
        on_error = "skip" if settings.skip_bad_records else "raise"
        triples, n_skipped = loaders.load_triples(path, format=settings.triples_format, on_error=on_error)
    with duckdb.get_connection() as connection:
        snapshot = publish_snapshot(connection, triples, settings.knowledge_dir / "triples.parquet", "triples_table")
    return dg.MaterializeResult(
        metadata={
            "rows": len(triples),
            "relations": triples["rel"].n_unique(),
            "skipped_records": n_skipped,
            "preview": table_preview(triples),
        },
        data_version=dg.DataVersion(file_fingerprint(snapshot)),
    )


@dg.asset(
    group_name="knowledge",
    code_version="1",
    kinds={"duckdb", "parquet"},
    deps=[knowledge_triples],
    description="CBQA cloze questions, one per triple x template: DuckDB table `questions`.",
)
def cbqa_questions(context: dg.AssetExecutionContext, settings: ProjectSettings, duckdb: DuckDBResource) -> dg.MaterializeResult:
    triples = pl.read_parquet(settings.knowledge_dir / "triples.parquet")
    if settings.corpus_source == "synthetic":
        templates = world.build_world(world_config(settings)).templates
    else:
        templates = loaders.load_templates(_require_path(settings.templates_path, "templates_path"))
    frame = questions.build_questions(triples, templates, max_templates=settings.max_templates_per_relation)
    with duckdb.get_connection() as connection:
        snapshot = publish_snapshot(connection, frame, settings.knowledge_dir / "questions.parquet", "questions_table")
    return dg.MaterializeResult(
        metadata={
            "rows": len(frame),
            "triples_asked": frame["idx"].n_unique(),
            "templates": sum(min(len(t), settings.max_templates_per_relation) for t in templates.values()),
            "preview": table_preview(frame),
        },
        data_version=dg.DataVersion(file_fingerprint(snapshot)),
    )


@dg.asset_check(asset=knowledge_triples, blocking=True, description="Every triple id is unique.")
def triple_ids_unique(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    return offending_rows_check(duckdb, "check_duplicate_triple_ids")


@dg.asset_check(asset=cbqa_questions, blocking=True, description="Every question's triple exists.")
def questions_have_triples(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    return offending_rows_check(duckdb, "check_questions_without_triple")


assets = [knowledge_triples, cbqa_questions]
asset_checks = [triple_ids_unique, questions_have_triples]
