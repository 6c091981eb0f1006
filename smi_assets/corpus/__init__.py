"""Corpus documents: the synthetic world (:mod:`world`) and readers of JSON lines, Parquet and
saved datasets (:mod:`sources`). Plain functions, no Dagster. Imports only
``smi_assets.common``. Imported by the Dagster layer and the CLI.
"""
