"""The read-only view of a running loop that strategies see, and one group's state.

:class:`LoopState` implements :class:`etal.strategies.base.StateView`: labelled values
and features, the remaining candidates (ids, pool-row positions, features; never
labels: the engine does not hold them), entropies and statuses, excluded groups, and the
group's surrogate posterior (cached, refitted warm-started only when its data changed).
:class:`GroupState` is the engine's mutable record of one group.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..entropy import EntropyEstimate

__all__ = ["GroupState", "LoopState"]


class GroupState:
    """One group's labelled data, pool candidates, entropy, surrogate and counters."""

    __slots__ = (
        "approximate",
        "candidates",
        "estimate",
        "excluded",
        "features",
        "fit_count",
        "fitted_n",
        "ids",
        "name",
        "no_increase",
        "pool_features",
        "pool_ids",
        "pool_positions",
        "prediction",
        "remaining",
        "saved_file",
        "saved_fit_count",
        "surrogate",
        "values",
    )  # fmt: skip

    def __init__(self, name, values, features, ids, pool_ids, pool_features, pool_positions):
        self.name = name
        self.values = np.asarray(values, dtype=float)
        self.features = np.asarray(features, dtype=float)  # (n, d)
        self.ids = list(ids)
        self.pool_ids = list(pool_ids)
        self.pool_features = np.asarray(pool_features, dtype=float)  # (m, d)
        self.pool_positions = np.asarray(pool_positions, dtype=np.int64)
        self.remaining = np.ones(len(self.pool_ids), dtype=bool)
        self.candidates = np.arange(len(self.pool_ids))  # local indices still in the pool
        self.estimate: EntropyEstimate | None = None
        self.surrogate = None
        self.fitted_n = -1  # labelled rows the surrogate was last fitted on
        self.fit_count = 0
        self.saved_fit_count = 0
        self.saved_file: str | None = None
        self.prediction: tuple[np.ndarray, np.ndarray] | None = None  # over all pool rows
        self.approximate = False  # prediction's std from the surrogate's huge-pool approximation
        self.no_increase = 0
        self.excluded = False

    @property
    def n(self) -> int:
        return len(self.values)

    def acquire(self, local: int, value: float) -> None:
        self.values = np.append(self.values, value)
        self.features = np.vstack((self.features, self.pool_features[local : local + 1]))
        self.ids.append(self.pool_ids[local])
        self.remaining[local] = False
        self.candidates = np.flatnonzero(self.remaining)


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class LoopState:
    """Read-only view of a running loop, handed to strategies (see :class:`etal.strategies.base.StateView`).

    It exposes labelled values and features, the remaining candidates (ids, pool-row
    positions, features; no labels: the loop never holds them), entropies and statuses,
    the excluded groups and ``predict(group)``: the group's cached surrogate, refitted
    (warm-started) only when the group's labelled data changed since its last fit.
    """

    def __init__(self, loop: Any) -> None:  # the engine.loop.ETAL it views (no import back)
        self._loop = loop

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self._loop._groups)

    @property
    def excluded(self) -> frozenset:
        return frozenset(g for g, grp in self._loop._groups.items() if grp.excluded)

    @property
    def iteration(self) -> int:
        return self._loop.iteration

    def resolution(self) -> float:
        """Dataset-wide resolution (smallest positive gap of the labelled targets at start)."""
        return self._loop._resolution

    estimator = property(lambda self: self._loop.estimator)
    n_samples = property(lambda self: self._loop.n_samples)
    method = property(lambda self: self._loop.method)
    ties = property(lambda self: self._loop.ties)

    def eligible(self) -> list[str]:
        return self._loop._eligible()

    def n_labelled(self, group: str) -> int:
        return self._loop._groups[group].n

    def values(self, group: str) -> np.ndarray:
        return _readonly(self._loop._groups[group].values)

    def features(self, group: str) -> np.ndarray:
        return _readonly(self._loop._groups[group].features)

    def labelled_ids(self, group: str) -> list:
        """Ids of the group's labelled rows, in the order of :meth:`values` (initial rows
        first, then acquisitions in the order they were made)."""
        return list(self._loop._groups[group].ids)

    def estimate(self, group: str) -> EntropyEstimate:
        return self._loop._groups[group].estimate

    def entropy(self, group: str) -> float:
        return self._loop._groups[group].estimate.entropy

    def status(self, group: str) -> str:
        return self._loop._groups[group].estimate.status

    def n_candidates(self, group: str) -> int:
        return int(self._loop._groups[group].candidates.size)

    def candidate_ids(self, group: str) -> list:
        grp = self._loop._groups[group]
        return [grp.pool_ids[i] for i in grp.candidates]

    def candidate_positions(self, group: str) -> np.ndarray:
        grp = self._loop._groups[group]
        return _readonly(grp.pool_positions[grp.candidates])

    def candidate_features(self, group: str) -> np.ndarray:
        grp = self._loop._groups[group]
        return _readonly(grp.pool_features[grp.candidates])

    def surrogate(self, group: str):
        """The group's fitted surrogate (cached; refitted, warm-started, only when stale)."""
        self._loop._prediction(group)
        return self._loop._groups[group].surrogate

    def predict(self, group: str) -> tuple[np.ndarray, np.ndarray]:
        """Surrogate posterior mean and std (target units) for the group's candidates."""
        mu, sigma = self._loop._prediction(group)
        grp = self._loop._groups[group]
        return _readonly(mu[grp.candidates]), _readonly(sigma[grp.candidates])

    def prediction_is_approximate(self, group: str) -> bool:
        """Did :meth:`predict` come from the surrogate's huge-pool approximation?

        True when the surrogate (e.g. :class:`etal.surrogate.GPSurrogate` with more pool
        rows than its ``max_exact_predict``) reported ``predict_info_["approximate"]``:
        the std is then a screening value, and strategies re-score their shortlist with
        :meth:`predict_exact`.
        """
        self._loop._prediction(group)
        return bool(self._loop._groups[group].approximate)

    def predict_exact(self, group: str, indices) -> tuple[np.ndarray, np.ndarray]:
        """The surrogate's own posterior (mean, std) for the candidates at ``indices``
        (positions among the group's current candidates), never approximated."""
        loop = self._loop
        loop._prediction(group)
        grp = loop._groups[group]
        rows = grp.pool_features[grp.candidates[np.asarray(indices, dtype=np.int64)]]
        surrogate = grp.surrogate
        if not getattr(surrogate, "is_fitted", True):
            # A resumed run: the surrogate holds the saved hyper-parameters only. Rebuild
            # the saved fit's posterior without re-optimising (the next warm start, and
            # with it every later fit, stays that of the uninterrupted run).
            rebuild = getattr(surrogate, "refit_posterior", None) or surrogate.fit
            rebuild(grp.features, grp.values)
        mu, sigma = surrogate.predict(rows, approximate=False)
        return np.asarray(mu, dtype=float).ravel(), np.asarray(sigma, dtype=float).ravel()

