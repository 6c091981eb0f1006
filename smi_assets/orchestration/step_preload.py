"""Imported by the multiprocess executor's fork server (see `smi_assets.definitions.FORK_SERVER_PRELOAD`):
builds the code location's definitions, and warms Dagster's caches, once, so that the step
processes forked from the server find them built instead of building them each time.

A step process also opens the instance (``DAGSTER_HOME``) before its step starts: the first
open in a process imports the storage classes (SQLAlchemy, alembic and Dagster's storage
modules; about half a second of each step's start on 2 cores). Opening and closing it here
once leaves those imports in the server, so every forked step inherits them. The counting
kernels (the compiled module, see `smi_assets.frequency.compiled_kernels`) are loaded here for the same reason.
"""

import os
from pathlib import Path

import dagster as dg

from smi_assets.definitions import definitions_from_environment
from smi_assets.frequency.counting import load_kernels

definitions_from_environment().resolve_job_def("__ASSET_JOB")
load_kernels()

if (Path(os.environ.get("DAGSTER_HOME", "")) / "dagster.yaml").is_file():
    with dg.DagsterInstance.get():
        pass
