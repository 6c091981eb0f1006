"""The code location: every definition under `smi_assets/defs/`, plus resources and executor.

`smi_assets/defs/` is the `dg` defs folder (one folder per domain with its assets, checks and
automation), loaded with `load_from_defs_folder`. Resources come from the ``SMI_*``
environment (`smi_assets.orchestration.resources`) and can be replaced whole, which is how tests point the
graph at a temporary data directory.
"""

from __future__ import annotations

import functools
import pkgutil
from pathlib import Path

import dagster as dg

from smi_assets import defs as defs_folder
from smi_assets.orchestration.engine import executor_from_environment
from smi_assets.orchestration.resources import resources_from_environment

# What the executor's fork server imports once, so each forked step process starts with it:
# every module of the defs folder, and `smi_assets.orchestration.step_preload`, which builds the definitions
# (a second or so per step process otherwise).
FORK_SERVER_PRELOAD = [module.name for module in pkgutil.walk_packages(defs_folder.__path__, f"{defs_folder.__name__}.")] + [
    "smi_assets.orchestration.step_preload"
]


def build_definitions(resources: dict[str, dg.ConfigurableResource] | None = None) -> dg.Definitions:
    folder = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    return dg.Definitions.merge(
        folder,
        dg.Definitions(
            resources={
                **(resources if resources is not None else resources_from_environment(as_env_vars=True)),
                "pipes_subprocess_client": dg.PipesSubprocessClient(),
            },
            executor=executor_from_environment(preload_modules=FORK_SERVER_PRELOAD),
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return definitions_from_environment()


@functools.cache
def definitions_from_environment() -> dg.Definitions:
    """The code location's definitions, built once per process: the environment they read does
    not change within one, and every step process of a run loads them again."""
    return build_definitions()
