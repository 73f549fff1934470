"""Bias trajectories (per-group entropies after every acquisition) turned into scalar scores.

D and the gap come from :func:`etal.bias.scores.entropy_deficit` and
:func:`etal.bias.scores.entropy_gap`, applied per (strategy, seed, iteration): one formula
each. Per-run quality metrics of the D curves are in :mod:`.quality`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._checks import _require_columns, _rows_preview

__all__ = ["GROUP_SCORE_COLUMNS", "SUMMARY_COLUMNS", "group_score_trajectory", "summarise_bias_trajectory"]

_TRAJECTORY_COLUMNS = ("strategy", "seed", "iteration", "group", "entropy")
#: Columns of :func:`summarise_bias_trajectory` (``bias_summary.csv``), in order.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "strategy", "seed", "iteration", "entropy_deficit", "entropy_gap", "entropy_min", "entropy_std", "n_groups",
)  # fmt: skip


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
    left out. Returns :data:`SUMMARY_COLUMNS`: ``strategy, seed, iteration``,
    ``entropy_deficit`` (D = mean over the finite groups of max − h_g, the headline
    score), ``entropy_gap`` (max − min over the finite groups), ``entropy_min``,
    ``entropy_std`` (population standard deviation, ddof=0, across groups) and
    ``n_groups`` (finite groups counted). With fewer than two finite groups D, the gap
    and std are NaN (there is no spread to measure); ``n_groups`` says so.
    """
    from ..bias.scores import (
        entropy_deficit,
        entropy_gap,
        finite_entropies,
        lowest_entropy,
    )

    _check_trajectory(trajectory)
    keys = ["strategy", "seed", "iteration"]
    rows = []
    for key, block in trajectory.groupby(keys, sort=True):
        h = finite_entropies(block["entropy"].to_numpy(dtype=float))
        spread = h.size >= 2
        rows.append(
            (
                *key,
                entropy_deficit(h),
                entropy_gap(h),
                lowest_entropy(h),
                float(h.std(ddof=0)) if spread else np.nan,
                int(h.size),
            )
        )
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    out = out.astype({"n_groups": "int64"})
    out[keys] = out[keys].astype(trajectory[keys].dtypes.to_dict())
    return out.astype({c: "float64" for c in ("entropy_deficit", "entropy_gap", "entropy_min", "entropy_std")})


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
