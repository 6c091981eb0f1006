"""A tiny code location for the daemon test: a sensor that asks for three runs of a job that
holds for a while. Two of them run at once (the instance allows two), the third is the one
the test kills to show a run whose process died is marked failed."""

import time

import dagster as dg

HOLD_SECONDS = {"first": 4, "second": 4, "orphaned": 120}


@dg.op(config_schema={"seconds": float})
def hold(context: dg.OpExecutionContext) -> None:
    time.sleep(context.op_config["seconds"])


@dg.job(executor_def=dg.in_process_executor)
def hold_job():
    hold()


@dg.sensor(job=hold_job, minimum_interval_seconds=1, default_status=dg.DefaultSensorStatus.RUNNING)
def request_runs(context: dg.SensorEvaluationContext):
    # Run keys make the later ticks skip: one run per key, however many ticks.
    return [
        dg.RunRequest(run_key=name, tags={"name": name}, run_config={"ops": {"hold": {"config": {"seconds": seconds}}}})
        for name, seconds in HOLD_SECONDS.items()
    ]


defs = dg.Definitions(jobs=[hold_job], sensors=[request_runs])
