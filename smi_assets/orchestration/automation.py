"""The automation conditions the assets declare, and the definition-time settings they read.

Every derived asset is `derived()`: it rematerializes when, and only when, something it
depends on changed (per partition where partitioned), never while it or a dependency is in
flight. Two assets differ:

- `checkpoints` trains a new partition on its own, but a changed corpus only marks the
  existing checkpoints stale; retraining them is a click, or opting in with
  ``SMI_RETRAIN_ON_CORPUS_CHANGE=true``. A partition whose source changed (a dropped folder's
  sidecar, an intermediate checkpoint rewritten by a restarted run) is registered again.
- `cbqa_scores` also re-evaluates every checkpoint on a cron (nightly by default,
  ``SMI_RESCORE_CRON``), and the new scores flow on to the fits and forecasts.

These settings shape the definitions themselves, so they are read from the environment when
the code location loads, not at run time like the resources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dagster as dg

AutomationCondition = dg.AutomationCondition


@dataclass(frozen=True)
class AutomationSettings:
    rescore_cron: str = "0 2 * * *"
    rescore_timezone: str = "UTC"
    retrain_on_corpus_change: bool = False
    # How often the automation sensor evaluates conditions and the inputs sensor hashes files.
    automation_interval_seconds: int = 30
    inputs_interval_seconds: int = 30

    @classmethod
    def from_environment(cls) -> AutomationSettings:
        env = os.environ
        return cls(
            rescore_cron=env.get("SMI_RESCORE_CRON", cls.rescore_cron),
            rescore_timezone=env.get("SMI_RESCORE_TIMEZONE", cls.rescore_timezone),
            retrain_on_corpus_change=env.get("SMI_RETRAIN_ON_CORPUS_CHANGE", "").strip().lower() in {"1", "true", "yes"},
            automation_interval_seconds=int(env.get("SMI_AUTOMATION_INTERVAL_SECONDS", cls.automation_interval_seconds)),
            inputs_interval_seconds=int(env.get("SMI_INPUTS_INTERVAL_SECONDS", cls.inputs_interval_seconds)),
        )


SETTINGS = AutomationSettings.from_environment()


# Dagster's `eager()` and `on_missing()` ignore partitions that are already missing when a
# condition is first evaluated (so that adding a condition never starts a backfill). Here a
# fresh instance must build everything, and the daemon's inputs sensor may register shards and
# checkpoints before the automation sensor's first tick, so "handled" is only a request or a
# materialization, never the first evaluation.
_HANDLED = (AutomationCondition.newly_requested() | AutomationCondition.newly_updated()).with_label("requested or updated")
_MISSING = AutomationCondition.missing().newly_true().since(_HANDLED).with_label("missing since last requested")


def _ready(optional: dg.AssetKey | None = None) -> dg.AutomationCondition:
    """Nothing involved in flight, no dependency missing (but the `optional` one, if given)."""
    deps_missing = AutomationCondition.any_deps_missing()
    if optional is not None:
        deps_missing = deps_missing.ignore(dg.AssetSelection.assets(optional))
    return ~AutomationCondition.in_progress() & ~deps_missing & ~AutomationCondition.any_deps_in_progress()


def derived(optional: dg.AssetKey | None = None) -> dg.AutomationCondition:
    """Materialize when a dependency updated or the partition is missing (once per request, so a
    failed run is not retried on every tick); not while anything involved is in flight, not
    while a dependency is missing (except the `optional` one, an input that may be unobserved)."""
    changed = (AutomationCondition.any_deps_updated().since(_HANDLED) | _MISSING).with_label("dependency updated or missing")
    return (changed & _ready(optional)).with_label("on change or when missing")


def trained_when_new(source: dg.AssetKey, settings: AutomationSettings = SETTINGS) -> dg.AutomationCondition:
    """A new checkpoint partition trains on its own; an existing one retrains only on opt-in, and
    is registered again when its `source` (what it is registered from) changed.

    A missing one also trains again when its corpus updates: a try that failed before the
    corpus was there (the daemon's first ticks race the inputs sensor) is not the end. A
    partition whose source was never observed (added by hand) is not held back by it."""
    if settings.retrain_on_corpus_change:
        return derived(optional=source)
    # Only on the tick that sees the change, not `.since()`: with Dagster 1.13.27 a `since` here
    # turned true a tick after a corpus update with no new observation of the source, which
    # retrained every ladder checkpoint (test_a_new_shard_is_scanned_alone_...). A change seen
    # while a dependency is in flight is therefore registered on the next change or a click.
    source_changed = AutomationCondition.any_deps_match(AutomationCondition.newly_updated()).allow(dg.AssetSelection.assets(source))
    train_new = (AutomationCondition.missing() & derived(optional=source)).with_label("train new checkpoints")
    return (train_new | (source_changed & _ready(optional=source)).with_label("register again when the source changed")).with_label(
        "train new checkpoints, register changed ones again"
    )


def rescored(settings: AutomationSettings = SETTINGS) -> dg.AutomationCondition:
    """`derived()`, and once per cron tick whatever changed."""
    nightly = (
        AutomationCondition.cron_tick_passed(settings.rescore_cron, settings.rescore_timezone).since_last_handled()
        & ~AutomationCondition.in_progress()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
    ).with_label(f"rescore on cron {settings.rescore_cron} ({settings.rescore_timezone})")
    return (derived() | nightly).with_label("derived, or on the rescore cron")
