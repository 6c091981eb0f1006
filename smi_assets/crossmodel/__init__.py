"""Cross-model predictors over tables of many models' benchmark scores: the table
(:mod:`benchmark_table`), observational scaling laws (:mod:`obs_scaling`), collaborative
performance prediction (:mod:`cpp`), design-factor regression (:mod:`design_factors`). Plain
functions, no Dagster. Imports only ``smi_assets.common``. Imported by the Dagster layer and the
CLI.
"""
