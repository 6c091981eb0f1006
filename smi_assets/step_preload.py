"""Imported by the multiprocess executor's fork server (see `smi_assets.definitions.FORK_SERVER_PRELOAD`):
builds the code location's definitions, and warms Dagster's caches, once, so that the step
processes forked from the server find them built instead of building them each time."""

from smi_assets.definitions import definitions_from_environment

definitions_from_environment().resolve_job_def("__ASSET_JOB")
