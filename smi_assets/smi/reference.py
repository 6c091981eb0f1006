"""Read the SMI paper's published per-question results (`merge_outputs.parquet` + `models.csv`).

The parquet holds one row per (model, triple) with that model's corpus counts under the
original names (`time_seqs`, `time_subj`, ...); this module renames them to the project's
frequency columns (N, N_s, ...) and attaches each model's family and parameter count from
the `models.csv` next to it.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from smi_assets.common.errors import InputError
from smi_assets.smi.fit import FitResult, fit_methods

# Original column -> project column (docs/ARCHITECTURE.md, "Knowledge frequency").
COUNT_RENAMES = {
    "time_seqs": "N",
    "time_subj": "N_s",
    "time_obj": "N_o",
    "time_s1j1": "N_so",
    "time_s1j0": "N_s_only",
    "time_s0j1": "N_o_only",
    "time_s0j0": "N_neither",
}
REFERENCE_COLUMNS = ("model", "idx", "subj", "rel", "obj", "acc", *COUNT_RENAMES)
MODELS_COLUMNS = ("models", "model_series", "model_size")


def first_bad_row(frame: pl.DataFrame, bad: pl.Expr) -> int | None:
    """0-based index of the first row where `bad` holds (nulls count as bad), else None."""
    flags = frame.select(bad.fill_null(True).alias("bad"))["bad"]
    return int(flags.arg_true()[0]) if flags.any() else None


def load_models(path: str | Path) -> pl.DataFrame:
    """`models.csv` as `model` (name after the last '/'), `family`, `params` (a count) and
    `corpus` (the training corpus, column `datasets`; empty when the file has no such column)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found (models.csv must sit next to the reference parquet)")
    table = pl.read_csv(path, infer_schema_length=0)  # all text: we parse and report ourselves
    missing = [name for name in MODELS_COLUMNS if name not in table.columns]
    if missing:
        raise InputError(path, f"missing columns {missing}")
    size = pl.col("model_size").str.strip_chars().cast(pl.Float64, strict=False)
    bad = first_bad_row(table, (size <= 0) | pl.col("models").str.strip_chars().eq(""))
    if bad is not None:
        # +2: the header is line 1 and rows count from 0.
        raise InputError(path, f"model_size must be a positive number of billions: {table.row(bad)}", line=bad + 2)
    return table.select(
        pl.col("models").str.split("/").list.last().alias("model"),
        pl.col("model_series").fill_null("").alias("family"),
        (size * 1e9).alias("params"),
        (pl.col("datasets").fill_null("") if "datasets" in table.columns else pl.lit("")).alias("corpus"),
    )


def load_reference(parquet: str | Path) -> pl.DataFrame:
    """The reference rows with project column names plus `family`, `params` and `corpus` per model.

    Raises InputError naming the file (and the row) for missing columns, counts that are
    not consistent (N_so above N_s or N_o, anything above N), accuracy outside [0, 1], or a
    model absent from `models.csv`.
    """
    parquet = Path(parquet)
    if not parquet.is_file():
        raise InputError(parquet, "file not found")
    try:
        raw = pl.read_parquet(parquet)
    except Exception as error:  # polars raises several types for a corrupt file
        raise InputError(parquet, f"not a readable parquet file ({error})") from error
    missing = [name for name in REFERENCE_COLUMNS if name not in raw.columns]
    if missing:
        raise InputError(parquet, f"missing columns {missing}")
    frame = raw.select(
        "model", "idx", "subj", "rel", "obj", "acc",
        *(pl.col(old).alias(new) for old, new in COUNT_RENAMES.items()),
    )  # fmt: skip
    inconsistent = (
        (pl.col("N") <= 0)
        | (pl.col("N_so") < 0)
        | (pl.col("N_so") > pl.min_horizontal("N_s", "N_o"))
        | (pl.max_horizontal("N_s", "N_o") > pl.col("N"))
        | ~pl.col("acc").is_between(0.0, 1.0)
        | pl.any_horizontal(pl.col("model", "subj", "rel", "obj", "idx").is_null())
    )
    bad = first_bad_row(frame, inconsistent)
    if bad is not None:
        raise InputError(parquet, f"inconsistent counts, accuracy or missing fields: {frame.row(bad, named=True)}", row=bad)
    models_path = parquet.parent / "models.csv"
    joined = frame.join(load_models(models_path), on="model", how="left")
    unknown = joined.filter(pl.col("params").is_null())["model"].unique().sort().to_list()
    if unknown:
        raise InputError(models_path, f"no size for models {unknown} found in {parquet.name}")
    return joined


def reference_fits(reference: pl.DataFrame, variant: str = "current", *, drop_prompt_echo: bool = False) -> list[FitResult]:
    """CO-OCCUR, MI and SMI fits for every model of :func:`load_reference`'s frame, by model name."""
    results: list[FitResult] = []
    for (model,), rows in reference.sort("model").group_by("model", maintain_order=True):
        results += fit_methods(rows, rows["params"][0], variant, drop_prompt_echo=drop_prompt_echo, model=str(model))
    return results
