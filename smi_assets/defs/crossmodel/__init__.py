"""The cross-model assets: benchmark tables from the reference data and the project's checkpoints, and the three predictors' fits.

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
