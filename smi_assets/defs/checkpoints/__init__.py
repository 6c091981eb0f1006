"""Assets `checkpoints` (trained through dagster-pipes, or registered when dropped in) and `cbqa_scores`.

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
