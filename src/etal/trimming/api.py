"""``etal.trim(...)``: choose the rows to keep and report the bias before and after.

The Python entry point of trimming: it loads and validates the data (through
:func:`etal.data.load_data`), checks the request (every problem is an
:class:`~etal.errors.InputError` raised *before* any work or output), runs the greedy
(:mod:`etal.trimming.greedy`) and measures the bias of the full and the trimmed set with
:func:`etal.bias_report`. Writing files is :mod:`etal.trimming.outputs`' job.

Only labelled rows (target present) take part: the entropies are of the target.
Unlabelled rows, if the table has any, are neither kept nor trimmed; they are listed in
``removed`` with the reason ``"unlabelled"`` (step 0) so that no row goes unaccounted.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..bias import BiasReport, bias_report
from ..bias.scores import entropy_deficit, entropy_gap, lowest_entropy
from ..data import Dataset, load_data
from ..errors import InputError
from .greedy import GreedyPlan, capacity, greedy_trim
from .objective import TRIM_METHODS, estimator_at

__all__ = ["REMOVED_COLUMNS", "TrimResult", "bias_scores", "resolve_keep", "trim"]

#: Columns :func:`trim` adds to the removed rows (after the table's own columns).
REMOVED_COLUMNS: tuple[str, ...] = ("step", "order", "entropy_change", "reason")


@dataclass
class TrimResult:
    """What :func:`trim` kept, what it removed and why, and the bias before and after.

    ``kept``: the kept labelled rows with all their columns (table order).
    ``removed``: the other rows with all their columns plus ``step`` (the greedy step at
    which the row left; 0 for unlabelled rows), ``order`` (removal rank), ``entropy_change``
    (nats: the change of its group's entropy had it been removed alone at that step) and
    ``reason``. ``before`` / ``after``: :class:`etal.bias.BiasReport` of the labelled rows
    and of the kept rows. ``comparison``: per group ``n_before, n_after, entropy_before,
    entropy_after`` (nats). ``scores``: ``n_before``, ``n_after``, ``entropy_gap_*``,
    ``entropy_deficit_*``, ``entropy_lowest_*`` (``_before``/``_after``; nats).
    ``history``: one row per greedy step.
    """

    dataset: Dataset
    kept: pd.DataFrame
    removed: pd.DataFrame
    before: BiasReport
    after: BiasReport
    comparison: pd.DataFrame
    scores: dict[str, Any]
    history: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        s = self.scores
        return [
            f"kept {s['n_after']} of {s['n_before']} labelled rows",
            f"mean entropy deficit D: {s['entropy_deficit_before']:.4f} -> {s['entropy_deficit_after']:.4f} nats",
            f"entropy gap:            {s['entropy_gap_before']:.4f} -> {s['entropy_gap_after']:.4f} nats",
            f"lowest group entropy:   {s['entropy_lowest_before']:.4f} -> {s['entropy_lowest_after']:.4f} nats",
        ]


def _reason(change: float) -> str:
    """Why a row left, from the change of its group's entropy had it left alone (nats)."""
    if change >= 0:
        return (f"redundant: removing it raises its group's entropy by {change:.5f} nats, "
                "the least harm to D")
    return (f"evens out a high-entropy group: removing it lowers its group's entropy by "
            f"{-change:.5f} nats, the least harm to D")


def bias_scores(report: BiasReport) -> dict[str, float]:
    """``entropy_gap``, ``entropy_deficit`` (D) and ``entropy_lowest`` of a bias report (nats)."""
    table = report.table
    h = table.loc[table["status"] == "ok", "entropy"].to_numpy(dtype=float)
    return {"entropy_gap": entropy_gap(h), "entropy_deficit": entropy_deficit(h), "entropy_lowest": lowest_entropy(h)}


def resolve_keep(keep: float, n: int) -> int:
    """Rows to keep: a whole number of rows, or a fraction in (0, 1] of the ``n`` labelled rows."""
    if isinstance(keep, bool) or not isinstance(keep, numbers.Real) or not np.isfinite(keep):
        raise InputError(f"keep must be a number of rows or a fraction in (0, 1], got {keep!r}")
    if isinstance(keep, numbers.Integral) or (float(keep) > 1 and float(keep).is_integer()):
        k = int(keep)
        if k < 1:
            raise InputError(f"keep must be at least 1 row, got {k}")
        if k > n:
            raise InputError(f"keep {k} is larger than the table: it has {n} labelled rows")
        return k
    if not 0 < float(keep) <= 1:
        raise InputError(
            f"keep {keep!r} is neither a whole number of rows nor a fraction in (0, 1]"
        )
    return max(1, round(float(keep) * n))


def _min_counts(min_per_group, labels: list[str]) -> np.ndarray | None:
    if min_per_group is None:
        return None
    if isinstance(min_per_group, Mapping):
        unknown = [str(g) for g in min_per_group if str(g) not in labels]
        if unknown:
            raise InputError(
                f"minimum counts name unknown group(s) {unknown[:5]}; the groups are "
                f"{', '.join(labels[:20])}"
            )
        wanted = {str(g): v for g, v in min_per_group.items()}
        values = [wanted.get(g, 0) for g in labels]
    else:
        values = [min_per_group] * len(labels)
    out = []
    for g, v in zip(labels, values):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
            raise InputError(f"the minimum count of group {g!r} must be a whole number >= 0, got {v!r}")
        out.append(int(v))
    return np.array(out, dtype=np.int64)


def _protected(frame: pd.DataFrame, id_col: str, keep_ids: Iterable | None, source: str) -> np.ndarray:
    mask = np.zeros(len(frame), dtype=bool)
    if keep_ids is None:
        return mask
    wanted = pd.Index([str(v).strip() for v in keep_ids])
    ids = frame[id_col].astype(str).str.strip()
    unknown = wanted[~wanted.isin(ids)]
    if len(unknown):
        shown = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise InputError(
            f"{len(unknown)} must-keep id(s) are not ids of labelled rows of {source} "
            f"(column {id_col!r}): {shown}; check the ids and the id column"
        )
    mask[ids.isin(wanted).to_numpy()] = True
    return mask


def trim(
    data: Dataset | pd.DataFrame | str | Any,
    keep: float,
    *,
    group_col: str | None = None,
    target_col: str | None = None,
    id_col: str | None = None,
    feature_cols: str | list[str] | None = None,
    min_per_group: int | Mapping[str, int] | None = None,
    keep_ids: Iterable | None = None,
    coverage_weight: float = 0.0,
    method: str = "auto",
    batch: bool = True,
    n_bootstrap: int = 0,
    seed: int | None = 0,
    progress: bool = False,
) -> TrimResult:
    """Trim a dataset to ``keep`` labelled rows with even, high group entropies.

    Parameters
    ----------
    data : a :class:`etal.data.Dataset`, a DataFrame, a table file or an embedded dataset
        name (``"oqmd8"``), read with :func:`etal.data.load_data` and the column arguments.
    keep : rows to keep: a whole number, or a fraction in (0, 1] of the labelled rows.
    min_per_group : every group keeps at least this many rows (an int for all groups, or
        ``{group: count}``); never fewer than 5 (an entropy estimate's minimum), and a
        group smaller than its minimum is kept whole.
    keep_ids : ids (values of the id column) of rows that must be kept.
    coverage_weight : weight of the feature-space coverage term (0 = off; see
        :mod:`etal.trimming.greedy`); uses the feature columns.
    method : entropy estimator, one of :data:`etal.trimming.objective.TRIM_METHODS`.
    batch : remove well-separated batches per step (fast); False = one row per step.
    n_bootstrap, seed : bootstrap replicates (and seed) of the before/after bias reports'
        intervals (0 = no intervals).
    progress : show a progress bar.

    Returns
    -------
    TrimResult. Every problem with the request (keep larger than the table, below what
    the minimum counts and must-keep rows allow, unknown ids, ...) raises
    :class:`etal.errors.InputError` before any work.
    """
    dataset = data if isinstance(data, Dataset) else load_data(
        data, group_col=group_col, target_col=target_col, id_col=id_col,
        feature_cols=feature_cols if feature_cols is not None else (None if coverage_weight > 0 else []),
    )  # fmt: skip
    if str(method).lower().replace("_", " ") not in TRIM_METHODS:
        estimator_at(method, 100)  # raises, naming the supported estimators
    if not (isinstance(coverage_weight, numbers.Real) and np.isfinite(coverage_weight) and coverage_weight >= 0):
        raise InputError(f"coverage_weight must be a number >= 0, got {coverage_weight!r}")
    if coverage_weight > 0 and not dataset.feature_cols:
        raise InputError(
            f"the coverage term needs feature columns, and {dataset.source} has none; name "
            "them or set the coverage weight to 0"
        )
    frame = dataset.frame
    labelled = frame[dataset.target_col].notna().to_numpy()
    table = frame.loc[labelled].reset_index(drop=True)
    n = len(table)
    if n == 0:
        raise InputError(f"{dataset.source} has no labelled rows (column {dataset.target_col!r} is empty)")
    n_keep = resolve_keep(keep, n)
    labels, codes = np.unique(table[dataset.group_col].astype(str).to_numpy(), return_inverse=True)
    labels = labels.tolist()
    minimums = _min_counts(min_per_group, labels)
    protected = _protected(table, dataset.id_col, keep_ids, dataset.source)
    room = capacity(codes, len(labels), protected, minimums)
    smallest = n - int(room.sum())
    if n_keep < smallest:
        raise InputError(
            f"cannot keep only {n_keep} rows of {dataset.source}: the per-group minimums "
            f"(at least 5 per group, the entropy estimate's minimum), each group's smallest "
            f"and largest target value and the must-keep rows need at least {smallest} rows; "
            "keep more rows or lower the minimums"
        )

    features = dataset.features(table) if coverage_weight > 0 else None
    plan: GreedyPlan = greedy_trim(
        table[dataset.target_col].to_numpy(dtype=float), codes, n_keep,
        n_groups=len(labels), protected=protected, min_counts=minimums, features=features,
        coverage_weight=float(coverage_weight), method=method, batch=batch, progress=progress,
    )  # fmt: skip

    kept_mask = plan.step == 0
    kept = table.loc[kept_mask].reset_index(drop=True)
    removed = table.loc[~kept_mask].copy()
    removed["step"] = plan.step[~kept_mask]
    removed["order"] = plan.order[~kept_mask]
    removed["entropy_change"] = plan.entropy_change[~kept_mask]
    removed["reason"] = [_reason(c) for c in removed["entropy_change"]]
    removed = removed.sort_values("order", kind="stable")
    pool = frame.loc[~labelled]
    if len(pool):
        pool = pool.copy()
        pool["step"], pool["order"], pool["entropy_change"] = 0, -1, np.nan
        pool["reason"] = "unlabelled: no target value, so no part of the entropies"
        removed = pd.concat([pool, removed])
    removed = removed.reset_index(drop=True)

    report_args = {"group_col": dataset.group_col, "target_col": dataset.target_col, "method": method,
                   "n_bootstrap": n_bootstrap, "seed": seed}
    before = bias_report(table, **report_args)
    after = bias_report(kept, **report_args)
    sb, sa = bias_scores(before), bias_scores(after)
    scores = {"n_before": n, "n_after": len(kept)}
    for key in sb:
        scores[f"{key}_before"], scores[f"{key}_after"] = sb[key], sa[key]
    comparison = pd.DataFrame({
        "group": labels,
        "n_before": np.bincount(codes, minlength=len(labels)),
        "n_after": np.bincount(codes[kept_mask], minlength=len(labels)),
        "entropy_before": before.table.set_index("group")["entropy"].reindex(labels).to_numpy(),
        "entropy_after": after.table.set_index("group")["entropy"].reindex(labels).to_numpy(),
    })  # fmt: skip
    history = pd.DataFrame(plan.history, columns=["step", "group", "removed", "n_group", "entropy_group", "deficit", "lowest"])
    history["group"] = [labels[g] for g in history["group"]]
    settings = {
        "keep": keep, "n_keep": n_keep, "min_per_group": None if minimums is None else dict(zip(labels, minimums.tolist())),
        "n_keep_ids": int(protected.sum()), "coverage_weight": float(coverage_weight), "method": method,
        "batch": bool(batch), "group": dataset.group_col, "target": dataset.target_col,
        "id": dataset.id_col, "features": list(dataset.feature_cols), "source": dataset.source,
        "n_unlabelled": len(pool),
    }  # fmt: skip
    return TrimResult(dataset, kept, removed, before, after, comparison, scores, history, settings)
