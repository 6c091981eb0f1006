"""The automation conditions the assets declare, and the definition-time settings they read.

Every derived asset is `derived()`: it rematerializes when, and only when, something it
depends on changed (per partition where partitioned), never while it or a dependency is in
flight. Two assets differ:

- `checkpoints` trains a new partition on its own, but a changed corpus only marks the
  existing checkpoints stale; retraining them is a click, or opting in with
  ``SMI_RETRAIN_ON_CORPUS_CHANGE=true``.
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
_READY = ~AutomationCondition.in_progress() & ~AutomationCondition.any_deps_missing() & ~AutomationCondition.any_deps_in_progress()


def derived() -> dg.AutomationCondition:
    """Materialize when a dependency updated or the partition is missing (once per request, so a
    failed run is not retried on every tick); not while anything involved is in flight, not
    while a dependency is missing."""
    changed = (AutomationCondition.any_deps_updated().since(_HANDLED) | _MISSING).with_label("dependency updated or missing")
    return (changed & _READY).with_label("on change or when missing")


def trained_when_new(settings: AutomationSettings = SETTINGS) -> dg.AutomationCondition:
    """A new checkpoint partition trains on its own; an existing one retrains only on opt-in.

    A missing one also trains again when its corpus updates: a try that failed before the
    corpus was there (the daemon's first ticks race the inputs sensor) is not the end."""
    if settings.retrain_on_corpus_change:
        return derived()
    return (AutomationCondition.missing() & derived()).with_label("train new checkpoints")


def rescored(settings: AutomationSettings = SETTINGS) -> dg.AutomationCondition:
    """`derived()`, and once per cron tick whatever changed."""
    nightly = (
        AutomationCondition.cron_tick_passed(settings.rescore_cron, settings.rescore_timezone).since_last_handled()
        & ~AutomationCondition.in_progress()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
    ).with_label(f"rescore on cron {settings.rescore_cron} ({settings.rescore_timezone})")
    return (derived() | nightly).with_label("derived, or on the rescore cron")
