"""SMI and forecasting, plain functions over polars frames.

- :mod:`metrics`: CO-OCCUR, MI and SMI per triple in the paper's three variants;
  :mod:`fit`: the paper's grouped least-squares fit and question-level checks;
  :mod:`reference`: the paper's published per-question data;
- :mod:`smi_assets.smi.forecast`: per-question forecasts of models not trained yet (start there);
- :mod:`commands`: ``smi fit-reference`` and ``smi forecast-reference``.

Imports only ``smi_assets.common``; imported by the Dagster layer and the CLI.
"""
