"""The Dagster wiring that is not an asset.

- :mod:`resources`: the four settings resources (storage, inputs, counting, modeling), read
  from ``SMI_*`` variables; :mod:`partitions`: the dynamic shard and checkpoint partitions;
- :mod:`observe`: input hashing and partition registration for the inputs sensor;
  :mod:`automation`: the declarative automation conditions the assets declare;
- :mod:`engine`: the executor (fork-server multiprocess, or Dask); :mod:`instance`: the
  Dagster instance (``$DAGSTER_HOME``, SQLite or PostgreSQL); :mod:`metadata`: plots and
  tables for asset metadata; :mod:`maintenance`: stale partitions, orphaned runs;
- :mod:`pipeline`, :mod:`progress`, :mod:`step_preload`, :mod:`commands`: ``smi run-default``
  and its siblings, which load the code location (``smi_assets.definitions``) and run it.

The assets under ``smi_assets/defs`` import from here; the domain packages never do. Only the
runners (``pipeline``, ``step_preload``, ``commands``) import ``smi_assets.definitions``, which
in turn imports ``resources`` and ``engine``; no module here imports ``smi_assets.defs``.
"""
