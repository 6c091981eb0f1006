"""Where a checkpoint sits in its training run: the run, the step and the tokens it was trained on.

A ladder training says so in its ``training_summary.json`` (the final checkpoint in
``<data dir>/checkpoints/<run>/``, each intermediate one in ``<run>/intermediate/step<NNNNNN>/``).
A Hugging Face folder dropped into ``<data dir>/incoming_checkpoints/<name>/`` says so in a
sidecar file, ``smi_checkpoint.json``, which ``smi describe-checkpoint`` writes:

- ``{"training_tokens": N}``, optionally with ``"step": S``; or
- Pythia style ``{"step": S, "tokens_per_step": T}``: the tokens are S x T;
- either one optionally with ``"run_id"`` (default: the folder name) and ``"run_tokens"``
  (the tokens the whole run plans to see).

Every count is a positive whole number. A folder without a sidecar, or a sidecar without
tokens, has unknown tokens (None), never a guessed number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from smi_assets.common.errors import InputError
from smi_assets.common.storage import write_text_atomic

SIDECAR_FILE = "smi_checkpoint.json"
SIDECAR_FIELDS = ("training_tokens", "step", "tokens_per_step", "run_id", "run_tokens")
# The folder names training.train gives its intermediate checkpoints (its staging folders start with a dot).
INTERMEDIATE_FOLDER = re.compile(r"step\d+")


@dataclass(frozen=True)
class RunPosition:
    """A checkpoint's run, its step in that run (None: unknown), the tokens it was trained on
    (None: unknown) and the tokens the whole run plans (None: unknown)."""

    run_id: str
    step: int | None = None
    tokens: int | None = None
    run_tokens: int | None = None


def from_training_summary(summary: dict, run_id: str) -> RunPosition:
    """The position a ladder training recorded in its ``training_summary.json`` (summaries written
    before steps were recorded have only ``tokens_seen``)."""
    return RunPosition(run_id, summary.get("step"), summary["tokens_seen"], summary.get("run_tokens"))


def intermediate_key(run_id: str, folder_name: str) -> str:
    """The checkpoint partition of an intermediate checkpoint: ``<run>.step<NNNNNN>``."""
    return f"{run_id}.{folder_name}"


def read_sidecar(folder: Path) -> RunPosition | None:
    """The position the sidecar of a dropped folder states; None when the folder has no sidecar."""
    path = folder / SIDECAR_FILE
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(path, f"not a JSON object: {error}") from error
    return parse_sidecar(values, path, default_run_id=folder.name)


def parse_sidecar(values: object, source: str | Path, default_run_id: str) -> RunPosition:
    """Check a sidecar's values (see the module docstring); InputError naming `source` and the value."""
    if not isinstance(values, dict):
        raise InputError(source, f"expected a JSON object with some of {list(SIDECAR_FIELDS)}, not {values!r}")
    unknown = sorted(set(values) - set(SIDECAR_FIELDS))
    if unknown:
        raise InputError(source, f"unknown fields {unknown}; known: {list(SIDECAR_FIELDS)}")
    counts = {name: _positive_count(values[name], name, source) for name in ("training_tokens", "step", "tokens_per_step", "run_tokens") if name in values}
    if "training_tokens" in counts and "tokens_per_step" in counts:
        raise InputError(source, "give training_tokens, or step and tokens_per_step, not both")
    if "tokens_per_step" in counts and "step" not in counts:
        raise InputError(source, f"tokens_per_step {counts['tokens_per_step']} needs the step it is multiplied by")
    run_id = values.get("run_id", default_run_id)
    if not isinstance(run_id, str) or not run_id.strip():
        raise InputError(source, f"run_id must be a non-empty string, not {run_id!r}")
    tokens = counts.get("training_tokens", counts["step"] * counts["tokens_per_step"] if "tokens_per_step" in counts else None)
    if tokens is not None and "run_tokens" in counts and tokens > counts["run_tokens"]:
        raise InputError(source, f"training tokens {tokens} exceed the run's planned run_tokens {counts['run_tokens']}")
    return RunPosition(run_id, counts.get("step"), tokens, counts.get("run_tokens"))


def _positive_count(value: object, name: str, source: str | Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(source, f"{name} must be a positive whole number, not {value!r}")
    return value


def write_sidecar(folder: Path, values: dict) -> RunPosition:
    """Check `values` as a sidecar of `folder` (an HF checkpoint folder), then write it there."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise InputError(folder, "not a Hugging Face checkpoint folder (no config.json)")
    position = parse_sidecar(values, folder / SIDECAR_FILE, default_run_id=folder.name)
    write_text_atomic(json.dumps(values, indent=2) + "\n", folder / SIDECAR_FILE)
    return position
