"""Figure of trimming: each group's entropy before and after (one row per group)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_trim_entropy"]


def plot_trim_entropy(comparison: pd.DataFrame, deficit: tuple[float, float] | None = None):
    """Dot plot of ``entropy_before`` -> ``entropy_after`` (nats) per ``group``.

    ``comparison`` has columns ``group, n_before, n_after, entropy_before,
    entropy_after``; groups are drawn top to bottom by their entropy after. ``deficit``
    (D before, D after; nats) goes into the title. Groups without an estimate (NaN) show
    only their counts.
    """
    import matplotlib.pyplot as plt

    table = comparison.sort_values("entropy_after", na_position="last", kind="stable").reset_index(drop=True)
    k = len(table)
    fig, ax = plt.subplots(figsize=(8.0, float(min(max(2.6, 1.3 + 0.45 * k), 60.0))))
    pos = np.arange(k)
    before = table["entropy_before"].to_numpy(dtype=float)
    after = table["entropy_after"].to_numpy(dtype=float)
    for y, b, a in zip(pos, before, after):
        if np.isfinite(b) and np.isfinite(a):
            ax.annotate("", xy=(a, y), xytext=(b, y), arrowprops={"arrowstyle": "->", "color": "#888888"})
    ax.scatter(before, pos, s=40, facecolors="none", edgecolors="#555555", label="before", zorder=3)
    ax.scatter(after, pos, s=40, color="#1f77b4", label="after trimming", zorder=4)
    ax.set_yticks(pos)
    ax.set_yticklabels([f"{g}  (n {nb} → {na})" for g, nb, na in zip(table["group"], table["n_before"], table["n_after"])])
    ax.invert_yaxis()
    ax.set_xlabel("entropy of the target (nats)")
    title = "Group entropies before and after trimming"
    if deficit is not None:
        title += f"\nmean entropy deficit D: {deficit[0]:.3f} → {deficit[1]:.3f} nats"
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig
