"""Knowledge triples, cloze templates and the CBQA questions built from them (:mod:`loaders`,
:mod:`questions`). Plain functions, no Dagster. Imports only ``smi_assets.common``. Imported by
the Dagster layer and the CLI.
"""
