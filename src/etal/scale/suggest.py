"""The engine's next picks from a partitioned Parquet pool: target group, surrogate, batch.

:func:`suggest_from_pool` is ``ETAL.start(labelled, pool).suggest(k)`` for a pool stored
as a folder of Parquet files (``etal campaign suggest``, ``etal run`` without labels):
the target group is chosen as the engine chooses it, its surrogate is fitted once on its
labelled rows, and :func:`etal.scale.pool.score_partitions` scores the pool partition by
partition (on a Dask cluster or here). ``k > 1`` is the engine's greedy batch: after each
pick its posterior mean is added to its group's values as a fantasy label (the surrogate
is not refitted), the entropies are re-estimated and the next pick is made among the
remaining candidates.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .pool import DEFAULT_TOP, PoolPick, count_groups, list_partitions, score_partitions

__all__ = ["pick_from_pool", "pool_rows", "suggest_from_pool"]


def _check_columns(labelled: pd.DataFrame, group_col: str, target_col: str, id_col: str,
                   feature_cols: Sequence[str]) -> None:
    for name, col in (("group_col", group_col), ("target_col", target_col), ("id_col", id_col)):
        if col not in labelled.columns:
            raise InputError(f"labelled table: {name} {col!r} is not a column")
    missing = [c for c in feature_cols if c not in labelled.columns]
    if missing:
        raise InputError(f"labelled table: feature column(s) {missing} missing")


def suggest_from_pool(
    labelled: pd.DataFrame,
    pool: str | Path | Sequence[str | Path],
    *,
    k: int = 1,
    group_col: str,
    target_col: str,
    feature_cols: Sequence[str],
    id_col: str = "id",
    surrogate: Any = "gp",
    surrogate_options: dict | None = None,
    surrogates: MutableMapping[str, Any] | None = None,
    method: str = "auto",
    ties: str = "floor",
    exclude_ids: Iterable[Any] = (),
    exclude_groups: Iterable[str] = (),
    counts: Mapping[str, int] | None = None,
    client: Any = None,
    top: int = DEFAULT_TOP,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[PoolPick]:
    """Up to ``k`` picks from a Parquet pool folder, as ``ETAL.suggest(k)`` with the ``etal`` strategy.

    Parameters
    ----------
    labelled : the labelled rows (group, target in its units, id, features).
    pool : folder of Parquet files (see :func:`etal.scale.pool.list_partitions`).
    k : picks (greedy batch with posterior-mean fantasies for k > 1).
    surrogate, surrogate_options : ``"gp"`` and its options, or an unfitted model object
        (copied per group).
    surrogates : optional cache of the groups' fitted surrogates (an empty dict to start;
        its values are opaque). A cached model is refitted only when its group's labelled
        rows changed, warm-started from its last fit, as in the engine's loop. Pass the
        same dict on every iteration of a loop over a pool folder.
    exclude_ids : pool ids already acquired.
    exclude_groups : groups never picked from (e.g. excluded by a campaign's patience
        rule, as the engine excludes them); their labelled rows still count.
    counts : the pool's candidates per group without ``exclude_ids``, if the caller has
        counted them already (:func:`etal.scale.pool.count_groups`); saves a pass over the pool.
    client : a ``distributed.Client``, or None to score here partition by partition.

    The target group of each pick: among groups with candidates left, first a group whose
    entropy is undefined (fewest labelled rows, fantasies included; its candidates are
    ranked by posterior std), else the lowest entropy (ties: the first group in sorted
    order). Fewer than ``k`` picks come back if the pool runs out. Raises
    :class:`~etal.errors.InputError` for a target group with fewer than 2 labelled rows
    (the engine then picks at random: label a few of its rows first).
    """
    from ..entropy import estimate_entropy
    from ..surrogate import make_surrogate

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a whole number >= 1, got {k!r}")
    feature_cols = [str(c) for c in feature_cols]
    _check_columns(labelled, group_col, target_col, id_col, feature_cols)
    files = list_partitions(pool)
    excluded = set(exclude_ids)
    remaining = (dict(counts) if counts is not None else
                 count_groups(files, group_col=group_col, id_col=id_col, exclude_ids=excluded, client=client))
    for g in {str(g) for g in exclude_groups}:
        remaining.pop(g, None)
    groups = labelled[group_col].astype(str).to_numpy()
    y = labelled[target_col].astype(float).to_numpy()
    X = labelled[feature_cols].to_numpy(float)
    real = {g: np.flatnonzero(groups == g) for g in remaining}
    fantasies: dict[str, list[float]] = {g: [] for g in remaining}
    cache: MutableMapping[str, Any] = {} if surrogates is None else surrogates
    fitted: set[str] = set()

    def values(g: str) -> np.ndarray:
        extra = [v for v in fantasies[g] if math.isfinite(v)]
        return np.concatenate((y[real[g]], extra)) if extra else y[real[g]]

    def model_for(g: str) -> Any:
        if g not in fitted:  # once per call: the engine does not refit on fantasies
            rows = real[g]
            if rows.size < 2:
                raise InputError(
                    f"group {g!r} has {rows.size} labelled row(s); a surrogate needs at least 2 "
                    "(label a few of its candidates first)"
                )
            if not np.isfinite(X[rows]).all():
                raise InputError(f"labelled table: missing or non-finite feature values in group {g!r}; "
                                 "fill or drop those rows")
            model, n_fitted = cache.get(g, (None, -1))
            if model is None:
                model = (make_surrogate(surrogate, **dict(surrogate_options or {}))
                         if isinstance(surrogate, str) else copy.deepcopy(surrogate))
            if n_fitted != rows.size:  # stale: refit (warm-started from its last fit)
                model.fit(X[rows], y[rows])
            cache[g] = (model, int(rows.size))
            fitted.add(g)
        return cache[g][0]

    picks: list[PoolPick] = []
    for _ in range(int(k)):
        eligible = [g for g, n in remaining.items() if n > 0]
        if not eligible:
            break
        estimates = {g: estimate_entropy(values(g), method=method, ties=ties) for g in eligible}
        undefined = [g for g in eligible if estimates[g].status != "ok"]
        if undefined:
            group = min(undefined, key=lambda g: real[g].size + len(fantasies[g]))
            criterion, incumbent = "std", None
        else:
            group = min(eligible, key=lambda g: estimates[g].entropy)
            criterion, incumbent = "ei", estimates[group].entropy
        pick = score_partitions(
            files, surrogate=model_for(group), values=values(group), group=group, group_col=group_col,
            id_col=id_col, feature_cols=feature_cols, incumbent=incumbent, criterion=criterion, method=method,
            ties=ties, exclude_ids=excluded, client=client, top=top, progress=progress,
        )  # fmt: skip
        picks.append(pick)
        excluded.add(pick.id)
        remaining[group] -= 1
        fantasies[group].append(pick.mean)
    return picks


def pick_from_pool(labelled: pd.DataFrame, pool: str | Path | Sequence[str | Path], **kwargs: Any) -> PoolPick:
    """One pick (``etal campaign suggest``): :func:`suggest_from_pool` with ``k=1``.

    Raises :class:`~etal.errors.InputError` if the pool has no candidate left.
    """
    picks = suggest_from_pool(labelled, pool, k=1, **kwargs)
    if not picks:
        raise InputError(f"the pool {str(pool)!r} has no candidate left")
    return picks[0]


def pool_rows(picks: Sequence[PoolPick], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The pool rows of ``picks`` (all columns, or ``columns``), in the order of the picks:
    for ``suggestions.csv`` or to append the labelled picks to the labelled table."""
    from .pool import _read

    if not picks:
        return pd.DataFrame(columns=list(columns or []))
    frames = {}
    for path in dict.fromkeys(p.file for p in picks):
        if columns is None:
            import pyarrow.parquet as pq

            wanted = pq.read_schema(path).names
        else:
            wanted = list(columns)
        frames[path] = _read(Path(path), wanted)
    return pd.DataFrame([frames[p.file].iloc[p.row] for p in picks]).reset_index(drop=True)
