"""Paired statistics: strategy a minus strategy b, paired by seed (t-interval, Wilcoxon, t-test)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..params import check_float
from ._checks import _require_columns, _rows_preview, _seeds_text, _span_text

__all__ = ["paired_by_split", "paired_comparison", "paired_final_difference"]

# Metric direction: for these metrics a larger value is better.
_HIGHER_IS_BETTER = {"r2": True, "mae": False}


def _t_interval(diffs: np.ndarray, confidence: float) -> tuple[float, float]:
    """t-interval of the mean of ``diffs`` (n >= 2)."""
    from scipy import stats

    n = len(diffs)
    mean = float(diffs.mean())
    sem = float(diffs.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sem
    return mean - half, mean + half


def _paired_statistics(
    va: np.ndarray, vb: np.ndarray, *, higher: bool, confidence: float, what: str
) -> dict[str, Any]:
    """Paired statistics of ``va`` − ``vb`` (element i of each is one seed); shared by
    :func:`paired_comparison` and :func:`paired_final_difference`.

    Pairs where either value is not finite are dropped. Returns ``n_pairs, mean_a, mean_b,
    mean_diff, ci_low, ci_high, p_value`` (two-sided Wilcoxon signed-rank, SciPy
    defaults), ``p_value_t`` (paired t-test), ``a_better`` (fraction of pairs where a is
    strictly better; ``higher`` says which direction is better) and ``note`` (why a value
    is NaN; ``what`` names the values in it). Never raises on degenerate input.
    """
    from scipy import stats

    ok = np.isfinite(va) & np.isfinite(vb)
    va, vb = va[ok], vb[ok]
    d = va - vb
    n = len(d)
    row: dict[str, Any] = {
        "n_pairs": n,
        "mean_a": float(va.mean()) if n else np.nan,
        "mean_b": float(vb.mean()) if n else np.nan,
        "mean_diff": float(d.mean()) if n else np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p_value": np.nan,
        "p_value_t": np.nan,
        "a_better": float(np.mean(d > 0 if higher else d < 0)) if n else np.nan,
        "note": "",
    }
    if n == 0:
        row["note"] = f"no seed has a finite {what}"
    elif n == 1:
        row["note"] = "only 1 paired seed: no interval or test"
    elif np.all(d == 0):
        row["ci_low"] = row["ci_high"] = 0.0
        row["note"] = "all paired differences are zero: tests undefined"
    else:
        row["ci_low"], row["ci_high"] = _t_interval(d, confidence)
        with warnings.catch_warnings():
            # SciPy warns when it switches from the exact to the normal approximation
            # (zeros or ties among the differences); the p-value is still valid.
            warnings.simplefilter("ignore", UserWarning)
            row["p_value"] = float(stats.wilcoxon(va, vb).pvalue)
        if np.ptp(d) == 0:
            row["note"] = "paired differences are constant: t-test undefined"
        else:
            row["p_value_t"] = float(stats.ttest_rel(va, vb).pvalue)
    return row


def _check_pair(
    table: pd.DataFrame, a: str, b: str, confidence: float, where: str, column: str | None = None,
    *, distinct: bool = True,
) -> pd.Series:
    """The checks every paired comparison makes: ``column`` numeric, ``confidence`` in
    (0, 1), ``a`` and ``b`` (different when ``distinct``) both in ``table``; returns the
    strategy column as ``str``."""
    if column is not None and not pd.api.types.is_numeric_dtype(table[column]):
        raise InputError(f"{where}: column {column!r} is not numeric (dtype {table[column].dtype})")
    check_float("confidence", confidence, low=0, high=1, low_open=True, high_open=True)
    if distinct and a == b:
        raise InputError(f"a and b are the same strategy {a!r}; compare two different strategies")
    strategy = table["strategy"].astype(str)
    available = sorted(set(strategy))
    for name in (a, b):
        if name not in available:
            raise InputError(f"strategy {name!r} is not in the {where}; it has {available}")
    return strategy


def paired_comparison(
    downstream: pd.DataFrame,
    a: str = "etal",
    b: str = "random",
    *,
    metric: str = "r2",
    scope: str = "all",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Compare strategy ``a`` with ``b`` per (model, target), paired by seed.

    Returns one row per (model, target) with ``n_pairs`` (seeds with a finite score for
    both), ``mean_a``, ``mean_b``, ``mean_diff`` (a − b), ``ci_low``/``ci_high`` (t-interval
    of the mean paired difference at ``confidence``), ``p_value`` (two-sided Wilcoxon
    signed-rank test, SciPy defaults: zero differences dropped), ``p_value_t`` (paired
    t-test), ``a_better`` (fraction of seeds where ``a`` is strictly better: higher R²,
    lower MAE), ``note`` (why a value is NaN, else empty), and the inputs ``a, b, metric,
    scope, confidence``.

    Edge cases never raise: with no pair everything is NaN; with one pair there is no
    interval or test; when all differences are zero the interval is [0, 0] and both
    p-values are NaN; when the differences are constant but non-zero the t-test is NaN.
    p-values are not corrected for multiple comparisons.
    """
    _require_columns(downstream, ["strategy", "model", "target", "seed", "scope", metric], "downstream table")
    if metric not in _HIGHER_IS_BETTER:
        raise InputError(f"metric must be one of {list(_HIGHER_IS_BETTER)}, got {metric!r}")
    _check_pair(downstream, a, b, confidence, "downstream table", distinct=False)
    sub = downstream[(downstream["scope"].astype(str) == str(scope)) & downstream["strategy"].isin([a, b])]
    if sub.empty:
        raise InputError(f"no rows with scope {scope!r} for strategies {a!r} and {b!r}")
    keys = ["strategy", "model", "target", "seed"]
    dup = sub.duplicated(keys, keep=False)
    if dup.any():
        raise InputError(
            f"downstream table has several {metric} values for the same (strategy, model, target, seed, "
            f"scope) in rows {_rows_preview(sub.index[dup])}; evaluate each combination once"
        )
    wide = sub.pivot_table(index=["model", "target", "seed"], columns="strategy", values=metric, aggfunc="first")
    higher = _HIGHER_IS_BETTER[metric]
    rows = []
    for (model, target), block in wide.groupby(level=["model", "target"], sort=True):
        va = block[a].to_numpy(dtype=float) if a in block else np.full(len(block), np.nan)
        vb = block[b].to_numpy(dtype=float) if b in block else np.full(len(block), np.nan)
        row: dict[str, Any] = {"model": model, "target": target}
        row.update(_paired_statistics(va, vb, higher=higher, confidence=confidence, what=f"{metric} for both {a!r} and {b!r}"))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["a"], out["b"], out["metric"], out["scope"], out["confidence"] = a, b, metric, str(scope), confidence
    return out


# --------------------------------------------------------------------------- bias trajectory


def paired_final_difference(
    scores: pd.DataFrame,
    column: str,
    a: str = "etal",
    b: str = "random",
    confidence: float = 0.95,
) -> dict[str, Any]:
    """``a`` − ``b`` in a per-run score at the last iteration every run reached, paired by seed.

    ``scores`` has columns ``strategy, seed, iteration`` and ``column`` (e.g. the output
    of :func:`group_score_trajectory`, column ``depleted_entropy_min``; larger = better).
    The runs are compared at ``iteration`` = the last iteration that every run of ``a``
    and ``b`` reached (a run that stopped early is never extended; the others are read
    there), each run's value being the one recorded at the latest iteration ≤ that point.

    Runs are paired by seed. With at least 2 pairs (finite values for both), the result
    holds the mean paired difference with a t-interval at ``confidence``, the two-sided
    Wilcoxon signed-rank p-value and the paired t-test p-value, exactly as
    :func:`paired_comparison` computes them for R². With fewer pairs (e.g. a
    deterministic ``a`` run once against 5 seeds of ``b``) there is no paired interval:
    ``mean_a`` and ``mean_b`` are means over *all* finite runs of each, ``mean_diff`` their
    difference, the interval and p-values NaN, and ``note`` says so.

    Returns a dict: ``column, a, b, iteration, n_a, n_b`` (runs with a finite value),
    ``n_pairs, paired`` (True when the statistics are paired), ``mean_a, mean_b,
    mean_diff, ci_low, ci_high, p_value, p_value_t, a_better`` (fraction of pairs where
    ``a`` is higher), ``confidence, note``. Values are in the score's unit (nats for
    entropies).
    """
    _require_columns(scores, ["strategy", "seed", "iteration", column], "score table")
    strategy = _check_pair(scores, a, b, confidence, "score table", column)
    sub = scores[strategy.isin([a, b])].assign(strategy=strategy)
    dup = sub.duplicated(["strategy", "seed", "iteration"], keep=False)
    if dup.any():
        raise InputError(
            f"score table has several rows for the same (strategy, seed, iteration) in rows {_rows_preview(sub.index[dup])}"
        )
    last = sub.groupby(["strategy", "seed"])["iteration"].max()
    at = int(last.min())
    notes = []
    if last.nunique() > 1:
        ends = {s: _span_text(last[s]) for s in (a, b)}
        notes.append(
            f"runs reached different iterations ({a}: {ends[a]}, {b}: {ends[b]}); compared at {at}, the last "
            "iteration every run reached"
        )
    # Each run's value at the latest recorded iteration <= at (exactly at for batch size 1).
    upto = sub[sub["iteration"] <= at].sort_values("iteration", kind="stable")
    # drop_duplicates, not groupby().last(): last() would skip a NaN and read an older value.
    final = upto.drop_duplicates(["strategy", "seed"], keep="last").set_index(["strategy", "seed"])[column]
    values = {s: final.xs(s, level="strategy").astype(float) for s in (a, b)}
    finite = {s: v[np.isfinite(v.to_numpy())] for s, v in values.items()}
    common = sorted(set(finite[a].index) & set(finite[b].index))
    out: dict[str, Any] = {
        "column": column, "a": a, "b": b, "iteration": at,
        "n_a": len(finite[a]), "n_b": len(finite[b]), "n_pairs": len(common), "paired": len(common) >= 2,
    }  # fmt: skip
    if len(common) >= 2:
        stats_ = _paired_statistics(
            finite[a].loc[common].to_numpy(), finite[b].loc[common].to_numpy(),
            higher=True, confidence=confidence, what=f"{column} for both {a!r} and {b!r}",
        )  # fmt: skip
        unpaired = (len(finite[a]) - len(common)) + (len(finite[b]) - len(common))
        if unpaired:
            notes.append(f"{unpaired} run(s) without a partner seed left out")
        notes.append(stats_.pop("note"))
    else:
        mean_a = float(finite[a].mean()) if len(finite[a]) else np.nan
        mean_b = float(finite[b].mean()) if len(finite[b]) else np.nan
        stats_ = {
            "mean_a": mean_a, "mean_b": mean_b, "mean_diff": mean_a - mean_b,
            "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "p_value_t": np.nan, "a_better": np.nan,
        }  # fmt: skip
        notes.append(
            f"{a} has {len(finite[a])} run(s) (seeds {_seeds_text(finite[a].index)}) and {b} {len(finite[b])} "
            f"(seeds {_seeds_text(finite[b].index)}) with a finite {column}; {len(common)} seed(s) in common, fewer "
            f"than 2, so no paired interval or test: means over all runs of each"
        )
    stats_.pop("n_pairs", None)
    out.update(stats_)
    out["confidence"] = confidence
    out["note"] = "; ".join(n for n in notes if n)
    return out


# --------------------------------------------------------------------------- per-run scores


def paired_by_split(
    runs: pd.DataFrame,
    column: str,
    a: str,
    b: str,
    *,
    on: str | list[str] = "split_seed",
    lower_is_better: bool = True,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """``a`` − ``b`` in a per-run score, paired by split (e.g. final D of ET-AL minus random's).

    ``runs`` has columns ``strategy``, ``on`` (the split's key, e.g. ``split_seed``) and
    ``column``. A strategy with several runs on one split (e.g. several loop seeds) counts
    once there, with its mean. With at least 2 pairs the result holds the mean paired
    difference with a t-interval at ``confidence``, the Wilcoxon and paired-t p-values,
    as :func:`paired_comparison` computes them; with fewer the interval and tests are
    NaN and ``note`` says why. ``lower_is_better`` sets the direction of ``a_better``
    (fraction of splits where ``a`` is strictly better; D: lower is better).

    Returns a dict: ``column, a, b, n_pairs, mean_a, mean_b, mean_diff, ci_low, ci_high,
    p_value, p_value_t, a_better, confidence, note``, in the score's unit (nats for D).
    """
    keys = [on] if isinstance(on, str) else list(on)
    _require_columns(runs, ["strategy", *keys, column], "per-run table")
    strategy = _check_pair(runs, a, b, confidence, "per-run table", column)
    sub = runs.assign(strategy=strategy)[strategy.isin([a, b])]
    values = sub.pivot_table(index=keys, columns="strategy", values=column, aggfunc="mean", dropna=False)
    va = values[a].to_numpy(dtype=float) if a in values else np.array([])
    vb = values[b].to_numpy(dtype=float) if b in values else np.array([])
    what = f"{column} for both {a!r} and {b!r} on one split"
    out: dict[str, Any] = {"column": column, "a": a, "b": b}
    out.update(_paired_statistics(va, vb, higher=not lower_is_better, confidence=confidence, what=what))
    out["confidence"] = confidence
    return out
