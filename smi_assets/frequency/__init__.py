"""Knowledge-frequency counting: entity matching (:mod:`matching`, the numba word trie in
:mod:`word_trie`), per-shard counts and their sum (:mod:`counting`), and ``smi count``
(:mod:`commands`). Plain functions, no Dagster. Imports ``smi_assets.common``, ``corpus`` and
``knowledge``. Imported by the Dagster layer and the CLI.
"""
