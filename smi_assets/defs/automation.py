"""Jobs, sensors and the nightly schedule.

Sensors and schedules only fire under a daemon with a persistent ``DAGSTER_HOME`` (see the
README). Each sensor compares what the settings say should exist with the instance's
dynamic partitions, registers what is missing and asks for runs of the new partitions only.
"""

import dagster as dg

from smi_assets.defs.checkpoints import cbqa_scores, checkpoints, expected_checkpoints
from smi_assets.defs.corpus import corpus_documents
from smi_assets.defs.frequency import shard_knowledge_counts
from smi_assets.defs.partitions import (
    checkpoint_partitions,
    corpus_shards,
    expected_shards,
)
from smi_assets.defs.resources import ProjectSettings, settings_from_environment
from smi_assets.defs.smi import smi_fit

scan_shard_job = dg.define_asset_job(
    "scan_shard",
    selection=[corpus_documents, shard_knowledge_counts],
    description="Load one corpus shard and count its entity mentions.",
)
register_checkpoint_job = dg.define_asset_job(
    "register_checkpoint",
    selection=[checkpoints, cbqa_scores, smi_fit],
    description="Train or register one checkpoint, score it and fit SMI.",
)
rescore_checkpoint_job = dg.define_asset_job(
    "rescore_checkpoint",
    selection=[cbqa_scores, smi_fit],
    description="Re-run CBQA evaluation and the SMI fit of one checkpoint.",
)


def _new_partition_runs(
    context: dg.SensorEvaluationContext, partitions: dg.DynamicPartitionsDefinition, expected: list[str], job_name: str
) -> dg.SensorResult | dg.SkipReason:
    known = set(context.instance.get_dynamic_partitions(partitions.name))
    new = [key for key in expected if key not in known]
    if not new:
        return dg.SkipReason(f"no new {partitions.name} partitions")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, job_name=job_name, run_key=f"{partitions.name}:{key}") for key in new],
        dynamic_partitions_requests=[partitions.build_add_request(new)],
    )


@dg.sensor(job=scan_shard_job, minimum_interval_seconds=60, description="Registers new corpus shards (files matching the glob) and scans them.")
def corpus_shard_sensor(context: dg.SensorEvaluationContext, settings: ProjectSettings):
    return _new_partition_runs(context, corpus_shards, list(expected_shards(settings)), scan_shard_job.name)


@dg.sensor(
    job=register_checkpoint_job,
    minimum_interval_seconds=60,
    description="Registers ladder configs and HF checkpoints dropped into data/incoming_checkpoints/, then trains or loads, scores and fits them.",
)
def checkpoint_sensor(context: dg.SensorEvaluationContext, settings: ProjectSettings):
    return _new_partition_runs(context, checkpoint_partitions, expected_checkpoints(settings), register_checkpoint_job.name)


def rescore_requests(instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    """One run request per checkpoint partition known to the instance."""
    return [dg.RunRequest(partition_key=key) for key in sorted(instance.get_dynamic_partitions(checkpoint_partitions.name))]


@dg.schedule(
    # The cron is read when the code location loads: set SMI_RESCORE_CRON to change it.
    cron_schedule=settings_from_environment().rescore_cron,
    job=rescore_checkpoint_job,
    description="Re-scores every checkpoint partition (nightly by default).",
)
def nightly_rescore_schedule(context: dg.ScheduleEvaluationContext):
    return rescore_requests(context.instance) or dg.SkipReason("no checkpoints registered yet")


jobs = [scan_shard_job, register_checkpoint_job, rescore_checkpoint_job]
sensors = [corpus_shard_sensor, checkpoint_sensor]
schedules = [nightly_rescore_schedule]
