"""Plots in asset metadata: a full PNG behind the UI's dialog and a sparkline short enough to
show inline on the asset page."""

from __future__ import annotations

import base64
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from smi_assets.orchestration.metadata import INLINE_MARKDOWN_LIMIT, plot_metadata, sparkline  # noqa: E402


def _svg(markdown: str) -> str:
    return base64.b64decode(re.fullmatch(r"!\[sparkline\]\(data:image/svg\+xml;base64,(.+)\)", markdown).group(1)).decode()


def test_a_long_curve_becomes_an_inline_sparkline_that_keeps_its_shape(tmp_path):
    figure, axis = plt.subplots()
    steps = np.arange(3000)
    axis.plot(steps, 5 * np.exp(-steps / 400) + 1)
    axis.set_title("training loss")
    metadata = plot_metadata(figure, tmp_path / "loss.png")
    preview = metadata["plot_preview"].value
    assert len(preview) < INLINE_MARKDOWN_LIMIT and len(metadata["plot"].value) > INLINE_MARKDOWN_LIMIT
    svg = _svg(preview)
    assert "training loss" in svg
    ys = [int(point.split(",")[1]) for point in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert ys[0] < ys[-1], "a falling loss is drawn falling (SVG y grows downwards)"
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_bars_and_points_get_sparklines_and_an_empty_figure_none():
    figure, axis = plt.subplots()
    axis.hist(np.random.default_rng(0).normal(size=500), bins=30)
    assert sparkline(figure) is not None
    figure, axis = plt.subplots()
    axis.scatter([3, 1, 2], [30, 10, 20])
    axis.plot([0, 3], [0, 30])  # a reference diagonal is not the series
    xs = [int(point.split(",")[0]) for point in re.search(r'points="([^"]+)"', _svg(sparkline(figure))).group(1).split()]
    assert xs == sorted(xs)
    assert sparkline(plt.figure()) is None


def test_a_series_without_finite_points_gives_way_to_the_next_axis():
    """Tiny models fit R² = NaN everywhere; the page still shows the next panel (accuracy)."""
    figure, (r2_axis, accuracy_axis) = plt.subplots(1, 2)
    r2_axis.plot([1e4, 3e4, 1e5], [np.nan, np.nan, np.nan], "o-")
    r2_axis.set_ylabel("R² over groups")
    accuracy_axis.plot([1e4, 3e4, 1e5], [0.0, 0.1, 0.3], "o-")
    accuracy_axis.set_ylabel("mean accuracy")
    assert "mean accuracy" in _svg(sparkline(figure))
    figure, axis = plt.subplots()
    axis.plot([1, 2, 3], [np.nan, 1.0, np.nan])
    assert sparkline(figure) is None, "one finite point is not a curve"
