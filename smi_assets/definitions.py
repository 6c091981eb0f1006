"""The project's one `Definitions`: every asset domain, its checks, jobs, sensors and resources."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from smi_assets.defs import (
    automation,
    checkpoints,
    corpus,
    crossmodel,
    frequency,
    knowledge,
    smi,
)
from smi_assets.defs.resources import ProjectSettings, settings_from_environment

DOMAINS = (corpus, knowledge, frequency, checkpoints, smi, crossmodel)


def build_resources(settings: ProjectSettings) -> dict[str, object]:
    return {
        "settings": settings,
        "duckdb": DuckDBResource(database=str(settings.database_path)),
        "pipes_subprocess_client": dg.PipesSubprocessClient(),
    }


def build_definitions(settings: ProjectSettings | None = None) -> dg.Definitions:
    settings = settings or settings_from_environment()
    return dg.Definitions(
        assets=[asset for domain in DOMAINS for asset in domain.assets],
        asset_checks=[check for domain in DOMAINS for check in getattr(domain, "asset_checks", [])],
        jobs=automation.jobs,
        sensors=automation.sensors,
        schedules=automation.schedules,
        resources=build_resources(settings),
        # Two cores is the design target; raise max_concurrent on bigger machines.
        executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    )


defs = build_definitions()
