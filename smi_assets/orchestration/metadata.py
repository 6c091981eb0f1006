"""Metadata helpers shared by the asset domains: previews and plots for the UI."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import dagster as dg
import matplotlib

matplotlib.use("Agg")  # assets run headless, in worker processes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from smi_assets.common.sql import load_sql  # noqa: E402
from smi_assets.orchestration.resources import StorageResource  # noqa: E402


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
    metadata = {
        "plot": dg.MetadataValue.md(f"![{path.stem}](data:image/png;base64,{encoded})"),
        "plot_path": dg.MetadataValue.path(str(path)),
    }
    preview = sparkline(figure)
    if preview is not None:
        metadata = {"plot_preview": dg.MetadataValue.md(preview), **metadata}
    return metadata


# The UI shows a markdown value inline only while it is shorter than this; a full plot goes
# behind a "[Show Markdown]" dialog, so each plot also gets a sparkline that fits.
INLINE_MARKDOWN_LIMIT = 1000


def sparkline(figure: plt.Figure, width: int = 240, height: int = 60) -> str | None:
    """A tiny SVG of the first series with two finite points or more (a line, bars or points, on
    the figure's axes in order), as inline markdown under `INLINE_MARKDOWN_LIMIT` characters;
    None when there is nothing to draw."""
    drawable = ((axis, points) for axis in figure.axes if len(points := _first_series(axis)) >= 2)
    axis, points = next(drawable, (None, None))
    if axis is None:
        return None
    title = axis.get_title() or axis.get_ylabel()
    for n_points in (60, 40, 25, 15):
        chosen = points[np.linspace(0, len(points) - 1, min(n_points, len(points))).astype(int)]
        span = np.ptp(chosen, axis=0)
        span[span == 0] = 1.0
        scaled = (chosen - chosen.min(axis=0)) / span
        coordinates = " ".join(f"{2 + x * (width - 4):.0f},{height - 2 - y * (height - 14):.0f}" for x, y in scaled)
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<text x="2" y="10" font-size="10">{_svg_text(title)[:48]}</text>'
            f'<polyline points="{coordinates}" fill="none" stroke="#4f43dd" stroke-width="1.5"/></svg>'
        )
        markdown = f"![sparkline](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode('ascii')})"
        if len(markdown) < INLINE_MARKDOWN_LIMIT:
            return markdown
    return None


def _first_series(axis: plt.Axes) -> np.ndarray:
    """The finite (x, y) points of the axis' first series."""
    # A two-point line over a scatter is a reference diagonal, not the series.
    lines = [line for line in axis.lines if len(line.get_xydata()) > 2] or ([] if axis.collections else list(axis.lines))
    if lines:
        points = np.asarray(lines[0].get_xydata(), dtype=float)
    elif axis.patches:
        points = np.array([(patch.get_x(), patch.get_height()) for patch in axis.patches if hasattr(patch, "get_height")], dtype=float)
    elif axis.collections:
        points = np.asarray(axis.collections[0].get_offsets(), dtype=float)
        points = points[np.argsort(points[:, 0])] if points.ndim == 2 else points
    else:
        return np.empty((0, 2))
    return points[np.isfinite(points).all(axis=1)] if points.size else np.empty((0, 2))


def _svg_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def offending_rows_check(storage: StorageResource, query_name: str, check_name: str | None = None, parameters: dict | None = None) -> dg.AssetCheckResult:
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
