"""Metrics of one acquisition run, from the per-acquisition group entropies (pure functions).

The run is judged by the **mean entropy deficit** D (nats; lower = fairer) after every
acquisition, :func:`etal.bias.scores.entropy_deficit` applied to the group entropies
(groups without a finite entropy, i.e. fewer than 5 values, are left out):

* ``deficit_curve`` — D after 0, 1, ..., B acquisitions (a run that stopped early keeps its
  last value: no new labels, no change);
* ``area_under_curve`` — trapezoid area under D against acquisitions (nats x picks);
* ``picks_to_reach`` — the fewest acquisitions after which D <= a reference (e.g. random
  sampling's D at the budget): "labels needed"; NaN if never reached;
* ``share_of_bound`` — (D_0 − D_B) / (D_0 − D_B of the clairvoyant bound).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..bias.scores import entropy_deficit, entropy_gap, lowest_entropy

__all__ = [
    "area_under_curve",
    "deficit_curve",
    "pad_curve",
    "picks_to_reach",
    "score_curves",
    "share_of_bound",
]

NAN = float("nan")


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
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    if c.size >= budget + 1:
        return c[: budget + 1].copy()
    return np.concatenate((c, np.full(budget + 1 - c.size, c[-1])))


def deficit_curve(entropies: pd.DataFrame | np.ndarray, budget: int | None = None) -> np.ndarray:
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
