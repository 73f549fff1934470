"""The clairvoyant greedy bound: a strategy that SEES THE POOL'S LABELS (benchmarks only).

At each step it takes the pool row whose true label lowers the mean entropy deficit D
(:func:`etal.bias.scores.entropy_deficit`) the most, computing each candidate's new group
entropy exactly with :func:`etal.acquisition.entropy_after_insertion`. No real strategy can
see labels, so it is an upper reference for the benchmark: a strategy's *share* is its
D-reduction over this one's. It is greedy, not optimal: a longer look-ahead could beat it,
so shares slightly above 100 % are possible.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..acquisition import entropy_after_insertion
from ..bias.scores import entropy_deficit
from ..entropy import MIN_SAMPLES, estimate_entropy
from ..errors import InputError
from ..strategies import Pick

__all__ = ["ClairvoyantStrategy", "deficit_after"]

NAN = float("nan")


def deficit_after(others: np.ndarray, new: np.ndarray) -> np.ndarray:
    """D (nats) of the entropies ``others`` plus one more group entropy, for each of ``new``.

    :func:`etal.bias.scores.entropy_deficit` (the one definition) per value of ``new``;
    NaN in ``new`` (that group still has no estimate) gives D of ``others`` alone.
    """
    o = [float(v) for v in np.asarray(others, dtype=float).ravel()]
    new = np.asarray(new, dtype=float)
    return np.array([entropy_deficit(o + [float(v)]) for v in new.ravel()]).reshape(new.shape)


class ClairvoyantStrategy:
    """Greedy D-minimiser given the pool's true labels. SEES LABELS: benchmarks only.

    ``labels`` maps pool id -> true target value.
    """

    name = "oracle"
    uses_surrogate = False
    sees_labels = True

    def __init__(self, labels: Mapping) -> None:
        if not isinstance(labels, Mapping) or not labels:
            raise InputError("the clairvoyant bound needs the pool's labels as a mapping id -> value")
        self.labels = dict(labels)

    def _new_entropies(self, values: np.ndarray, y: np.ndarray, method: str, ties: str) -> np.ndarray:
        x = np.sort(np.asarray(values, dtype=float))
        if x.size + 1 < MIN_SAMPLES:
            return np.full(y.shape, NAN)
        if x.size >= 4 and x[0] < x[-1]:
            try:
                return entropy_after_insertion(x, y, method=method)
            except InputError:  # pragma: no cover - fall back to the direct estimate below
                pass
        return np.array([estimate_entropy(np.append(x, v), method=method, ties=ties).entropy for v in y])

    def select(self, state, k: int, rng: np.random.Generator) -> list[Pick]:
        values = {g: np.asarray(state.values(g), dtype=float) for g in state.groups}
        h = {g: state.estimate(g).entropy for g in state.groups}
        taken: dict[str, set[int]] = {g: set() for g in state.groups}
        picks: list[Pick] = []
        for _ in range(int(k)):
            best = None  # (D, order, group, index, y, h')
            for order, g in enumerate(state.groups):
                if g not in state.eligible():
                    continue
                ids = state.candidate_ids(g)
                free = np.array([i for i in range(len(ids)) if i not in taken[g]], dtype=np.int64)
                if free.size == 0:
                    continue
                y = np.array([self.labels[ids[i]] for i in free], dtype=float)
                new_h = self._new_entropies(values[g], y, state.method, state.ties)
                others = np.array([h[o] for o in state.groups if o != g], dtype=float)
                d = deficit_after(others, new_h)
                d = np.where(np.isfinite(d), d, np.inf)
                j = int(np.argmin(d))
                key = (float(d[j]), order)
                if best is None or key < best[0]:
                    best = (key, g, int(free[j]), float(y[j]), float(new_h[j]))
            if best is None:
                break
            (dval, _), g, index, y_true, h_new = best
            taken[g].add(index)
            values[g] = np.append(values[g], y_true)
            h[g] = h_new
            reason = f"CLAIRVOYANT (sees pool labels): largest drop of D, to {dval:.4f} nats"
            picks.append(Pick(state.candidate_ids(g)[index], g, reason, expected_entropy=h_new))
        return picks
