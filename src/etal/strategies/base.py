"""The strategy contract and the one shared selector.

A strategy *scores*: given a fantasy-aware view of the loop (:class:`BatchView`) and the
loop's generator, :meth:`StrategyBase.score` names the group it targets and returns a
score per candidate of that group (:class:`Scores`). :func:`select` then chooses, the
same way for every strategy:

* the largest score; equal scores go to the larger ``secondary`` score, then to the
  lowest candidate position;
* when the group's prediction came from the surrogate's huge-pool approximation
  (``state.prediction_is_approximate``), the ``refine_top`` best candidates by the
  approximate score are re-scored with the exact posterior (``state.predict_exact``)
  and the choice is made among them;
* ``k > 1`` is greedy: after each pick its posterior mean (a "fantasy" label, NaN when
  the strategy has none) is added to its group's values, entropies are recomputed and
  the next pick is scored on the remaining candidates. Surrogates are not refitted on
  fantasies. ``k = 1`` is the paper.

The state a strategy reads (:class:`StateView`) carries no pool labels: the engine never
holds them. Strategies declare their settings in ``__init__`` (checked with
:mod:`etal.params`) and list them in :meth:`StrategyBase.get_params` (used by ``repr``
and checkpoints). ``patience`` and ``fairness_stop`` are strategy properties: the
engine's stop rules use the strategy's values unless the caller overrides them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..entropy import EntropyEstimate, estimate_entropy
from ..params import check_bool, check_int

__all__ = ["NAN", "REFINE_TOP", "BatchView", "Pick", "Scores", "StateView", "Strategy", "StrategyBase", "SurrogateStrategy", "select"]

NAN = float("nan")
#: Candidates re-scored with the exact posterior after an approximate (huge-pool) one.
REFINE_TOP = 1000


@dataclass(frozen=True)
class Pick:
    """One selected pool row and why it was chosen.

    ``ei`` is the expected improvement of the group's entropy (nats);
    ``expected_entropy`` / ``expected_entropy_std`` the mean / std of the group's entropy
    after adding the row (nats). NaN where the strategy does not compute them.
    """

    id: Any
    group: str
    reason: str
    ei: float = NAN
    expected_entropy: float = NAN
    expected_entropy_std: float = NAN

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class StateView(Protocol):
    """What a strategy may read about the loop (implemented by :class:`etal.engine.state.LoopState`).

    Candidates are addressed by their position among the group's *current* candidates.
    """

    groups: tuple[str, ...]
    excluded: frozenset
    iteration: int
    estimator: str
    n_samples: int
    method: str
    ties: str

    def eligible(self) -> list[str]: ...  # groups with candidates, not excluded, in order
    def n_labelled(self, group: str) -> int: ...
    def values(self, group: str) -> np.ndarray: ...  # labelled targets (read-only)
    def features(self, group: str) -> np.ndarray: ...  # labelled features (read-only)
    def labelled_ids(self, group: str) -> list: ...  # ids of the labelled rows, in the order of values()
    def estimate(self, group: str) -> EntropyEstimate: ...
    def entropy(self, group: str) -> float: ...  # nats
    def status(self, group: str) -> str: ...
    def resolution(self) -> float: ...  # dataset-wide resolution for entropy estimates
    def candidate_ids(self, group: str) -> list: ...
    def candidate_positions(self, group: str) -> np.ndarray: ...  # rows of the pool frame
    def candidate_features(self, group: str) -> np.ndarray: ...
    def n_candidates(self, group: str) -> int: ...
    def predict(self, group: str) -> tuple[np.ndarray, np.ndarray]: ...  # GP mean, std
    def prediction_is_approximate(self, group: str) -> bool: ...
    def predict_exact(self, group: str, indices) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class Strategy(Protocol):
    """``select(state, k, rng)`` returns up to ``k`` distinct picks (fewer if the pool runs out)."""

    name: str

    def select(self, state: StateView, k: int, rng: np.random.Generator) -> list[Pick]: ...


@dataclass
class Scores:
    """One strategy's scoring of candidates of the group it targets.

    ``indices``: positions (ascending) among the group's current candidates that were
    scored; ``score`` (larger is better; NaN counts as -inf) and optional ``secondary``
    (tie-break) per scored candidate; ``fantasy``: the value a greedy batch assumes for
    each (posterior mean; NaN = none). ``ei``/``expected_entropy``/``expected_entropy_std``
    go into the :class:`Pick`. ``explain(j, refined)`` words the reason for choosing
    position ``j`` (``refined``: a note on exact re-scoring, or ""). ``rescore(indices,
    mean, std)``, when set, scores a shortlist again from the exact posterior.
    """

    group: str
    indices: np.ndarray
    score: np.ndarray
    explain: Callable[[int, str], str]
    secondary: np.ndarray | None = None
    fantasy: np.ndarray | None = None
    ei: np.ndarray | None = None
    expected_entropy: np.ndarray | None = None
    expected_entropy_std: np.ndarray | None = None
    rescore: Callable[[np.ndarray, np.ndarray, np.ndarray], Scores] | None = None
    refine_note: str = "exact posterior"

    def value(self, name: str, j: int) -> float:
        array = getattr(self, name)
        return NAN if array is None else float(array[j])


class BatchView:
    """The state plus this batch's fantasy values and taken candidates (read-only).

    A fantasy value of NaN (a pick without a posterior mean) counts towards the group's
    size but not its entropy.
    """

    def __init__(self, state: StateView) -> None:
        self.state = state
        self.fantasies: dict[str, list[float]] = {g: [] for g in state.groups}
        self.taken: dict[str, set[int]] = {g: set() for g in state.groups}
        self._estimates: dict[str, EntropyEstimate] = {}

    def n_labelled(self, group: str) -> int:
        return self.state.n_labelled(group) + len(self.fantasies[group])

    def values(self, group: str) -> np.ndarray:
        extra = [v for v in self.fantasies[group] if math.isfinite(v)]
        base = self.state.values(group)
        return np.concatenate((base, np.asarray(extra, dtype=float))) if extra else base

    def estimate(self, group: str) -> EntropyEstimate:
        if not self.fantasies[group]:
            return self.state.estimate(group)
        if group not in self._estimates:
            resolution = getattr(self.state, "resolution", None)
            self._estimates[group] = estimate_entropy(
                self.values(group), method=self.state.method, ties=self.state.ties,
                resolution=group_resolution(self.values(group), resolution() if resolution else None),
            )
        return self._estimates[group]

    def available(self, group: str) -> np.ndarray:
        """Positions (among the group's current candidates) not taken in this batch."""
        n = self.state.n_candidates(group)
        if not self.taken[group]:
            return np.arange(n)
        mask = np.ones(n, dtype=bool)
        mask[list(self.taken[group])] = False
        return np.flatnonzero(mask)

    def eligible(self) -> list[str]:
        return [g for g in self.state.eligible() if self.state.n_candidates(g) > len(self.taken[g])]

    def add(self, group: str, index: int, value: float) -> None:
        self.taken[group].add(int(index))
        self.fantasies[group].append(float(value))
        self._estimates.pop(group, None)


def group_resolution(values: np.ndarray, dataset: float | None) -> float | None:
    """The resolution a group is estimated with: its own, or the dataset's when it has none.

    A group's own resolution (smallest positive gap of its values) is kept whenever it
    exists, so entropies of groups with distinct values do not change; a constant group
    has none and borrows the dataset-wide one (a finite, very low entropy).
    """
    if dataset is None or not math.isfinite(dataset):
        return None
    x = np.asarray(values, dtype=float)
    if x.size and x.min() == x.max():
        return float(dataset)
    return None


def shortlist(score: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest scores (equal scores: lower position first), ascending."""
    if score.size <= k:
        return np.arange(score.size)
    return np.sort(np.argsort(-score, kind="stable")[:k])


def _finite(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    return np.where(np.isnan(array), -np.inf, array)


def choose(scores: Scores, refine_top: int) -> tuple[Scores, int, str]:
    """The shared rule: (scores used, chosen position in them, refine note)."""
    refined = ""
    if scores.rescore is not None:
        keep = shortlist(_finite(scores.score), refine_top)
        total = scores.indices.size
        scores = scores.rescore(scores.indices[keep])
        refined = f"; {scores.refine_note} for the top {keep.size} of {total} candidates by the approximate one"
    score = _finite(scores.score)
    best = np.flatnonzero(score == score.max())
    if best.size > 1 and scores.secondary is not None:
        j = int(best[np.argmax(_finite(scores.secondary)[best])])
    else:
        j = int(best[0])
    return scores, j, refined


def _batch_note(j: int, k: int) -> str:
    if k == 1:
        return ""
    return f" [batch pick {j + 1}/{k}" + (f", after {j} fantasy label(s)]" if j else "]")


def select(strategy: Any, state: StateView, k: int, rng: np.random.Generator) -> list[Pick]:
    """Up to ``k`` greedy picks: ``strategy.score`` then :func:`choose`, with fantasies."""
    k = check_int("k", k, low=1)
    batch = BatchView(state)
    picks: list[Pick] = []
    for i in range(k):
        scores = strategy.score(batch, rng)
        if scores is None:
            break
        scores, j, refined = choose(scores, getattr(strategy, "refine_top", REFINE_TOP))
        group, index = scores.group, int(scores.indices[j])
        reason = scores.explain(j, refined) + _batch_note(i, k)
        pick = Pick(
            state.candidate_ids(group)[index], group, reason,
            scores.value("ei", j), scores.value("expected_entropy", j), scores.value("expected_entropy_std", j),
        )
        batch.add(group, index, scores.value("fantasy", j))
        picks.append(pick)
    return picks


class StrategyBase:
    """Settings, ``get_params``, ``repr`` and ``select`` shared by the built-in strategies.

    Subclasses set ``name``, ``uses_surrogate``, the class defaults ``patience`` (exclude
    a group after this many consecutive acquisitions in it without an entropy increase;
    ``None``: never) and ``fairness_stop`` (stop when the only eligible group is already
    the highest), and implement :meth:`score`.
    """

    name = "base"
    uses_surrogate = False
    #: No random choice: picks are an argmax of scores (ties broken by position), except
    #: the seeded random picks in a group with fewer than MIN_GP_ROWS labelled rows.
    deterministic: bool = False
    #: Scores come from the expected-entropy estimator of :mod:`etal.acquisition` (its
    #: Monte Carlo form draws from the loop's generator, see ``DETERMINISTIC_ESTIMATORS``).
    uses_estimator: bool = False
    #: Rough cost of a run relative to the other strategies (higher runs first in parallel).
    relative_cost: int = 0
    patience: int | None = None
    fairness_stop: bool = False
    refine_top: int = REFINE_TOP

    def __init__(self, *, patience: Any = "default", fairness_stop: bool | None = None) -> None:
        if patience != "default":
            self.patience = check_int("patience", patience, low=1, allow_none=True)
        if fairness_stop is not None:
            self.fairness_stop = check_bool("fairness_stop", fairness_stop)

    def get_params(self) -> dict:
        """The strategy's settings (JSON-able; ``make_strategy(name, **params)`` rebuilds it)."""
        return {"patience": self.patience, "fairness_stop": self.fairness_stop}

    def select(self, state: StateView, k: int, rng: np.random.Generator) -> list[Pick]:
        """Up to ``k`` distinct picks, chosen by the shared selector (:func:`select`)."""
        return select(self, state, k, rng)

    def score(self, batch: BatchView, rng: np.random.Generator) -> Scores | None:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = {k: v for k, v in self.get_params().items() if defaults.get(k) != v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


class SurrogateStrategy(StrategyBase):
    """A strategy scoring with the surrogate's posterior: adds the ``refine_top`` setting
    (candidates re-scored with the exact posterior when the prediction was approximate)."""

    uses_surrogate = True

    def __init__(self, refine_top: int = REFINE_TOP, **stop_rules: Any) -> None:
        super().__init__(**stop_rules)
        self.refine_top = check_int("refine_top", refine_top, low=1)

    def get_params(self) -> dict:
        return {"refine_top": self.refine_top, **super().get_params()}
