"""smi-forecast: predict what a language model will know before it is trained.

The package has three layers; each imports only from the layers above it in this list:

1. ``common``: plain helpers every layer uses (errors, SQL files, atomic writes).
2. Domain packages, plain functions with no Dagster in them, tested on their own:
   ``corpus``, ``knowledge``, ``frequency``, ``smi`` (with ``smi.forecast``), ``crossmodel``,
   ``checkpoints``, ``reference_data``, and the top-level ``training`` package.
3. The Dagster layer: ``orchestration`` (resources, partitions, observation, automation
   conditions, executor, instance, the ``smi run-default`` walk), ``defs`` (the assets,
   checks and sensors, autoloaded) and ``definitions`` (the code location).

``cli`` (the ``smi`` command) sits on top: each package's ``commands`` module adds its
subcommands. docs/ARCHITECTURE.md draws the layers and says where new code goes.
"""
