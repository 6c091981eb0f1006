"""What a forecast is about: planned runs (parameters and tokens) and runs in progress.

Kept apart from the forecaster so that the settings (`ModelingResource.planned_targets`) can
parse planned runs without importing the model's numerical stack.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from smi_assets.common.errors import InputError


@dataclass(frozen=True)
class ForecastTarget:
    """A run to forecast before it exists. `tokens` None: the tokens the ladder's recipe gives its size;
    `run_id`: the final checkpoint of that run, forecast from its own checkpoints so far."""

    name: str
    params: float
    tokens: float | None = None
    run_id: str | None = None


def _positive_number(text: str, what: str, entry: str, source: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or not math.isfinite(value):
        raise InputError(source, f"planned run {entry!r}: {what} must be a positive number, got {text!r}")
    return value


def parse_planned_runs(entries: Iterable[str], source: str = "SMI_PLANNED_RUNS") -> list[ForecastTarget]:
    """Planned runs from ``PARAMS`` or ``PARAMS:TOKENS`` entries (numbers such as ``2e6:6e7``);
    a missing tokens value means the tokens the ladder's recipe gives that size. InputError naming the
    entry for anything else, zero or negative values included."""
    targets = []
    for entry in entries:
        params_text, _, tokens_text = entry.strip().partition(":")
        params = _positive_number(params_text, "params", entry, source)
        tokens = _positive_number(tokens_text, "tokens", entry, source) if tokens_text else None
        name = f"{params:,.0f} params x " + (f"{tokens:,.0f} tokens" if tokens else "ladder-recipe tokens")
        targets.append(ForecastTarget(name, params, tokens))
    return targets
