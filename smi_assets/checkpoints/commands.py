"""`smi describe-checkpoint`: write or check the sidecar that says what a dropped checkpoint was trained on."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from pathlib import Path

from smi_assets.checkpoints.runs import SIDECAR_FILE, RunPosition, read_sidecar, write_sidecar


def _count(text: str) -> int:
    """A positive whole number, also written as 3e11 or 300_000_000_000."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or value != value.to_integral_value() or value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text!r}")
    return int(value)


def describe(position: RunPosition) -> str:
    tokens = "unknown tokens" if position.tokens is None else f"{position.tokens:,} training tokens"
    step = "" if position.step is None else f", step {position.step:,}"
    planned = "" if position.run_tokens is None else f" of {position.run_tokens:,} planned"
    return f"run {position.run_id!r}{step}: {tokens}{planned}"


def run_describe_checkpoint(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    given = {
        "training_tokens": args.training_tokens, "step": args.step, "tokens_per_step": args.tokens_per_step,
        "run_id": args.run_id, "run_tokens": args.run_tokens,
    }  # fmt: skip
    values = {name: value for name, value in given.items() if value is not None}
    if not values:
        position = read_sidecar(folder)  # InputError naming the file and the bad value
        if position is None:
            print(f"{folder / SIDECAR_FILE} does not exist: this checkpoint's tokens are unknown (give --training-tokens, or --step and --tokens-per-step)")
            return 1
        print(f"{folder / SIDECAR_FILE}: {describe(position)}")
        return 0
    position = write_sidecar(folder, values)
    print(f"wrote {folder / SIDECAR_FILE}: {describe(position)}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `smi describe-checkpoint` on the `smi` parser."""
    command = subparsers.add_parser(
        "describe-checkpoint",
        help=f"write (or, with no values, check) the {SIDECAR_FILE} of a dropped checkpoint folder: its training tokens, run and step",
        description=(
            f"A Hugging Face folder dropped into <data dir>/incoming_checkpoints/<name>/ states what it was trained on in {SIDECAR_FILE}: "
            "--training-tokens N, or Pythia style --step S --tokens-per-step T (tokens = S x T). Checkpoints of one run share a "
            "--run-id (default: the folder name); within a run, a later step must have more tokens. Without a sidecar the "
            "checkpoint is registered with unknown tokens and left out of the forecast's tokens axis."
        ),
    )
    command.add_argument("folder", help="the checkpoint folder (with config.json)")
    command.add_argument("--training-tokens", type=_count, help="tokens the checkpoint was trained on (counting repeats: epochs may exceed 1)")
    command.add_argument("--step", type=_count, help="its optimizer step in the run")
    command.add_argument("--tokens-per-step", type=_count, help="tokens per optimizer step (with --step, instead of --training-tokens)")
    command.add_argument("--run-id", help="the training run it belongs to (default: the folder name)")
    command.add_argument("--run-tokens", type=_count, help="tokens the whole run plans to see")
    command.set_defaults(run=run_describe_checkpoint)
