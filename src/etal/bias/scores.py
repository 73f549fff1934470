"""Dataset-level bias scores from per-group entropies: the one home of each formula.

Every layer that reports a bias score (the bias report, the engine's history, the
experiment, the benchmark, campaigns, trimming) imports it from here.

* ``entropy_gap`` = max_g h_g − min_g h_g (nats; lower is fairer);
* ``entropy_deficit`` (D) = mean over groups of (max_g h_g − h_g) (nats; lower is
  fairer). Unlike the gap, D moves whenever any group gains diversity, so it is not pinned
  by one group that cannot be helped.

Groups without a finite entropy (fewer than 5 values) are left out of both. A group whose
values are all equal is *not* left out: :func:`etal.entropy.estimate_entropy` gives it a
finite, very low entropy when it is estimated with the dataset-wide resolution
(:func:`dataset_resolution`), so it counts as the least diverse group it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..data.dataset import smallest_gap

__all__ = ["dataset_resolution", "entropy_deficit", "entropy_gap", "finite_entropies", "lowest_entropy"]

NAN = float("nan")


def finite_entropies(entropies: Iterable[float | None] | Mapping) -> np.ndarray:
    """The finite values of ``entropies`` (a sequence, an array or a mapping group → nats)."""
    if isinstance(entropies, Mapping):
        entropies = entropies.values()
    values = np.asarray([np.nan if v is None else v for v in entropies], dtype=float).ravel()
    return values[np.isfinite(values)]


def entropy_gap(entropies: Iterable[float | None] | Mapping) -> float:
    """max − min of the finite group entropies (nats); NaN with fewer than two."""
    h = finite_entropies(entropies)
    return float(h.max() - h.min()) if h.size >= 2 else NAN


def entropy_deficit(entropies: Iterable[float | None] | Mapping) -> float:
    """Mean entropy deficit D = mean over groups of (max h − h_g), in nats; NaN with fewer than two."""
    h = finite_entropies(entropies)
    return float(np.mean(h.max() - h)) if h.size >= 2 else NAN


def lowest_entropy(entropies: Iterable[float | None] | Mapping) -> float:
    """The lowest finite group entropy (nats); NaN when there is none."""
    h = finite_entropies(entropies)
    return float(h.min()) if h.size else NAN


def dataset_resolution(values) -> float:
    """Smallest positive gap between two distinct values of the whole target column.

    Passed as ``resolution`` to :func:`etal.entropy.estimate_entropy` so that a group whose
    values are all equal gets a finite (very low) entropy instead of none. NaN when
    the whole column holds one value.
    """
    return smallest_gap(values)
