"""Metadata helpers shared by the asset domains: previews and plots for the UI."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import dagster as dg
import matplotlib

matplotlib.use("Agg")  # assets run headless, in worker processes
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from smi_assets.resources import StorageResource  # noqa: E402
from smi_assets.sql import load_sql  # noqa: E402


def table_preview(frame: pl.DataFrame, n_rows: int = 10) -> dg.MetadataValue:
    """The first rows of `frame` as a markdown table (list columns shown as text)."""
    head = frame.head(n_rows).with_columns(
        pl.col(name).cast(pl.List(pl.Utf8)).list.join("|") for name, dtype in frame.schema.items() if dtype == pl.List(pl.Utf8)
    )
    header = "| " + " | ".join(head.columns) + " |"
    rule = "| " + " | ".join("---" for _ in head.columns) + " |"
    rows = ["| " + " | ".join(_cell(value) for value in row) + " |" for row in head.iter_rows()]
    return dg.MetadataValue.md("\n".join([header, rule, *rows]))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def plot_metadata(figure: plt.Figure, path: Path) -> dict[str, dg.MetadataValue]:
    """Save `figure` as PNG at `path` and return metadata that shows it in the UI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    png = buffer.getvalue()
    path.write_bytes(png)
    encoded = base64.b64encode(png).decode("ascii")
    return {
        "plot": dg.MetadataValue.md(f"![{path.stem}](data:image/png;base64,{encoded})"),
        "plot_path": dg.MetadataValue.path(str(path)),
    }


def offending_rows_check(
    storage: StorageResource, query_name: str, check_name: str | None = None, parameters: dict | None = None
) -> dg.AssetCheckResult:
    """Run `sql/<query_name>.sql`, which selects the rows breaking a rule; pass when it selects
    none. `check_name` names the check when an asset reports it with its materialization."""
    with storage.connection(read_only=True) as connection:
        offending = connection.execute(load_sql(query_name), parameters).pl()
    return dg.AssetCheckResult(
        check_name=check_name,
        passed=offending.is_empty(),
        metadata={"offending_rows": len(offending), "examples": table_preview(offending, 5)},
    )


def skipped_records_metadata(context: dg.AssetExecutionContext, n_skipped: int, source: object) -> dict[str, int]:
    """Say in the run log how many bad records `SMI_SKIP_BAD_RECORDS` skipped, and record it."""
    if n_skipped:
        context.log.warning(f"skipped {n_skipped} bad records in {source}")
    return {"skipped_records": n_skipped}
