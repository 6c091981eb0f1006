"""`smi export-templates`: the synthetic world's cloze templates as a file to edit."""

from __future__ import annotations

import argparse


def run_export_templates(args: argparse.Namespace) -> int:
    # Imported here: `smi` builds every command's parser, and the resources import Dagster,
    # which would add a second to every other command's start-up (`smi count` among them).
    from smi_assets.corpus import world
    from smi_assets.knowledge.loaders import save_templates
    from smi_assets.partitions import world_config
    from smi_assets.resources import resources_from_environment

    templates = world.build_world(world_config(resources_from_environment()["inputs"])).templates
    path = save_templates(templates, args.path)
    print(f"wrote {sum(map(len, templates.values()))} templates of {len(templates)} relations to {path}; set SMI_TEMPLATES_PATH={path} to ask with them")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export-templates",
        help="write the synthetic world's cloze templates to a JSON file",
        description="With SMI_TEMPLATES_PATH pointing at the file, the synthetic world's questions come from it: "
        "edit it and, under `dagster dev`, only cbqa_questions and its dependents rematerialize.",
    )
    export.add_argument("path", help="the JSON file to write (relation -> list of templates with [S])")
    export.set_defaults(run=run_export_templates)
