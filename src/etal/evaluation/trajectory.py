"""Bias trajectories (per-group entropies after every acquisition) turned into scores and rates.

Gaps come from :func:`etal.bias.scores.entropy_gap`, applied per (strategy, seed,
iteration): the one formula of the gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._checks import _require_columns, _rows_preview
from .statistics import _t_interval

__all__ = ["GROUP_SCORE_COLUMNS", "gap_reduction_rate", "group_score_trajectory", "summarise_bias_trajectory"]

_TRAJECTORY_COLUMNS = ("strategy", "seed", "iteration", "group", "entropy")


def _check_trajectory(trajectory: pd.DataFrame) -> None:
    """Columns, numeric entropy and one entropy per (strategy, seed, iteration, group)."""
    _require_columns(trajectory, list(_TRAJECTORY_COLUMNS), "trajectory table")
    if not pd.api.types.is_numeric_dtype(trajectory["entropy"]):
        raise InputError(f"trajectory table: column 'entropy' is not numeric (dtype {trajectory['entropy'].dtype})")
    dup = trajectory.duplicated(["strategy", "seed", "iteration", "group"], keep=False)
    if dup.any():
        raise InputError(
            "trajectory table has several entropies for the same (strategy, seed, iteration, group) "
            f"in rows {_rows_preview(trajectory.index[dup])}"
        )


def summarise_bias_trajectory(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Scalar bias scores per (strategy, seed, iteration) from per-group entropies.

    ``trajectory`` is long format with columns ``strategy, seed, iteration, group,
    entropy`` (nats; ``iteration`` = acquisitions made so far, 0 = the initial set).
    Groups whose entropy is not finite (NaN: too few values; −inf: constant values) are
    left out. Returns ``strategy, seed, iteration, entropy_gap`` (max − min over the
    finite groups), ``entropy_min``, ``entropy_std`` (population standard deviation,
    ddof=0, across groups) and ``n_groups`` (finite groups counted). With fewer than two
    finite groups the gap and std are NaN (there is no spread to measure); ``n_groups``
    says so.
    """
    from ..bias.scores import entropy_gap, finite_entropies, lowest_entropy

    _check_trajectory(trajectory)
    keys = ["strategy", "seed", "iteration"]
    rows = []
    for key, block in trajectory.groupby(keys, sort=True):
        h = finite_entropies(block["entropy"].to_numpy(dtype=float))
        spread = h.size >= 2
        rows.append(
            (
                *key,
                entropy_gap(h),
                lowest_entropy(h),
                float(h.std(ddof=0)) if spread else np.nan,
                int(h.size),
            )
        )
    out = pd.DataFrame(rows, columns=[*keys, "entropy_gap", "entropy_min", "entropy_std", "n_groups"])
    out = out.astype({"n_groups": "int64"})
    out[keys] = out[keys].astype(trajectory[keys].dtypes.to_dict())
    return out.astype({"entropy_gap": "float64", "entropy_min": "float64", "entropy_std": "float64"})


def gap_reduction_rate(
    trajectory_summary: pd.DataFrame,
    strategies: Sequence[str] = ("etal", "random"),
    upto: int | None = None,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """How fast each strategy lowers ``entropy_gap`` per acquisition, across seeds.

    For every seed of a strategy, over iterations ``first..upto`` with a finite gap:

    * ``slope``: least-squares slope of gap vs iteration (nats per acquisition);
      ``gap_drop_per_acquisition`` = −slope (positive = the gap falls);
    * ``gap_area``: area under the gap curve (trapezoid rule, nats x acquisitions);
      smaller = less bias on average over the run.

    The mean over seeds and a t-interval across seeds (``confidence``) are returned per
    strategy with ``n_seeds``, ``first_iteration``, ``last_iteration``, ``gap_start`` and
    ``gap_end`` (means over seeds) and a ``note``. ``upto=None`` uses the last iteration
    that every seed of every listed strategy reached, so that rates and areas are
    compared over the same range (ET-AL may stop early by its stop rules).
    """
    from scipy import stats
    from scipy.integrate import trapezoid

    _require_columns(trajectory_summary, ["strategy", "seed", "iteration", "entropy_gap"], "trajectory summary")
    strategies = [str(s) for s in strategies]
    available = sorted(set(trajectory_summary["strategy"].astype(str)))
    missing = [s for s in strategies if s not in available]
    if missing:
        raise InputError(f"strategy(ies) {missing} not in the trajectory summary; it has {available}")
    sub = trajectory_summary[trajectory_summary["strategy"].astype(str).isin(strategies)]
    if upto is None:
        upto = int(sub.groupby(["strategy", "seed"])["iteration"].max().min())
    rows = []
    for strategy in strategies:
        block = sub[(sub["strategy"].astype(str) == strategy) & (sub["iteration"] <= upto)]
        per_seed = []
        short = []
        for seed, run in block.groupby("seed", sort=True):
            run = run.sort_values("iteration")
            x = run["iteration"].to_numpy(dtype=float)
            y = run["entropy_gap"].to_numpy(dtype=float)
            ok = np.isfinite(y)
            x, y = x[ok], y[ok]
            if len(x) < 2:
                short.append(seed)
                continue
            per_seed.append((stats.linregress(x, y).slope, trapezoid(y, x), y[0], y[-1], x[0], x[-1]))
        notes = []
        if short:
            notes.append(f"seed(s) {short} have fewer than 2 finite gaps up to iteration {upto}: left out")
        row: dict[str, Any] = {"strategy": strategy, "n_seeds": len(per_seed)}
        if per_seed:
            arr = np.array(per_seed, dtype=float)
            drops, areas = -arr[:, 0], arr[:, 1]
            if len(set(arr[:, 5])) > 1 or len(set(arr[:, 4])) > 1:
                notes.append("seeds cover different iteration ranges")
            row.update(
                first_iteration=int(arr[:, 4].min()),
                last_iteration=int(arr[:, 5].max()),
                gap_start=float(arr[:, 2].mean()),
                gap_end=float(arr[:, 3].mean()),
                gap_drop_per_acquisition=float(drops.mean()),
                gap_area=float(areas.mean()),
            )
            if len(per_seed) >= 2:
                row["drop_ci_low"], row["drop_ci_high"] = _t_interval(drops, confidence)
                row["area_ci_low"], row["area_ci_high"] = _t_interval(areas, confidence)
            else:
                notes.append("one seed: no interval")
        else:
            notes.append("no seed with at least 2 finite gaps")
        row["note"] = "; ".join(notes)
        rows.append(row)
    columns = [
        "strategy", "n_seeds", "first_iteration", "last_iteration", "gap_start", "gap_end",
        "gap_drop_per_acquisition", "drop_ci_low", "drop_ci_high", "gap_area", "area_ci_low",
        "area_ci_high", "note",
    ]
    out = pd.DataFrame(rows).reindex(columns=columns)
    out["confidence"] = confidence
    out["upto"] = upto
    return out


# --------------------------------------------------------------------------- chosen groups

#: Columns of :func:`group_score_trajectory`, in order.
GROUP_SCORE_COLUMNS: tuple[str, ...] = (
    "strategy", "seed", "iteration", "depleted_entropy_min", "depleted_entropy_mean", "n_depleted_groups",
)  # fmt: skip


def group_score_trajectory(trajectory: pd.DataFrame, groups: Sequence[Any]) -> pd.DataFrame:
    """Bias scores over chosen groups (in an experiment: the groups the split depleted).

    ``trajectory`` is long format (``strategy, seed, iteration, group, entropy``; nats), as
    for :func:`summarise_bias_trajectory`; ``groups`` are group labels (compared as text).
    Returns one row per (strategy, seed, iteration) of the trajectory with

    * ``depleted_entropy_min``: the lowest entropy (nats) among ``groups`` whose entropy is
      finite at that iteration: the least diverse of them;
    * ``depleted_entropy_mean``: their mean entropy (nats);
    * ``n_depleted_groups``: how many of ``groups`` had a finite entropy (NaN = fewer than
      5 values, −inf = constant values; both left out, as in ``entropy_gap``).

    Both scores are NaN where none of ``groups`` has a finite entropy. Note that a group
    that becomes estimable during a run enters the min and the mean from then on, so the
    scores can move although no finite entropy did; ``n_depleted_groups`` shows when.

    Unlike ``entropy_gap`` (max − min over *all* groups), these scores are not pinned by a
    group the split left alone (e.g. a small group whose pool cannot raise it): they
    measure whether a strategy raised the groups that were depleted on purpose.

    Raises
    ------
    InputError
        ``groups`` empty, or naming groups absent from the trajectory; the trajectory's
        own problems as in :func:`summarise_bias_trajectory`.
    """
    _check_trajectory(trajectory)
    chosen = list(dict.fromkeys(str(g) for g in groups))
    if not chosen:
        raise InputError(
            "groups is empty: name at least one group to score (in an experiment, the split's depleted "
            "groups; with no depletion rules there is nothing to score)"
        )
    labels = trajectory["group"].astype(str)
    present = set(labels)
    missing = [g for g in chosen if g not in present]
    if missing:
        raise InputError(
            f"group(s) {missing} are not in the trajectory table; its groups are {sorted(present)}"
        )
    keys = ["strategy", "seed", "iteration"]
    entropy = trajectory["entropy"].to_numpy(dtype=float)
    keep = labels.isin(chosen).to_numpy() & np.isfinite(entropy)
    grouped = trajectory.loc[keep, [*keys, "entropy"]].groupby(keys, sort=True)["entropy"]
    scores = pd.DataFrame(
        {
            "depleted_entropy_min": grouped.min(),
            "depleted_entropy_mean": grouped.mean(),
            "n_depleted_groups": grouped.size(),
        }
    )
    all_keys = trajectory[keys].drop_duplicates().set_index(keys).sort_index().index
    scores = scores.reindex(all_keys)
    scores["n_depleted_groups"] = scores["n_depleted_groups"].fillna(0).astype("int64")
    out = scores.reset_index()[list(GROUP_SCORE_COLUMNS)]
    return out.astype({"depleted_entropy_min": "float64", "depleted_entropy_mean": "float64"})
