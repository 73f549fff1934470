"""How well a run removed bias, from its mean entropy deficit D after every acquisition.

The one home of the quality metrics and of the two CSV schemas a quality benchmark
writes (:data:`BENCHMARK_RUN_COLUMNS`, :data:`BENCHMARK_CURVE_COLUMNS`); the experiment,
the benchmark and the report all read them from here. Pure functions on arrays and
tables; nothing here runs a strategy.

A run is judged by the **mean entropy deficit** D (nats; lower = fairer) after every
acquisition, :func:`etal.bias.scores.entropy_deficit` applied to the group entropies
(groups without a finite entropy, i.e. fewer than 5 values, are left out):

* ``deficit_curve`` — D after 0, 1, ..., B acquisitions (a run that stopped early keeps its
  last value: no new labels, no change);
* ``area_under_curve`` — trapezoid area under D against acquisitions (nats x picks);
* ``picks_to_reach`` — the fewest acquisitions after which D <= a reference (e.g. random
  sampling's D at the budget): "labels needed"; NaN if never reached;
* ``share_of_bound`` — (D_0 − D_B) / (D_0 − D_B of the clairvoyant bound);
* ``run_metrics`` — all of them per run of a long table of D curves, the reference and
  the bound paired by split (:data:`RUN_METRIC_COLUMNS`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..bias.scores import entropy_deficit, entropy_gap, lowest_entropy
from ..errors import InputError
from ..params import check_int
from ._checks import _require_columns, _rows_preview

__all__ = [
    "BENCHMARK_CURVES_CSV",
    "BENCHMARK_CURVE_COLUMNS",
    "BENCHMARK_RUNS_CSV",
    "BENCHMARK_RUN_COLUMNS",
    "BOUND_STRATEGY",
    "REFERENCE_STRATEGY",
    "RUN_METRIC_COLUMNS",
    "area_under_curve",
    "curve_on_acquisitions",
    "deficit_curve",
    "pad_curve",
    "picks_to_reach",
    "run_metrics",
    "score_curves",
    "share_of_bound",
]

NAN = float("nan")

#: The strategy whose final D defines ``picks_to_random`` (paired by split).
REFERENCE_STRATEGY = "random"
#: The clairvoyant bound's strategy name (it sees labels; benchmarks only).
BOUND_STRATEGY = "oracle"

#: Per-run metrics :func:`run_metrics` adds to the run's key columns, in order:
#: ``D_start`` and ``final_D`` (nats, after 0 and after ``budget`` acquisitions),
#: ``auc_D`` (nats x acquisitions over 0..budget), ``picks_to_random`` (acquisitions
#: until D <= the reference's final D on the same split; NaN = never) and
#: ``share_of_bound`` (NaN without a bound run on the split).
RUN_METRIC_COLUMNS: tuple[str, ...] = (
    "D_start",
    "final_D",
    "auc_D",
    "picks_to_random",
    "share_of_bound",
)

#: The quality benchmark's per-run table, in order (one row per dataset, split seed and
#: strategy; units as in :data:`RUN_METRIC_COLUMNS`).
BENCHMARK_RUN_COLUMNS: tuple[str, ...] = (
    "dataset", "split_seed", "strategy", "final_D", "auc_D", "picks_to_random", "share_of_bound",
)  # fmt: skip
#: The quality benchmark's per-acquisition D curves, in order (``acquisition`` = labels
#: acquired so far, 0 = the initial set; ``entropy_deficit`` in nats).
BENCHMARK_CURVE_COLUMNS: tuple[str, ...] = (
    "dataset",
    "split_seed",
    "strategy",
    "acquisition",
    "entropy_deficit",
)
#: File names of the two tables in a benchmark result folder.
BENCHMARK_RUNS_CSV = "quality_runs.csv"
BENCHMARK_CURVES_CSV = "quality_curves.csv"


def score_curves(entropies: pd.DataFrame | np.ndarray) -> pd.DataFrame:
    """Per-row D, entropy_gap and lowest entropy (nats) of a table of group entropies.

    ``entropies``: one row per state (e.g. after each acquisition), one column per group
    (nats; NaN where a group has no estimate). Returns columns ``entropy_deficit``,
    ``entropy_gap``, ``entropy_min`` with the same index.
    """
    frame = pd.DataFrame(entropies)
    rows = frame.to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "entropy_deficit": [entropy_deficit(r) for r in rows],
            "entropy_gap": [entropy_gap(r) for r in rows],
            "entropy_min": [lowest_entropy(r) for r in rows],
        },
        index=frame.index,
    )


def pad_curve(curve: Sequence[float], budget: int) -> np.ndarray:
    """``curve`` (values after 0..k acquisitions) extended to 0..budget by its last value.

    A run that stopped before the budget acquired nothing more, so its score stays.
    Longer curves are cut at ``budget``.
    """
    c = np.asarray(curve, dtype=float).ravel()
    if c.size == 0:
        raise ValueError("an empty curve has no value after 0 acquisitions")
    budget = check_int("budget", budget, low=0)
    if c.size >= budget + 1:
        return c[: budget + 1].copy()
    return np.concatenate((c, np.full(budget + 1 - c.size, c[-1])))


def curve_on_acquisitions(
    acquisitions: Sequence[int], values: Sequence[float], budget: int
) -> np.ndarray:
    """Values recorded after some acquisition counts, as a curve over 0..budget acquisitions.

    ``acquisitions[i]`` is how many labels had been acquired when ``values[i]`` was
    recorded (0 must be among them). With batches (k labels at once) the counts jump by
    k; the value after t acquisitions is the one recorded at the largest count <= t (the
    labels of a batch arrive together). After the last record the value stays (a run that
    stopped acquired nothing more); records beyond ``budget`` are cut.
    """
    a = np.asarray(acquisitions, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if a.size != v.size:
        raise ValueError(f"{a.size} acquisition counts but {v.size} values")
    budget = check_int("budget", budget, low=0)
    order = np.argsort(a, kind="stable")
    a, v = a[order], v[order]
    if a.size == 0 or a[0] != 0:
        raise ValueError(
            "the curve needs a value after 0 acquisitions (the initial set)"
        )
    if np.any(np.diff(a) == 0):
        raise ValueError("several values for the same acquisition count")
    at = np.searchsorted(a, np.arange(budget + 1), side="right") - 1
    return v[at]


def deficit_curve(
    entropies: pd.DataFrame | np.ndarray, budget: int | None = None
) -> np.ndarray:
    """D (nats) after 0, 1, ... acquisitions; padded / cut to ``budget`` when given."""
    d = score_curves(entropies)["entropy_deficit"].to_numpy()
    return d if budget is None else pad_curve(d, budget)


def area_under_curve(curve: Sequence[float]) -> float:
    """Trapezoid area under a curve sampled at 0, 1, 2, ... acquisitions (units x picks)."""
    c = np.asarray(curve, dtype=float).ravel()
    if c.size < 2:
        return 0.0
    return float(np.sum(0.5 * (c[1:] + c[:-1])))


def picks_to_reach(curve: Sequence[float], reference: float) -> float:
    """The fewest acquisitions t with ``curve[t] <= reference`` (NaN if never).

    ``curve[t]`` is the score after t acquisitions; a tiny tolerance (1e-12 nats) keeps a
    run that matches the reference to rounding error from being counted as missing it.
    """
    c = np.asarray(curve, dtype=float).ravel()
    if not math.isfinite(reference):
        return NAN
    hit = np.flatnonzero(c <= reference + 1e-12)
    return float(hit[0]) if hit.size else NAN


def share_of_bound(start: float, end: float, bound_end: float) -> float:
    """Share of the clairvoyant D-reduction reached: (start − end) / (start − bound_end).

    1 = as good as the bound, 0 = no reduction, negative = D rose. NaN when the bound
    reduces nothing.
    """
    span = start - bound_end
    if not (math.isfinite(span) and span > 0 and math.isfinite(end)):
        return NAN
    return float((start - end) / span)


def run_metrics(
    curves: pd.DataFrame,
    *,
    run: Sequence[str] = ("dataset", "split_seed", "strategy"),
    split: Sequence[str] = ("dataset", "split_seed"),
    budget: int | None = None,
    reference: str = REFERENCE_STRATEGY,
    bound: str = BOUND_STRATEGY,
    value: str = "entropy_deficit",
    acquisition: str = "acquisition",
) -> pd.DataFrame:
    """Per-run quality metrics from a long table of D curves (e.g. :data:`BENCHMARK_CURVE_COLUMNS`).

    ``curves`` has the ``run`` key columns (which include ``strategy``), an
    ``acquisition`` count and the ``value`` column (D, nats). ``split`` are the key
    columns that identify a split (a subset of ``run``): the ``reference`` and the
    ``bound`` are paired with a run by them. Each run's curve is put on 0..``budget``
    acquisitions with :func:`curve_on_acquisitions` (default budget: the largest count in
    the table, so a run that stopped early keeps its last D).

    Returns the ``run`` columns followed by :data:`RUN_METRIC_COLUMNS`, one row per run
    in the order of first appearance. ``picks_to_random`` uses the reference's final D on
    the same split (the mean when the reference ran several times there, e.g. several
    loop seeds on one split); NaN when the split has no reference run or the run never
    gets there. ``share_of_bound`` is NaN without a ``bound`` run on the split. For the
    benchmark table keep :data:`BENCHMARK_RUN_COLUMNS`.

    Raises
    ------
    InputError
        missing columns, a non-numeric D, a run without a value after 0 acquisitions, or
        two values for the same run and acquisition count.
    """
    run, split = list(run), list(split)
    if "strategy" not in run:
        raise InputError(f"run keys {run} must include 'strategy'")
    if not set(split) <= set(run):
        raise InputError(f"split keys {split} must be among the run keys {run}")
    _require_columns(curves, [*run, acquisition, value], "D curve table")
    if not pd.api.types.is_numeric_dtype(curves[value]):
        raise InputError(
            f"D curve table: column {value!r} is not numeric (dtype {curves[value].dtype})"
        )
    dup = curves.duplicated([*run, acquisition], keep=False)
    if dup.any():
        raise InputError(
            f"D curve table has several {value} values for the same run and {acquisition} in rows "
            f"{_rows_preview(curves.index[dup])}"
        )
    if budget is None:
        budget = int(curves[acquisition].max()) if len(curves) else 0
    rows, finals = [], {}
    for key, block in curves.groupby(run, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        ident = dict(zip(run, key))
        try:
            curve = curve_on_acquisitions(
                block[acquisition].to_numpy(), block[value].to_numpy(), budget
            )
        except ValueError as exc:
            raise InputError(f"D curve table, run {ident}: {exc}") from None
        rows.append((ident, curve))
        split_key = tuple(ident[c] for c in split)
        finals.setdefault((split_key, str(ident["strategy"])), []).append(curve[-1])
    out = []
    for ident, curve in rows:
        split_key = tuple(ident[c] for c in split)
        ref = finals.get((split_key, reference))
        top = finals.get((split_key, bound))
        out.append(
            {
                **ident,
                "D_start": float(curve[0]),
                "final_D": float(curve[-1]),
                "auc_D": area_under_curve(curve),
                "picks_to_random": picks_to_reach(curve, float(np.mean(ref)))
                if ref
                else NAN,
                "share_of_bound": share_of_bound(
                    curve[0], curve[-1], float(np.mean(top))
                )
                if top
                else NAN,
            }
        )
    frame = pd.DataFrame(out, columns=[*run, *RUN_METRIC_COLUMNS])
    return frame.astype({c: "float64" for c in RUN_METRIC_COLUMNS})
