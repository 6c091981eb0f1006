"""Where the steps of a run execute: local processes (default) or a Dask cluster.

One setting chooses it: without ``SMI_DASK_SCHEDULER`` every run uses Dagster's multiprocess
executor; with ``SMI_DASK_SCHEDULER=tcp://host:8786`` each step is submitted to that Dask
scheduler and runs on one of its workers, which may be on Slurm nodes (dask-jobqueue's
``SLURMCluster``, or ``srun dask worker``) or Kubernetes pods (dask-kubernetes).

The Dask executor is Dagster's step-delegating executor with a Dask step handler: the run's
orchestrator decides which steps may start (dependencies, pools such as ``gpu`` with the
instance's limits, retry policies, ``max_concurrent``), submits each one
as a Dask task that runs ``dagster api execute_step`` on a worker, and follows the steps
through the event log. Workers write their events to the instance themselves, so workers on
other machines need the shared instance (``SMI_INSTANCE=postgres``) and the shared data
directory. A worker that dies mid-step is handled by Dask: its task reruns on another
worker. (dagster-dask's own executor ignores pools and retry policies, which is why it is not
used here.)
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
from collections.abc import Iterator, Mapping, Sequence

import dagster as dg
from dagster._cli.api import execute_step_command
from dagster._core.definitions.executor_definition import multiple_process_executor_requirements
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.executor.step_delegating import (
    CheckStepHealthResult,
    StepDelegatingExecutor,
    StepHandler,
    StepHandlerContext,
)
from dagster_shared.serdes import serialize_value

from smi_assets.common.errors import ServiceUnavailableError

DASK_SCHEDULER_SETTING = "SMI_DASK_SCHEDULER"
# Two cores is the design target of the local executor; raise it on bigger machines.
LOCAL_MAX_CONCURRENT = 2


def dask_scheduler_address(environ: Mapping[str, str] = os.environ) -> str:
    """The Dask scheduler `SMI_DASK_SCHEDULER` names, or "" for local step processes."""
    return environ.get(DASK_SCHEDULER_SETTING, "").strip()


def executor_from_environment(environ: Mapping[str, str] = os.environ, preload_modules: list[str] | None = None) -> dg.ExecutorDefinition:
    """The multiprocess executor, or the Dask executor when ``SMI_DASK_SCHEDULER`` is set.

    Local steps fork from a server that imported `preload_modules` (the code location) once,
    instead of each step process importing torch, transformers and the rest again (seconds
    per step)."""
    address = dask_scheduler_address(environ)
    if not address:
        start_method = {"forkserver": {"preload_modules": preload_modules}} if preload_modules else {"spawn": {}}
        return dg.multiprocess_executor.configured({"max_concurrent": LOCAL_MAX_CONCURRENT, "start_method": start_method})
    return dask_executor.configured({"scheduler": address})


def start_local_step_server(preload_modules: Sequence[str], environ: Mapping[str, str] = os.environ) -> bool:
    """Start the fork server that the multiprocess executor forks its step processes from, now,
    preloading `preload_modules` as the executor would; returns whether it started one (not
    with Dask). The executor finds the server running and uses it, so the server's imports
    (the code location, torch, transformers, Dagster's storage: several seconds) overlap the
    caller's own work instead of delaying the first step."""
    if dask_scheduler_address(environ):
        return False
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(preload_modules))
    multiprocessing.forkserver.ensure_running()
    return True


def connect_to_scheduler(address: str, timeout_s: float = 10):
    """A Dask client of the scheduler at `address`, or `ServiceUnavailableError` naming the setting."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ServiceUnavailableError("Dask scheduler", address, DASK_SCHEDULER_SETTING, reason) from error


def execute_step_on_worker(serialized_step_args: str) -> int:
    """Run one step on a Dask worker, exactly as `dagster api execute_step` would; returns the pid."""
    execute_step_command.callback(input_json=serialized_step_args, compressed_input_json=None)
    return os.getpid()


class DaskStepHandler(StepHandler):
    """Submits each step as a Dask task; a step is unhealthy once its task errs or is lost."""

    def __init__(self, address: str):
        self._address = address
        self._client = None
        self._futures: dict[tuple[str, str], object] = {}

    @property
    def name(self) -> str:
        return "DaskStepHandler"

    def _step(self, context: StepHandlerContext) -> tuple[str, str]:
        [step_key] = context.execute_step_args.step_keys_to_execute
        return context.execute_step_args.run_id, step_key

    def launch_step(self, step_handler_context: StepHandlerContext) -> Iterator[dg.DagsterEvent]:
        if self._client is None:
            self._client = connect_to_scheduler(self._address)
        run_id, step_key = self._step(step_handler_context)
        attempt = step_handler_context.execute_step_args.known_state.get_retry_state().get_attempt_count(step_key)
        future = self._client.submit(
            execute_step_on_worker,
            serialize_value(step_handler_context.execute_step_args),
            key=f"{step_key}-{run_id}-attempt-{attempt}",
            pure=False,
        )
        self._futures[(run_id, step_key)] = future
        yield dg.DagsterEvent.step_worker_starting(
            step_handler_context.get_step_context(step_key),
            message=f"Submitted step {step_key} to the Dask scheduler at {self._address}.",
            metadata={"dask_task": future.key},
        )

    def check_step_health(self, step_handler_context: StepHandlerContext) -> CheckStepHealthResult:
        future = self._futures.get(self._step(step_handler_context))
        if future is None:
            return CheckStepHealthResult.unhealthy("the step was never submitted to Dask")
        if future.status == "error":
            return CheckStepHealthResult.unhealthy(f"its Dask task failed: {future.exception()!r}")
        if future.status in {"cancelled", "lost"}:
            return CheckStepHealthResult.unhealthy(f"its Dask task is {future.status}")
        return CheckStepHealthResult.healthy()

    def terminate_step(self, step_handler_context: StepHandlerContext) -> Iterator[dg.DagsterEvent]:
        future = self._futures.pop(self._step(step_handler_context), None)
        if future is not None:
            future.cancel()
        return iter(())


@dg.executor(
    name="dask_steps",
    config_schema={
        "scheduler": dg.Field(dg.StringSource, description="Address of the Dask scheduler, e.g. tcp://host:8786."),
        "max_concurrent": dg.Field(int, is_required=False, description="Steps of one run in flight at once (default: no limit)."),
        "retries": get_retries_config(),
    },
    requirements=multiple_process_executor_requirements(),
)
def dask_executor(init_context: dg.InitExecutorContext) -> StepDelegatingExecutor:
    """Each step of the run on a worker of an existing Dask cluster."""
    config = init_context.executor_config
    return StepDelegatingExecutor(
        DaskStepHandler(config["scheduler"]),
        retries=RetryMode.from_config(config["retries"]),
        max_concurrent=config.get("max_concurrent"),
        sleep_seconds=0.2,
        check_step_health_interval_seconds=5,
    )
