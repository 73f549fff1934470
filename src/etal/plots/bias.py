"""Figures of the bias report: target distribution per group, entropy per group.

Both figures put groups on the vertical axis in the order of the report's table (most
under-represented at the top), so the labels stay horizontal and readable for any
number of groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plot_group_entropy", "plot_target_distributions"]

_OK_COLOUR = "#1f77b4"
_LOW_COLOUR = "#d62728"
_REF_COLOUR = "#555555"
_POINTS_MAX_N = 60  # overlay individual values on violins of small groups
# A density drawn through 2-4 points suggests a shape the data cannot show (and such
# groups have no entropy estimate either): draw them as points only.
_VIOLIN_MIN_N = 5
_MIN_AREA = 16.0  # pt^2: the smallest groups stay visible behind their error bars
# Matplotlib's violin KDE costs O(n) per grid point (12 s for a 1.7-million-value
# group): larger groups are drawn from this many evenly spaced order statistics, which
# keep the shape, the median and the extremes of the full sample.
_VIOLIN_MAX_POINTS = 5_000


def _thin(x: np.ndarray, limit: int = _VIOLIN_MAX_POINTS) -> np.ndarray:
    """At most ``limit`` evenly spaced order statistics of ``x`` (min and max kept)."""
    if x.size <= limit:
        return x
    return np.sort(x)[np.linspace(0, x.size - 1, limit).round().astype(np.int64)]


def _figure_height(n_groups: int, per_group: float) -> float:
    # Readable rows for a handful of groups, bounded for groupings with hundreds of labels.
    return float(min(max(2.6, 1.3 + per_group * n_groups), 60.0))


def _label_fontsize(n_groups: int) -> float:
    return 10.0 if n_groups <= 25 else max(5.0, 10.0 - (n_groups - 25) / 15)


def plot_target_distributions(
    values_by_group: Mapping[Any, np.ndarray],
    target_label: str,
    entropy_by_group: Mapping[Any, float] | None = None,
):
    """Violin plot of the target values of each group (one row per group, top first).

    Parameters
    ----------
    values_by_group : group label -> target values, in display order (top to bottom).
    target_label : axis label of the target (column name and unit, if known).
    entropy_by_group : optional group label -> entropy (nats), shown in the tick labels.

    Groups with fewer than 5 values (no entropy estimate; too few for a density) or with
    all values equal are drawn as points only; groups of up to 60 values also show their
    individual values on the violin.
    """
    import matplotlib.pyplot as plt

    labels = list(values_by_group)
    k = len(labels)
    fig, ax = plt.subplots(figsize=(8.0, _figure_height(k, 0.55)))
    rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
    violin_pos, violin_data = [], []
    for pos, label in enumerate(labels):
        x = np.asarray(values_by_group[label], dtype=float)
        x = x[np.isfinite(x)]
        if x.size >= _VIOLIN_MIN_N and np.ptp(x) > 0:
            violin_pos.append(pos)
            violin_data.append(_thin(x))
        if 0 < x.size and (x.size <= _POINTS_MAX_N or np.ptp(x) == 0):
            jitter = rng.uniform(-0.12, 0.12, x.size) if x.size > 1 else np.zeros(1)
            ax.scatter(
                x, pos + jitter, s=14, color="black", alpha=0.7, zorder=3,
                edgecolors="none",
            )
    if violin_data:
        parts = ax.violinplot(
            violin_data, positions=violin_pos, orientation="horizontal", widths=0.8,
            showmedians=True, showextrema=True,
        )
        for body in parts["bodies"]:
            body.set_facecolor(_OK_COLOUR)
            body.set_edgecolor("#0b3c61")
            body.set_alpha(0.45)
        for key in ("cmedians", "cmins", "cmaxes", "cbars"):
            if key in parts:
                parts[key].set_color("#0b3c61")
                parts[key].set_linewidth(1.0)

    ticks = []
    for label in labels:
        n = int(np.isfinite(np.asarray(values_by_group[label], dtype=float)).sum())
        text = f"{label}\nn={n}"
        if entropy_by_group is not None:
            h = entropy_by_group.get(label)
            if h is not None and np.isfinite(h):
                text += f", h={h:.2f}"
        ticks.append(text)
    ax.set_yticks(range(k), ticks, fontsize=_label_fontsize(k))
    ax.set_ylim(k - 0.5, -0.5)  # first group at the top
    ax.set_xlabel(target_label)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Distribution of {target_label} per group (h = entropy, nats)", fontsize=11)
    fig.tight_layout()
    return fig


def _nice_sizes(n_max: int) -> list[int]:
    """Up to three round counts spanning 1..n_max for the marker-size legend."""
    if n_max <= 1:
        return [1]
    top = 10 ** math.floor(math.log10(n_max))
    top = max(d * top for d in (1, 2, 5) if d * top <= n_max)
    out = sorted({max(1, int(top / 10)), max(1, int(top / 2)), int(top)})
    return out


def plot_group_entropy(
    table: pd.DataFrame,
    *,
    entropy_gap: float | None = None,
    gap_ci: tuple[float | None, float | None] | None = None,
    confidence: float | None = None,
    group_label: str | None = None,
    target_label: str | None = None,
):
    """Entropy per group (nats) with confidence intervals; marker area ∝ group size.

    ``table`` is :attr:`etal.bias.BiasReport.table` (columns ``group, n, entropy,
    ci_low, ci_high, status`` and optionally ``reference_entropy``). Groups without an
    estimate are listed with their status. The title shows ``entropy_gap`` (computed
    from the table's ok groups when not given).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    k = len(table)
    fig, ax = plt.subplots(figsize=(8.0, _figure_height(k, 0.5)))
    pos = np.arange(k)
    ok = (table["status"] == "ok").to_numpy()
    h = table["entropy"].to_numpy(dtype=float)
    n = table["n"].to_numpy(dtype=float)
    lo = table["ci_low"].to_numpy(dtype=float) if "ci_low" in table else np.full(k, np.nan)
    hi = table["ci_high"].to_numpy(dtype=float) if "ci_high" in table else np.full(k, np.nan)

    n_max = max(float(n[ok].max()) if ok.any() else 1.0, 1.0)
    area_per_item = 500.0 / n_max  # marker area (pt^2) per group member

    if ok.any():
        has_ci = ok & np.isfinite(lo) & np.isfinite(hi)
        ax.errorbar(
            h[has_ci], pos[has_ci],
            xerr=np.vstack([h[has_ci] - lo[has_ci], hi[has_ci] - h[has_ci]]).clip(min=0),
            fmt="none", ecolor="#222222", elinewidth=1.3, capsize=4, zorder=4,
        )
        colours = np.where(h[ok] == np.nanmin(h[ok]), _LOW_COLOUR, _OK_COLOUR)
        ax.scatter(
            h[ok], pos[ok], s=np.maximum(n[ok] * area_per_item, _MIN_AREA), c=list(colours),
            alpha=0.55, edgecolors="black", linewidths=0.6, zorder=3,
        )
    ref_handle = []
    if "reference_entropy" in table:
        ref = table["reference_entropy"].to_numpy(dtype=float)
        has_ref = np.isfinite(ref)
        if has_ref.any():
            ax.scatter(
                ref[has_ref], pos[has_ref], marker="D", s=36, facecolors="none",
                edgecolors=_REF_COLOUR, linewidths=1.2, zorder=5,
            )
            ref_handle = [
                Line2D([], [], marker="D", linestyle="none", markerfacecolor="none",
                       markeredgecolor=_REF_COLOUR, label="reference")
            ]

    # Groups without an estimate: say why, at the left edge.
    ax.set_ylim(k - 0.5, -0.5)
    finite = np.concatenate([h[ok], lo[np.isfinite(lo)], hi[np.isfinite(hi)]])
    if "reference_entropy" in table:
        ref = table["reference_entropy"].to_numpy(dtype=float)
        finite = np.concatenate([finite, ref[np.isfinite(ref)]])
    if finite.size:
        span = max(float(finite.max() - finite.min()), 0.1)
        ax.set_xlim(finite.min() - 0.08 * span, finite.max() + 0.08 * span)
    for i in np.flatnonzero(~ok):
        if table["status"].iloc[i] == "constant":
            reason = "all values equal"
        elif n[i] == 0:
            reason = "no labelled values"
        else:
            reason = "too few values"
        ax.annotate(
            f"no estimate: {reason}", xy=(0.01, pos[i]), xycoords=("axes fraction", "data"),
            va="center", ha="left", fontsize=8, color="#777777", style="italic",
        )

    ax.set_yticks(
        pos, [f"{g} (n={int(m)})" for g, m in zip(table["group"], n)],
        fontsize=_label_fontsize(k),
    )
    ax.set_xlabel("entropy (nats)")
    if group_label:
        ax.set_ylabel(group_label)
    ax.grid(axis="x", alpha=0.3)

    if entropy_gap is None and ok.sum() >= 2:
        entropy_gap = float(np.nanmax(h[ok]) - np.nanmin(h[ok]))
    if entropy_gap is not None and np.isfinite(entropy_gap):
        title = f"entropy_gap = {entropy_gap:.3f} nats"
        if gap_ci and all(v is not None and np.isfinite(v) for v in gap_ci):
            pct = f"{confidence:.0%} " if confidence else ""
            title += f"  ({pct}CI {gap_ci[0]:.3f} .. {gap_ci[1]:.3f})"
    else:
        title = "entropy_gap: n/a (fewer than 2 groups with an estimate)"
    what = f"Entropy of {target_label} per group" if target_label else "Entropy per group"
    ax.set_title(f"{what}\n{title}", fontsize=11)

    size_handles = [
        Line2D([], [], marker="o", linestyle="none", markerfacecolor=_OK_COLOUR, alpha=0.55,
               markeredgecolor="black", markersize=math.sqrt(max(c * area_per_item, _MIN_AREA)),
               label=f"n = {c}")
        for c in _nice_sizes(int(n_max))
    ]
    low = [Line2D([], [], marker="o", linestyle="none", markerfacecolor=_LOW_COLOUR,
                  markeredgecolor="black", markersize=7, label="lowest entropy")] if ok.any() else []
    ci = [Line2D([], [], color="#222222", marker="|", markersize=8,
                 label=f"{confidence:.0%} CI" if confidence else "CI")] if np.isfinite(lo).any() else []
    ax.legend(
        handles=size_handles + low + ci + ref_handle, loc="upper left",
        bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, labelspacing=1.2,
        borderaxespad=0.0,
    )
    fig.tight_layout()
    return fig
