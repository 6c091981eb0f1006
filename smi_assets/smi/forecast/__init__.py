"""Forecasting what a model will know before it is trained: the model, its evaluation, its storage.

- :mod:`.proxy`: the forecaster the pipeline uses, :class:`~.proxy.ProxyForecaster`: per-question
  accuracy of a planned size from smaller scored proxies and corpus counts (start here);
- :mod:`.counts_model`: the counts-only model (:class:`~.counts_model.SizeConditionedForecaster`),
  the count features both models share, and the scale-only / scale + relation baselines;
- :mod:`.evaluation`: the metrics every forecast is scored with, and the evaluation on the SMI
  reference data against five baselines (``smi forecast-reference``);
- :mod:`.runs`: the pipeline's forecast rows for planned sizes, keyed by the data versions they
  used, and their backtest against a checkpoint trained afterwards;
- :mod:`.store`: DuckDB storage of kept forecasts and backtests (insert-or-ignore, never
  overwritten).

Imports ``smi_assets.common`` and ``smi_assets.smi``; imported by the Dagster layer and the CLI.
"""
