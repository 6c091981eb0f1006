"""The `smi` command line: thin wrappers over the same functions the assets call.

Each domain module contributes its subcommands through an ``add_commands(subparsers)``
function that registers parsers with ``set_defaults(run=callable)``; ``run`` receives the
parsed arguments and returns a process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from smi_assets.common.errors import InputError

# Modules that contribute subcommands, in the order they appear in `smi --help`.
COMMAND_MODULES = (
    "smi_assets.frequency.commands",
    "smi_assets.smi.commands",
    "smi_assets.crossmodel.commands",
    "smi_assets.checkpoints.commands",
    "smi_assets.orchestration.commands",
    "smi_assets.reference_data.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smi", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except InputError as error:
        print(f"smi {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
