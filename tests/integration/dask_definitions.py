"""The code location of the Dask engine test: the project's assets, resources and executor from
`build_definitions` (Dask when SMI_DASK_SCHEDULER is set; DuckDB writes go through the storage
resource's single-writer lock), and one job per stage of the backfill.
Run workers and Dask workers rebuild it from the same environment (SMI_* variables)."""

from __future__ import annotations

import time

import dagster as dg

from smi_assets.definitions import build_definitions
from smi_assets.defs.corpus.assets import corpus_documents
from smi_assets.defs.frequency.assets import knowledge_frequency, shard_knowledge_counts
from smi_assets.defs.knowledge.assets import cbqa_questions, knowledge_triples
from smi_assets.orchestration.engine import executor_from_environment
from smi_assets.orchestration.partitions import corpus_shards

JOBS = {
    "knowledge_job": dict(selection=dg.AssetSelection.assets(knowledge_triples, cbqa_questions)),
    "shard_counts_job": dict(selection=dg.AssetSelection.assets(corpus_documents, shard_knowledge_counts), partitions_def=corpus_shards),
    "frequency_job": dict(selection=dg.AssetSelection.assets(knowledge_frequency)),
}


def engine_definitions() -> dg.Definitions:
    """The project's code location (its executor is Dask when SMI_DASK_SCHEDULER is set) plus
    one job per stage of the backfill."""
    return dg.Definitions.merge(build_definitions(), dg.Definitions(jobs=[dg.define_asset_job(name, **arguments) for name, arguments in JOBS.items()]))


@dg.op(pool="gpu")
def first_training() -> None:
    time.sleep(1.5)


@dg.op(pool="gpu")
def second_training() -> None:
    time.sleep(1.5)


def two_trainings_job() -> dg.JobDefinition:
    """Two independent steps in the `gpu` pool (limit 1): the Dask executor must run them one after the other."""

    @dg.job(name="two_trainings_job", executor_def=executor_from_environment())
    def job():
        first_training()
        second_training()

    return job


def knowledge_job() -> dg.JobDefinition:
    return engine_definitions().resolve_job_def("knowledge_job")


def shard_counts_job() -> dg.JobDefinition:
    return engine_definitions().resolve_job_def("shard_counts_job")


def frequency_job() -> dg.JobDefinition:
    return engine_definitions().resolve_job_def("frequency_job")


def run_job(job_name: str, dagster_home: str, partition_key: str | None = None) -> tuple[str, bool]:
    """Execute one run of `job_name` (a run worker's part); returns (run id, success)."""
    tags = {"dagster/partition": partition_key} if partition_key else None
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        result = dg.execute_job(dg.reconstructable(globals()[job_name]), instance=instance, tags=tags)
        return result.run_id, result.success
