"""The observed triples and templates files and the `knowledge_triples` and `cbqa_questions` assets, with checks.

Autoloaded from the defs folder; nothing imports this package but other defs.
"""
