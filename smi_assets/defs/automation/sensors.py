"""The two sensors that keep the graph fresh, both running by default under the daemon.

- `inputs_sensor` looks at what the settings point at: it registers new corpus shards and
  checkpoints (ladder configs, the intermediate checkpoints their runs leave, folders dropped
  into `<data dir>/incoming_checkpoints/`) as dynamic partitions, and records an observation of
  each input whose content hash changed (a dropped folder's sidecar and an intermediate
  checkpoint's summary included, as `checkpoint_source`). It starts no runs itself.
- `smi_automation` is Dagster's declarative-automation sensor: it evaluates the condition each
  asset declares (`smi_assets.orchestration.automation`) and requests runs of exactly the partitions whose
  inputs changed, including the nightly re-scoring of every checkpoint.

Sensors only run under a daemon with a persistent ``DAGSTER_HOME`` (see the README).
"""

import dagster as dg

from smi_assets.orchestration.automation import SETTINGS
from smi_assets.orchestration.observe import observe_and_register
from smi_assets.orchestration.resources import InputsResource, ModelingResource, StorageResource


@dg.sensor(
    minimum_interval_seconds=SETTINGS.inputs_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers new corpus shards and checkpoints, and observes the input files' content hashes (triples, templates, corpus).",
)
def inputs_sensor(context: dg.SensorEvaluationContext, inputs: InputsResource, storage: StorageResource, modeling: ModelingResource):
    state = observe_and_register(context.instance, inputs, storage, modeling, context.cursor, register=False)
    for line in state.warnings:
        context.log.warning(line)
    if not (state.observations or state.new_shards or state.new_checkpoints):
        return dg.SkipReason(state.summary())
    return dg.SensorResult(
        asset_events=state.observations,
        dynamic_partitions_requests=state.partition_requests(),
        cursor=state.cursor,
    )


smi_automation = dg.AutomationConditionSensorDefinition(
    "smi_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SETTINGS.automation_interval_seconds,
    description="Evaluates every asset's automation condition: rematerializes what changed inputs made stale, trains new checkpoints, re-scores on the cron.",
)
