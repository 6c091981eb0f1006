"""Checkpoints and their scores in DuckDB (:mod:`store`), where each sits in its training run
(:mod:`runs`: run, step, tokens; the sidecar of a dropped folder and `smi describe-checkpoint`,
:mod:`commands`), and the training subprocess the
``checkpoints`` asset launches through dagster-pipes (:mod:`train_process`, on Kubernetes
:mod:`training_pod`). Plain functions, no Dagster. Imports ``smi_assets.common`` and
``training``; the training subprocess alone imports ``dagster_pipes``. Imported by the Dagster
layer and the CLI.
"""
