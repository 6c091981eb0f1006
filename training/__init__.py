"""Training and CBQA evaluation of the ladder's checkpoints: plain PyTorch + transformers.

One config object (:mod:`config`), the tokenizer and token files (:mod:`tokenizer`,
:mod:`data`), the model (:mod:`model`), the resumable, optionally data-parallel loop
(:mod:`train`, :mod:`distributed`, :mod:`torchrun`) and batched greedy CBQA generation
(:mod:`evaluation`). No Dagster: the ``checkpoints`` asset runs it in a subprocess. Imports
only ``smi_assets.common`` of the project.
"""
