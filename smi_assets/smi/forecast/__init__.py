"""Forecasting what a model will know before it is trained: the model, its evaluation, its storage.

- :mod:`.tokens`: the forecaster the pipeline uses (start here), :class:`~.tokens.TokensForecaster`,
  the forecast of a planned run given as
  (params, tokens) from every scored checkpoint, intermediate ones included, with 80%
  intervals, and its inversion into a plan. Fitted with ``fit(frequency, proxies,
  corpus_tokens=...)`` (proxies: model, params, idx, acc, tokens, run_id, run_tokens);
  ``predict(params, tokens=None, run_id=None)`` -> idx, rel, predicted_acc, acc_low,
  acc_high (with ``run_id``: that run's final checkpoint from its own latest one);
  ``aggregate(params, tokens=None, run_id=None)`` -> rel ("*" and each relation),
  predicted_acc, acc_low, acc_high, n_questions, reach; ``plan(target_accuracy,
  relation=None, questions=None, tokens_per_param=None)`` -> dict of params, tokens,
  compute and their 80% range (ValueError naming the target when unreachable within 1000x
  the largest proxy's compute); ``knowledge_gaps(params, tokens, target_accuracy)`` -> one
  row per fact forecast below the target with the co-occurrences it would need;
- :mod:`.proxy`: :class:`~.proxy.ProxyForecaster`, per-question accuracy of a planned size from
  smaller scored proxies and corpus counts: TokensForecaster's per-question shape, and the
  forecaster of ``smi forecast-reference`` (the reference data has no tokens);
- :mod:`.counts_model`: the counts-only model (:class:`~.counts_model.SizeConditionedForecaster`),
  the count features both models share, and the scale-only / scale + relation baselines;
- :mod:`.evaluation`: the metrics every forecast is scored with, and the evaluation on the SMI
  reference data against five baselines (``smi forecast-reference``);
- :mod:`.targets`: what a forecast is about (planned runs as ``PARAMS[:TOKENS]``, runs in
  progress), light enough for the settings to import;
- :mod:`.runs`: the pipeline's forecasts of those targets, their kept rows keyed by the data versions they used, which checkpoint judges
  which target, and the backtest;
- :mod:`.store`: DuckDB storage of kept forecasts and backtests (insert-or-ignore, never
  overwritten).

Imports ``smi_assets.common`` and ``smi_assets.smi``; imported by the Dagster layer and the CLI.
"""
