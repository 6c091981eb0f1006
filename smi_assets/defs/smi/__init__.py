"""Assets `smi_fit`, `smi_fit_across_checkpoints`, `cbqa_forecast`, `forecast_backtest` and `reference_smi_fit`.

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
