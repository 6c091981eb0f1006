"""The public reference tables (SMI, ObsScaling, CPP, Not-Just-Scaling): pinned upstream
files, verified by sha256 and cached in ``<data dir>/reference`` by ``smi fetch-reference``.

Plain functions, no Dagster. Imports only ``smi_assets.common``.
"""
