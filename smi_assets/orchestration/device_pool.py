"""The `gpu` pool, claimed by a training for as long as it trains, not by the `checkpoints` step.

One asset, `checkpoints`, both trains the ladder's checkpoints and registers the intermediate
checkpoints a training leaves and the folders people drop in. A ``pool=`` on the asset would make
every registration wait for the slot a training holds, so the intermediate checkpoints of a run
could be scored and forecast only once the run had ended: what they exist for is the forecast
*during* the run. So only the training claims a slot, here, through the instance's concurrency
storage: the same slots Dagster's executors claim for a pooled step, limited by the instance's
``concurrency: pools: default_limit`` (1 in `dagster_home/dagster.yaml`: two trainings never share
a device), shown on the UI's pool page and freed for a dead run by
:mod:`smi_assets.orchestration.maintenance`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

DEVICE_POOL = "gpu"


def slot_holders(instance: dg.DagsterInstance, pool: str = DEVICE_POOL) -> str:
    """Which runs hold the pool's slots, in words."""
    runs = sorted({slot.run_id for slot in instance.event_log_storage.get_concurrency_info(pool).claimed_slots})
    return f"held by run {', '.join(runs)}" if runs else "no run holds it"


def _limited(storage, pool: str) -> bool:
    """Whether the instance limits `pool`, setting its limit to the instance default on first use
    (as the executors do for a pooled step); an instance without concurrency storage (in memory)
    or without a default limit leaves it unlimited."""
    if not storage.supports_global_concurrency_limits:
        return False
    if any(limit.name == pool for limit in storage.get_pool_limits()):
        return True
    if storage.get_pool_config().default_pool_limit is None:
        return False
    storage.initialize_concurrency_limit_to_default(pool)
    return True


@contextmanager
def device_slot(context: dg.AssetExecutionContext, wait_seconds: float, poll_seconds: float = 2.0) -> Iterator[None]:
    """Hold a slot of the `gpu` pool while the block runs, waiting at most `wait_seconds` for one.

    A wait is said once in the run log as a ``waiting`` notice naming the run that holds the
    slot (`smi run-default` prints it); past `wait_seconds` the pending claim is withdrawn and
    TimeoutError says what held the slot."""
    instance, run_id, step = context.instance, context.run.run_id, context.asset_key.to_user_string()
    storage = instance.event_log_storage
    if not _limited(storage, DEVICE_POOL):
        yield
        return
    started = time.monotonic()
    announced = False
    while not (claim := storage.claim_concurrency_slot(DEVICE_POOL, run_id, step)).is_claimed:
        waited = time.monotonic() - started
        if waited > wait_seconds:
            holders = slot_holders(instance)
            storage.free_concurrency_slot_for_step(run_id, step)
            raise TimeoutError(
                f"gave up after {waited:.0f} s waiting for a slot of pool {DEVICE_POOL!r} to train ({holders}); raise SMI_POOL_WAIT_SECONDS or free the slot"
            )
        if not announced:
            message = f"waiting for a slot of pool {DEVICE_POOL!r} to train ({slot_holders(instance)})"
            context.log.info(json.dumps({"event": "waiting", "message": message}))
            announced = True
        time.sleep(min(claim.sleep_interval or poll_seconds, poll_seconds))
    try:
        yield
    finally:
        storage.free_concurrency_slot_for_step(run_id, step)
