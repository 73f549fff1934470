"""Figure of an ET-AL run: each group's entropy over the iterations, and the entropy gap."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["plot_entropy_evolution"]

_OTHER_ALPHA = 0.45


def _wide(entropies: pd.DataFrame) -> pd.DataFrame:
    frame = entropies
    if "iteration" in frame.columns:
        frame = frame.set_index("iteration")
    return frame.apply(pd.to_numeric, errors="coerce").astype(float)


def plot_entropy_evolution(
    entropies: pd.DataFrame,
    history: pd.DataFrame | None = None,
    *,
    highlight: Iterable | None = None,
    highlight_label: str = "highlighted",
    title: str | None = None,
):
    """Entropy (nats) of every group vs iteration, with the entropy gap below.

    Parameters
    ----------
    entropies : one row per iteration (index or column ``iteration``; 0 = start), one
        column per group (NaN where a group has no estimate).
    history : the run's history; its ``group`` column marks the targeted groups (thick
        lines, with the number of acquisitions in the legend) and each acquisition as a
        tick under the curves.
    highlight : groups to draw thick in any case (e.g. the depleted groups), marked
        ``highlight_label`` in the legend.
    """
    import matplotlib.pyplot as plt

    wide = _wide(entropies)
    groups = [str(g) for g in wide.columns]
    wide.columns = groups
    iterations = wide.index.to_numpy(dtype=float)
    counts: dict[str, int] = {}
    if history is not None and len(history):
        counts = history["group"].astype(str).value_counts().to_dict()
    flagged = {str(g) for g in (highlight or ())}
    marked = flagged | set(counts)

    cmap = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    colours = {g: cmap(i % cmap.N) for i, g in enumerate(groups)}
    fig, (ax, ax_gap) = plt.subplots(
        2, 1, figsize=(9.0, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]}
    )
    single = len(iterations) == 1
    for g in groups:
        y = wide[g].to_numpy()
        strong = g in marked
        notes = ([highlight_label] if g in flagged else []) + (
            [f"{counts[g]} acquired"] if counts.get(g) else []
        )
        label = g + (f" ({'; '.join(notes)})" if notes else "")
        ax.plot(
            iterations, y, color=colours[g], lw=2.4 if strong else 1.1,
            alpha=1.0 if strong else _OTHER_ALPHA, label=label,
            marker="o" if single else None, zorder=3 if strong else 2,
        )
    if counts:
        targets = history["group"].astype(str).to_numpy()
        ticks = history["iteration"].to_numpy(dtype=float)
        y_all = wide.to_numpy()
        finite = y_all[np.isfinite(y_all)]
        if finite.size:
            low, high = finite.min(), finite.max()
            base = low - 0.06 * max(high - low, 1e-9)
            ax.scatter(
                ticks, np.full(ticks.size, base), c=[colours.get(t, "k") for t in targets],
                marker="|", s=60, lw=1.2, label="_acquisitions", zorder=1,
            )
    ax.set_ylabel("entropy h(target | group) [nats]")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9, frameon=False,
              title="group (thick: " + " or ".join(
                  (["targeted"] if counts else []) + ([highlight_label] if flagged else [])) + ")"
              if marked else "group", title_fontsize=9)
    if title:
        ax.set_title(title)

    values = wide.to_numpy()
    gap = np.full(len(iterations), np.nan)
    for i, row in enumerate(values):
        row = row[np.isfinite(row)]
        if row.size >= 2:
            gap[i] = row.max() - row.min()
    ax_gap.plot(iterations, gap, color="black", lw=1.6, marker="o" if single else None)
    ax_gap.set_ylabel("entropy gap\n(max − min) [nats]")
    ax_gap.set_xlabel("iteration (0 = initial labelled set)")
    ax_gap.grid(alpha=0.3)
    if np.isfinite(gap).any():
        first = gap[np.isfinite(gap)][0]
        last = gap[np.isfinite(gap)][-1]
        ax_gap.annotate(
            f"{first:.3f} → {last:.3f}", xy=(0.99, 0.92), xycoords="axes fraction",
            ha="right", va="top", fontsize=9,
        )
    fig.tight_layout()
    return fig
