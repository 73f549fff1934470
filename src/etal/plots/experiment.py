"""Figures of the paper's experiment: D and gap curves with bands over seeds, entropy per group, R² boxes, distributions.

Each function takes plain tables (see :mod:`etal.evaluation` for their columns) and
returns a :class:`matplotlib.figure.Figure`; save it with :func:`etal.plots.save_figure`.
Entropies are in nats; iteration = number of acquisitions made so far.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = [
    "plot_deficit_trajectories",
    "plot_distributions_before_after",
    "plot_entropy_evolution_per_group",
    "plot_gap_trajectories",
    "plot_r2_boxplots",
    "plot_score_bands",
]

# Fixed colours per strategy so that ET-AL and random look the same in every figure.
_STRATEGY_COLOURS = {"etal": "#1f77b4", "random": "#ff7f0e"}
_FALLBACK = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _strategy_colours(strategies: Sequence[str]) -> dict[str, str]:
    out, spare = {}, iter(_FALLBACK)
    for s in strategies:
        out[s] = _STRATEGY_COLOURS.get(s) or next(spare, "#333333")
    return out


def _label(strategy: str) -> str:
    return {"etal": "ET-AL", "random": "random"}.get(strategy, strategy)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} needs column(s) {missing}; it has {list(frame.columns)}")


def _group_colours(groups: Sequence[str]) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(groups) <= 10 else "tab20"]
    return {g: cmap(i % cmap.N) for i, g in enumerate(groups)}


def plot_entropy_evolution_per_group(trajectory: pd.DataFrame, strategy: str = "etal", seed: int | None = None):
    """Entropy of each group vs acquisitions for one run (the paper's line plot).

    ``trajectory``: long table ``strategy, seed, iteration, group, entropy`` (nats).
    ``seed=None`` picks the smallest seed of ``strategy`` (the title names it).
    Non-finite entropies (too few or constant values) are not drawn: the line has a gap.
    """
    import matplotlib.pyplot as plt

    _require(trajectory, ["strategy", "seed", "iteration", "group", "entropy"], "plot_entropy_evolution_per_group")
    runs = trajectory[trajectory["strategy"].astype(str) == strategy]
    if runs.empty:
        raise InputError(
            f"no trajectory rows for strategy {strategy!r}; it has {sorted(set(trajectory['strategy'].astype(str)))}"
        )
    seeds = sorted(runs["seed"].unique())
    if seed is None:
        seed = seeds[0]
    elif seed not in seeds:
        raise InputError(f"strategy {strategy!r} has no seed {seed}; seeds: {seeds}")
    run = runs[runs["seed"] == seed]
    groups = sorted(run["group"].astype(str).unique())
    colours = _group_colours(groups)
    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    for group in groups:
        g = run[run["group"].astype(str) == group].sort_values("iteration")
        y = g["entropy"].to_numpy(dtype=float)
        y = np.where(np.isfinite(y), y, np.nan)
        ax.plot(g["iteration"].to_numpy(), y, color=colours[group], lw=1.8, label=group)
    ax.set_xlabel("acquisitions")
    ax.set_ylabel("entropy of the target per group (nats)")
    seed_note = f"seed {seed}" + (f" of {len(seeds)}" if len(seeds) > 1 else "")
    ax.set_title(f"Entropy per group during {_label(strategy)} ({seed_note})")
    ax.grid(alpha=0.3)
    ax.legend(title="group", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return fig


def _padded(block: pd.DataFrame, x: str, seed: str, column: str, last: int) -> pd.DataFrame:
    """One column per seed, indexed by ``x`` = 0..last; a run keeps its last value after it ends."""
    wide = block.pivot_table(index=x, columns=seed, values=column, aggfunc="first")
    return wide.reindex(range(int(last) + 1)).ffill()


def plot_score_bands(
    table: pd.DataFrame,
    column: str,
    *,
    x: str = "iteration",
    seed: str = "seed",
    ylabel: str,
    title: str,
    pad: bool = True,
    ax=None,
):
    """A score vs acquisitions per strategy: mean over seeds, band = 10th–90th percentile over seeds.

    ``table`` is long (``strategy``, ``seed``, ``x``, ``column``). With ``pad`` every run is
    carried at its last value to the last acquisition in the table (a run that stopped
    early acquired nothing more), so the mean always covers every seed; without it the
    mean at an acquisition covers the runs that reached it. Draws on ``ax`` when given
    (its figure is returned), else on a new figure.
    """
    import matplotlib.pyplot as plt

    _require(table, ["strategy", seed, x, column], f"a {column} plot")
    if table.empty:
        raise InputError(f"the {column} plot got an empty table")
    strategies = sorted(table["strategy"].astype(str).unique(), key=lambda s: (s not in _STRATEGY_COLOURS, s))
    colours = _strategy_colours(strategies)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    else:
        fig = ax.figure
    last = int(table[x].max())
    several = False
    for strategy in strategies:
        block = table[table["strategy"].astype(str) == strategy]
        n_seeds = block[seed].nunique()
        several |= n_seeds > 1
        if pad:
            wide = _padded(block, x, seed, column, last)
            mean, lo, hi = wide.mean(axis=1), wide.quantile(0.1, axis=1), wide.quantile(0.9, axis=1)
        else:
            by_x = block.groupby(x)[column]
            mean, lo, hi = by_x.mean(), by_x.quantile(0.1), by_x.quantile(0.9)
        label = f"{_label(strategy)} (mean of {n_seeds} seeds)" if n_seeds > 1 else _label(strategy)
        ax.plot(mean.index, mean.to_numpy(dtype=float), color=colours[strategy], lw=2, label=label)
        if n_seeds > 1:
            ax.fill_between(lo.index, lo.to_numpy(dtype=float), hi.to_numpy(dtype=float), color=colours[strategy], alpha=0.2, lw=0)
    ax.set_xlabel("acquisitions")
    ax.set_ylabel(ylabel)
    ax.set_title(title + ("; band: 10th–90th percentile over seeds" if several else ""))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def plot_deficit_trajectories(summary: pd.DataFrame, *, seed: str = "seed", x: str = "iteration", ax=None, title: str | None = None):
    """The mean entropy deficit D (``entropy_deficit``, nats) vs acquisitions for every strategy.

    ``summary`` is :func:`etal.evaluation.summarise_bias_trajectory`'s output (or a
    benchmark's D curves with ``seed="split_seed", x="acquisition"``). The line is the
    mean over seeds, the band the 10th–90th percentile across seeds; a run that stopped
    early keeps its last D.
    """
    return plot_score_bands(
        summary, "entropy_deficit", x=x, seed=seed, ax=ax,
        ylabel="mean entropy deficit D (nats; lower = fairer)",
        title=title or "Bias (mean entropy deficit D) vs acquisitions",
    )  # fmt: skip


def plot_gap_trajectories(summary: pd.DataFrame):
    """``entropy_gap`` vs acquisitions for every strategy in ``summary``.

    ``summary`` is :func:`etal.evaluation.summarise_bias_trajectory`'s output. With
    several seeds the line is the mean over the seeds that reached an iteration and the
    band spans the 10th–90th percentile across them.
    """
    return plot_score_bands(
        summary, "entropy_gap", pad=False,
        ylabel="entropy gap, max − min over groups (nats)", title="Bias (entropy gap) vs acquisitions",
    )  # fmt: skip


def plot_r2_boxplots(downstream: pd.DataFrame, strategies: Sequence[str] = ("etal", "random")):
    """Test R² per model and target, strategies side by side (the paper's box plots).

    One panel per target; within a panel one box per (model, strategy) over seeds,
    scope ``all`` only.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    _require(downstream, ["strategy", "model", "target", "seed", "scope", "r2"], "plot_r2_boxplots")
    strategies = [str(s) for s in strategies]
    data = downstream[(downstream["scope"].astype(str) == "all") & downstream["strategy"].astype(str).isin(strategies)]
    if data.empty:
        raise InputError(f"no downstream rows with scope 'all' for strategies {strategies}")
    targets = list(dict.fromkeys(data["target"].astype(str)))
    models = list(dict.fromkeys(data["model"].astype(str)))
    colours = _strategy_colours(strategies)
    ncols = min(len(targets), 2)
    nrows = -(-len(targets) // ncols)
    width = max(4.5, 1.3 * len(models) * max(1, len(strategies) / 2))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, 4.2 * nrows), layout="constrained", squeeze=False
    )
    box_w = 0.8 / len(strategies)
    for ax, target in zip(axes.flat, targets):
        for j, strategy in enumerate(strategies):
            values, positions = [], []
            for i, model in enumerate(models):
                v = data.loc[
                    (data["target"].astype(str) == target)
                    & (data["model"].astype(str) == model)
                    & (data["strategy"].astype(str) == strategy),
                    "r2",
                ].to_numpy(dtype=float)
                v = v[np.isfinite(v)]
                if len(v):
                    values.append(v)
                    positions.append(i - 0.4 + box_w * (j + 0.5))
            if values:
                ax.boxplot(
                    values,
                    positions=positions,
                    widths=box_w * 0.85,
                    patch_artist=True,
                    boxprops={"facecolor": colours[strategy], "alpha": 0.6},
                    medianprops={"color": "black"},
                    flierprops={"markersize": 3},
                    manage_ticks=False,
                )
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels([m.replace("_", "\n") for m in models])
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_title(target)
        ax.set_ylabel("test R²")
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(targets):]:
        ax.set_visible(False)
    handles = [Patch(facecolor=colours[s], alpha=0.6, label=_label(s)) for s in strategies]
    n_seeds = data["seed"].nunique()
    fig.legend(handles=handles, loc="outside lower center", ncols=len(strategies), frameon=False)
    fig.suptitle(f"Downstream test R² over {n_seeds} seed{'s' if n_seeds != 1 else ''}")
    return fig


def plot_distributions_before_after(before: pd.DataFrame, after: pd.DataFrame, group_col: str, target_col: str):
    """Distribution of ``target_col`` per group before and after acquisition (violins).

    For each group the "before" violin sits on the left and the "after" violin on the
    right; the count of values is written under each. Groups with fewer than 2 distinct
    values (no density to draw) are shown as points.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    for name, frame in (("before", before), ("after", after)):
        _require(frame, [group_col, target_col], f"plot_distributions_before_after ({name} table)")
    groups = sorted(set(before[group_col].astype(str)) | set(after[group_col].astype(str)))
    if not groups:
        raise InputError("plot_distributions_before_after got two empty tables")
    colours = {"before": "#9e9e9e", "after": "#1f77b4"}
    fig, ax = plt.subplots(figsize=(max(7, 1.25 * len(groups) + 2), 5), layout="constrained")
    offset = 0.2
    for side, frame, dx in (("before", before, -offset), ("after", after, offset)):
        labels = frame[group_col].astype(str)
        values = frame[target_col].to_numpy(dtype=float)
        for i, group in enumerate(groups):
            v = values[(labels == group).to_numpy()]
            v = v[np.isfinite(v)]
            x = i + dx
            if len(np.unique(v)) >= 2:
                parts = ax.violinplot([v], positions=[x], widths=0.38, showmedians=True, showextrema=False)
                for body in parts["bodies"]:
                    body.set_facecolor(colours[side])
                    body.set_edgecolor("black")
                    body.set_alpha(0.7)
                parts["cmedians"].set_color("black")
            elif len(v):
                ax.plot(np.full(len(v), x), v, "o", color=colours[side], mec="black", ms=5)
            ax.annotate(
                f"n={len(v)}", (x, 0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                textcoords="offset points", ha="center", va="bottom", fontsize=8, color="#444444",
            )
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20 if max(map(len, groups)) > 8 else 0)
    ax.set_xlabel(group_col)
    ax.set_ylabel(target_col)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    # Room under the lowest violin for the counts.
    low, high = ax.get_ylim()
    ax.set_ylim(low - 0.08 * (high - low), high)
    ax.legend(
        handles=[Patch(facecolor=colours[s], edgecolor="black", alpha=0.7, label=s) for s in ("before", "after")],
        loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
    )
    ax.set_title(f"{target_col} per {group_col}, before and after acquisition")
    return fig
