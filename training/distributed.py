"""Data-parallel training (DDP): the launch command, the ranks of this process, and their collectives.

A config with ``n_processes > 1`` trains under torchrun: `launch_command` runs the training
entry point through ``python -m training.torchrun --standalone --nproc-per-node N`` (torchrun
itself, made to die with its launcher). Every rank builds the same model from the same
seed and the same resume state. An optimizer step's ``grad_accum_steps`` micro-batches are
the very windows a single-process run draws (a micro-batch is a pure function of
``(seed, step, micro)``), split across ranks: rank ``r`` takes micro-batches
``r, r + N, r + 2N, ...`` (`Ranks.micro_steps`). DDP averages gradients over ranks, so each
rank scales its loss by N and the step applies the gradient of the whole global batch, as
in one process. Rank 0 alone holds the folder lock, prepares the data, reports progress
and writes the resume state and the final checkpoint, which therefore have the single-
process format. Backend: NCCL on GPU (one device per local rank), gloo on CPU.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

AGENT_MODULE = "training.torchrun"


@dataclass(frozen=True)
class Ranks:
    """Where this process sits in the job, from torchrun's environment (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def micro_steps(self, n_micro: int) -> range:
        """This rank's share of an optimizer step's `n_micro` micro-batches."""
        return range(self.rank, n_micro, self.world_size)


def current_ranks() -> Ranks:
    environment = os.environ
    return Ranks(int(environment.get("RANK", 0)), int(environment.get("WORLD_SIZE", 1)), int(environment.get("LOCAL_RANK", 0)))


def launch_command(n_processes: int, module: str, *args: str) -> list[str]:
    """The command that runs ``python -m module args``: directly for one process, under torchrun for more."""
    if n_processes == 1:
        return [sys.executable, "-m", module, *args]
    return [sys.executable, "-m", AGENT_MODULE, "--standalone", "--nproc-per-node", str(n_processes), "-m", module, *args]


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """On GPU each local rank gets its own device; on CPU all ranks share it."""
    if device.type != "cuda" or ranks.world_size == 1:
        return device
    device = torch.device("cuda", ranks.local_rank)
    torch.cuda.set_device(device)
    return device


@contextmanager
def process_group(ranks: Ranks, device: torch.device, timeout_s: float) -> Iterator[None]:
    """Join the job's process group for the block (nothing to join for one process)."""
    if ranks.world_size == 1:
        yield
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(seconds=timeout_s))
    try:
        yield
    finally:
        dist.destroy_process_group()


def barrier(ranks: Ranks, device: torch.device) -> None:
    if ranks.world_size > 1:
        dist.barrier(device_ids=[device.index] if device.type == "cuda" else None)


def sum_over_ranks(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    if ranks.world_size > 1:
        dist.all_reduce(value)
    return value


def data_parallel(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> DistributedDataParallel | None:
    """`model` wrapped for DDP, or None for one process."""
    if ranks.world_size == 1:
        return None
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
