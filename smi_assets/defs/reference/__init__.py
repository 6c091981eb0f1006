"""The observed `reference_tables` folder (the public tables the paper and cross-model assets read).

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
