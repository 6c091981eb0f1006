"""Entry point of the training subprocess launched through dagster-pipes.

Training runs in its own process so a crash or a kill cannot take the Dagster run worker
with it, and so the same command can later run on a GPU node through another pipes
client. The launching asset passes the training config, corpus files, output folder and
lock timeout as pipes extras; this process streams progress as log lines and reports the
final numbers. Resuming after a kill is the training loop's job (it keeps its state in the
output folder).

The process dies with its launcher (`training.processes.die_with_parent`, set before the
slow imports). With ``n_processes > 1`` `command` starts it under torchrun, once per rank:
rank 0 alone opens the pipes session (one reporter per asset), the other ranks only read
the same launch context.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from training.processes import PARENT_PID_ENV, die_with_parent, parent_pid_from_environment

if TYPE_CHECKING:
    from training.train import Progress, TrainResult

MODULE = "smi_assets.checkpoints.train_process"


def command(n_processes: int) -> list[str]:
    """The pipes subprocess command for a config with `n_processes` data-parallel processes."""
    from training.distributed import launch_command  # torch: kept out of this module's import

    return launch_command(n_processes, MODULE)


def environment() -> dict[str, str]:
    """Extra environment for the pipes subprocess: this (the launching) process's pid, so the
    trainer notices a launcher that died even before the trainer started."""
    return {PARENT_PID_ENV: str(os.getpid())}


# Every log line through pipes becomes an event the instance stores and the UI and `smi
# run-default` read back; a step line per `log_every` steps would be hundreds per training.
STEP_REPORT_INTERVAL_S = 2.0


def throttled(report: Progress, interval_s: float = STEP_REPORT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> Progress:
    """`report`, passing "step" progress at most once per `interval_s` (and always the last
    step); every other event (resumed, checkpoint, done) goes through at once."""
    last_sent = -float("inf")

    def report_throttled(progress: dict) -> None:
        nonlocal last_sent
        if progress.get("event") == "step":
            now = clock()
            if progress["step"] < progress["max_steps"] and now - last_sent < interval_s:
                return
            last_sent = now
        report(progress)

    return report_throttled


def _train(extras: dict, report_progress: Progress | None) -> TrainResult:
    from training.config import TrainConfig
    from training.processes import DEFAULT_LOCK_TIMEOUT_S
    from training.train import train

    config = TrainConfig.from_dict(extras["config"])
    return train(
        config, [Path(path) for path in extras["corpus_files"]], Path(extras["out_dir"]),
        on_progress=report_progress, lock_timeout_s=float(extras.get("lock_timeout_s", DEFAULT_LOCK_TIMEOUT_S)),
        tokenized_dir=Path(extras["tokenized_dir"]) if extras.get("tokenized_dir") else None,
    )  # fmt: skip


def main() -> None:
    die_with_parent(parent_pid_from_environment())
    from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader, open_dagster_pipes
    from transformers.utils import logging as transformers_logging

    from training.distributed import current_ranks

    transformers_logging.disable_progress_bar()  # progress goes to the pipes log instead
    if not current_ranks().is_main:
        with PipesDefaultContextLoader().load_context(PipesEnvVarParamsLoader().load_context_params()) as context:
            _train(context["extras"], None)
        return
    with open_dagster_pipes() as pipes:
        result = _train(pipes.extras, throttled(lambda progress: pipes.log.info(json.dumps(progress))))
        pipes.report_asset_materialization(
            metadata={
                "params": result.params,
                "non_embedding_params": result.non_embedding_params,
                "tokens_seen": result.tokens_seen,
                "final_loss": result.final_loss,
                "tokens_per_second": result.tokens_per_second,
            }
        )


if __name__ == "__main__":
    main()
