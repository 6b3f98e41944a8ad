"""The class report's charts: matplotlib PNGs, returned as data: URIs for a page that
loads nothing from the network."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display: charts are only ever written to PNG

import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen
import matplotlib.ticker  # noqa: E402

# Distinct chart colours (the page's own CSS uses none of them): the browser test looks
# for these pixels to prove that the charts, not just the text, are on screen.
HISTOGRAM_COLOR = "#3b6fb6"
PASS_COLOR = "#2e9e5b"
FAIL_COLOR = "#d9dde3"


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def axis_label(name: str, width: int = 60) -> str:
    """A test name as a chart label: code-span backticks dropped, and `$` escaped (matplotlib
    would read text between two as mathematics)."""
    text = name.replace("`", "")
    text = text if len(text) <= width else text[:width - 3] + "..."
    return text.replace("$", r"\$")


def histogram_chart(totals: list[float], max_score: float | None) -> str:
    figure, axes = plt.subplots(figsize=(8, 3.2))
    top = max_score if max_score else max(totals + [1.0])
    bins = [top * i / 20 for i in range(21)] if top > 0 else 10
    axes.hist(totals, bins=bins, color=HISTOGRAM_COLOR, edgecolor="white")
    axes.set_xlabel("total score")
    axes.set_ylabel("submissions")
    axes.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes.set_title(f"Score distribution ({len(totals)} graded)")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def pass_rate_chart(tests: list[dict]) -> str:
    """One bar per test that has a pass rate (informative 0-point tests have none)."""
    tests = [t for t in tests if t["pass_rate"] is not None]
    names = [axis_label(t["name"]) for t in tests]
    rates = [100.0 * t["pass_rate"] for t in tests]
    figure, axes = plt.subplots(figsize=(8, max(2.0, 0.28 * len(tests) + 1.0)))
    positions = list(range(len(tests)))[::-1]  # first test at the top
    axes.barh(positions, [100.0] * len(tests), color=FAIL_COLOR, height=0.7)
    axes.barh(positions, rates, color=PASS_COLOR, height=0.7)
    axes.set_yticks(positions)
    axes.set_yticklabels(names, fontsize=8)
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of graded submissions passing")
    axes.set_title("Pass rate per test")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)
