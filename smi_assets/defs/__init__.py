"""The ``dg`` defs folder: one folder per domain with its assets, asset checks and the
automation conditions they declare, plus ``automation/`` with the sensors. Autoloaded by
``dg.load_from_defs_folder`` in ``smi_assets.definitions``; nothing else imports it.

An asset here is a thin wrapper: it reads its resources (``smi_assets.orchestration``), calls
the plain functions of its domain package, writes the result and records metadata.
"""
