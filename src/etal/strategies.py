"""Acquisition strategies: which pool rows to label next.

A strategy is one method, ``select(state, k, rng) -> list[Pick]``. ``state`` is a
read-only view of the loop (see :class:`StateView`): labelled values and features per
group, the remaining pool candidates (ids and features, **never labels**), current
entropies and statuses, the excluded groups, and a cached, warm-started surrogate per
group (``state.predict(group)``). ``rng`` is the loop's own generator, so every random
choice is seeded and checkpointed.

* :class:`ETALStrategy`: the paper (method doc §3) plus our rules for groups whose entropy
  is undefined, and greedy batch selection with posterior-mean fantasies.
* :class:`RandomStrategy`, :class:`BalancedStrategy`, :class:`UncertaintyStrategy`: the
  baselines.

Batch selection (``k > 1``) is greedy for every strategy: after each pick, the pick's
posterior mean (a "fantasy" label) is added to its group's values, the entropies and the
incumbent are recomputed, and the next pick is chosen among the remaining candidates.
The surrogates are not refitted on fantasies. ``k = 1`` is the paper.

Huge pools: when the group's prediction used the surrogate's huge-pool approximation
(``state.prediction_is_approximate(group)``, e.g. :class:`etal.surrogate.GPSurrogate`
with more pool rows than ``max_exact_predict``: exact mean, approximate std), the
surrogate-based strategies score all candidates with it, keep the ``refine_top``
(default :data:`REFINE_TOP`) best, re-score those with the exact posterior
(``state.predict_exact``) and pick among them. The pick then equals the exact pick
whenever the exact best is in the shortlist (measured: its approximate rank was <= 2 of
100,000; ``docs/performance.md``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .entropy import MIN_SAMPLES, EntropyEstimate, estimate_entropy
from .errors import InputError

__all__ = [
    "STRATEGIES",
    "BalancedStrategy",
    "ETALStrategy",
    "Pick",
    "REFINE_TOP",
    "RandomStrategy",
    "StateView",
    "Strategy",
    "UncertaintyStrategy",
    "make_strategy",
]

NAN = float("nan")
#: Fewest labelled rows a group's GP is fitted on; below it, picks are seeded random.
MIN_GP_ROWS = 2
#: Candidates re-scored with the exact posterior after an approximate (huge-pool) one.
REFINE_TOP = 1000


def _is_approximate(state: StateView, group: str) -> bool:
    check = getattr(state, "prediction_is_approximate", None)
    return bool(check(group)) if check is not None else False


def _shortlist(score: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest scores (equal scores: lower position first), ascending."""
    if score.size <= k:
        return np.arange(score.size)
    return np.sort(np.argsort(-score, kind="stable")[:k])


def _largest_std(state: StateView, group: str, available: np.ndarray, refine_top: int):
    """(index, mean, std, note) of the available candidate with the largest GP std;
    through a refined shortlist when the prediction was approximate."""
    mu, sigma = state.predict(group)
    if not _is_approximate(state, group):
        index = int(available[np.argmax(sigma[available])])
        return index, float(mu[index]), float(sigma[index]), ""
    keep = available[_shortlist(sigma[available], refine_top)]
    mu_x, sigma_x = state.predict_exact(group, keep)
    j = int(np.argmax(sigma_x))
    note = f"; exact std for the top {keep.size} of {available.size} candidates by the approximate one"
    return int(keep[j]), float(mu_x[j]), float(sigma_x[j]), note


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
    """What a strategy may read about the loop (implemented by :class:`etal.loop.LoopState`)."""

    groups: tuple[str, ...]
    excluded: frozenset
    estimator: str
    n_samples: int
    method: str
    ties: str

    def eligible(self) -> list[str]: ...  # groups with candidates, not excluded, in order
    def n_labelled(self, group: str) -> int: ...
    def values(self, group: str) -> np.ndarray: ...  # labelled targets (read-only)
    def estimate(self, group: str) -> EntropyEstimate: ...
    def candidate_ids(self, group: str) -> list: ...
    def candidate_positions(self, group: str) -> np.ndarray: ...  # rows of the pool frame
    def n_candidates(self, group: str) -> int: ...
    def predict(self, group: str) -> tuple[np.ndarray, np.ndarray]: ...  # GP mean, std


@runtime_checkable
class Strategy(Protocol):
    """``select(state, k, rng)`` returns up to ``k`` distinct picks (fewer if the pool runs out)."""

    name: str

    def select(self, state: StateView, k: int, rng: np.random.Generator) -> list[Pick]: ...


# ---------------------------------------------------------------------------------------
# Fantasy bookkeeping for greedy batches
# ---------------------------------------------------------------------------------------


class _Batch:
    """A scratch copy of the state for one batch: fantasy values and taken candidates.

    Nothing here writes to the state. A fantasy value of NaN (a random pick in a group
    without a GP) counts towards the group's size but not its entropy.
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
            self._estimates[group] = estimate_entropy(
                self.values(group), method=self.state.method, ties=self.state.ties
            )
        return self._estimates[group]

    def available(self, group: str) -> np.ndarray:
        """Indices (into the group's current candidates) not taken in this batch."""
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

    @property
    def size(self) -> int:
        return sum(len(t) for t in self.taken.values())


def _batch_note(j: int, k: int) -> str:
    if k == 1:
        return ""
    return f" [batch pick {j + 1}/{k}" + (f", after {j} fantasy label(s)]" if j else "]")


def _lowest_entropy_target(batch: _Batch) -> tuple[str, bool] | None:
    """The target group and whether its entropy is undefined.

    Groups whose entropy is undefined (too few values, or all equal) come first, fewest
    labelled first; otherwise the eligible group with the lowest entropy. Ties go to the
    earlier group in ``state.groups``.
    """
    eligible = batch.eligible()
    if not eligible:
        return None
    undefined = [g for g in eligible if batch.estimate(g).status != "ok"]
    if undefined:
        return min(undefined, key=batch.n_labelled), True  # min keeps the first of ties
    return min(eligible, key=lambda g: batch.estimate(g).entropy), False


def _undefined_pick(
    state: StateView, batch: _Batch, group: str, rng: np.random.Generator, note: str
) -> tuple[int, float, str]:
    """Pick in a group whose entropy is undefined: largest GP std, or random below 2 rows."""
    available = batch.available(group)
    est = batch.estimate(group)
    n = batch.n_labelled(group)
    why = (
        f"{n} labelled value(s), fewer than the {MIN_SAMPLES} an entropy needs"
        if est.status == "too_few"
        else f"its {n} labelled values are all equal"
    )
    if state.n_labelled(group) < MIN_GP_ROWS:
        index = int(available[rng.integers(available.size)])
        return index, NAN, (
            f"entropy of {group!r} undefined ({why}); fewer than {MIN_GP_ROWS} real labels "
            f"for a GP: seeded random pick{note}"
        )
    index, mean, std, refined = _largest_std(state, group, available, REFINE_TOP)
    return index, mean, (
        f"entropy of {group!r} undefined ({why}): largest GP posterior std "
        f"({std:.4g}){refined}{note}"
    )


class _GreedyStrategy:
    """Shared batch loop: ``k`` greedy single picks on a fantasy copy of the state."""

    name = "base"
    uses_surrogate = False
    refine_top = REFINE_TOP

    def select(self, state: StateView, k: int, rng: np.random.Generator) -> list[Pick]:
        if int(k) != k or k < 1:
            raise InputError(f"a strategy selects k >= 1 rows, got k={k}")
        batch = _Batch(state)
        picks: list[Pick] = []
        for j in range(int(k)):
            chosen = self._pick_one(state, batch, rng, _batch_note(j, int(k)))
            if chosen is None:
                break
            group, index, fantasy, pick = chosen
            batch.add(group, index, fantasy)
            picks.append(pick)
        return picks

    def _pick_one(self, state, batch, rng, note):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ETALStrategy(_GreedyStrategy):
    """Entropy-targeted active learning (Zhang et al. 2023; method doc §3).

    Target the eligible group with the lowest entropy h*; for its candidates, take the GP
    posterior N(mu, sigma^2), the mean and std of the group's entropy after adding each
    (:func:`etal.acquisition.expected_entropy`) and their expected improvement over h*
    (:func:`etal.acquisition.expected_improvement`); pick the largest (equal EI: the
    larger expected entropy, then the lowest candidate position).
    Groups whose entropy is undefined come first (see :func:`_lowest_entropy_target`).
    """

    name = "etal"
    uses_surrogate = True

    def __init__(self, refine_top: int = REFINE_TOP) -> None:
        if isinstance(refine_top, bool) or not isinstance(refine_top, (int, np.integer)) or refine_top < 1:
            raise InputError(f"refine_top must be an integer >= 1, got {refine_top!r}")
        self.refine_top = int(refine_top)

    def _pick_one(self, state, batch, rng, note):
        from .acquisition import expected_entropy, expected_improvement

        target = _lowest_entropy_target(batch)
        if target is None:
            return None
        group, undefined = target
        ids = state.candidate_ids(group)
        # Drawn on every pick (even for quadrature) so the generator's path, and with it
        # every later random choice, does not depend on the estimator.
        seed = int(rng.integers(2**63 - 1))
        if undefined:
            index, fantasy, reason = _undefined_pick(state, batch, group, rng, note)
            return group, index, fantasy, Pick(ids[index], group, reason)
        available = batch.available(group)
        mu, sigma = state.predict(group)
        incumbent = batch.estimate(group).entropy
        values = batch.values(group)

        def scores(mu_c: np.ndarray, sigma_c: np.ndarray):
            mean, std = expected_entropy(
                values,
                mu_c,
                sigma_c,
                estimator=state.estimator,
                n_samples=state.n_samples,
                seed=seed,
                method=state.method,
            )
            mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
            ei = np.asarray(expected_improvement(mean, std, incumbent), dtype=float)
            score = np.where(np.isfinite(ei), ei, -np.inf)
            return mean, std, ei, score

        fantasy = mu[available]
        mean, std, ei, score = scores(fantasy, sigma[available])
        refined = ""
        if _is_approximate(state, group):
            # Screened with the approximate std: re-score the best with the exact posterior.
            keep = _shortlist(score, self.refine_top)
            refined = (f"; exact posterior for the top {keep.size} of {available.size} "
                       "candidates by the approximate one")
            available = available[keep]
            fantasy, sigma_exact = state.predict_exact(group, available)
            mean, std, ei, score = scores(fantasy, sigma_exact)
        # Largest EI; equal EI (e.g. all 0.0 after underflow, far below the incumbent) is
        # broken by the larger expected entropy, then by the lowest candidate position.
        second = np.where(np.isfinite(mean), mean, -np.inf)
        best = np.flatnonzero(score == score.max())
        j = int(best[np.argmax(second[best])]) if best.size > 1 else int(best[0])
        index = int(available[j])
        reason = (
            f"lowest entropy: {group!r} (h={incumbent:.4f} nats); largest expected improvement"
            f"{refined}{note}"
        )
        pick = Pick(ids[index], group, reason, float(ei[j]), float(mean[j]), float(std[j]))
        return group, index, float(fantasy[j]), pick

    def __repr__(self) -> str:
        return "ETALStrategy()" if self.refine_top == REFINE_TOP else f"ETALStrategy(refine_top={self.refine_top})"


class UncertaintyStrategy(_GreedyStrategy):
    """Baseline: the largest GP posterior std inside the lowest-entropy group."""

    name = "uncertainty"
    uses_surrogate = True

    def _pick_one(self, state, batch, rng, note):
        target = _lowest_entropy_target(batch)
        if target is None:
            return None
        group, undefined = target
        ids = state.candidate_ids(group)
        if undefined:
            index, fantasy, reason = _undefined_pick(state, batch, group, rng, note)
            return group, index, fantasy, Pick(ids[index], group, reason)
        available = batch.available(group)
        index, mean, std, refined = _largest_std(state, group, available, self.refine_top)
        reason = (
            f"lowest entropy: {group!r} (h={batch.estimate(group).entropy:.4f} nats); largest GP "
            f"posterior std ({std:.4g}){refined}{note}"
        )
        return group, index, mean, Pick(ids[index], group, reason)


class RandomStrategy(_GreedyStrategy):
    """Baseline: a uniformly random row of the whole remaining pool (eligible groups)."""

    name = "random"

    def _pick_one(self, state, batch, rng, note):
        groups = batch.eligible()
        if not groups:
            return None
        # Candidates in pool-row order, so the draw does not depend on how groups sort.
        owners, indices, positions = [], [], []
        for g in groups:
            available = batch.available(g)
            owners += [g] * available.size
            indices.append(available)
            positions.append(state.candidate_positions(g)[available])
        indices_all = np.concatenate(indices)
        order = np.argsort(np.concatenate(positions), kind="stable")
        j = int(order[rng.integers(order.size)])
        group, index = owners[j], int(indices_all[j])
        reason = f"uniformly random pool row (group {group!r}){note}"
        return group, index, NAN, Pick(state.candidate_ids(group)[index], group, reason)


class BalancedStrategy(_GreedyStrategy):
    """Baseline: the group with the fewest labelled rows, a random row inside it."""

    name = "balanced"

    def _pick_one(self, state, batch, rng, note):
        groups = batch.eligible()
        if not groups:
            return None
        group = min(groups, key=batch.n_labelled)
        available = batch.available(group)
        index = int(available[rng.integers(available.size)])
        reason = (
            f"fewest labelled rows: {group!r} ({batch.n_labelled(group)}); random row inside it{note}"
        )
        return group, index, NAN, Pick(state.candidate_ids(group)[index], group, reason)


STRATEGIES: dict[str, type] = {
    "etal": ETALStrategy,
    "random": RandomStrategy,
    "balanced": BalancedStrategy,
    "uncertainty": UncertaintyStrategy,
}


def make_strategy(name_or_obj: str | Strategy = "etal", **kwargs) -> Strategy:
    """A strategy by name (``"etal"``, ``"random"``, ``"balanced"``, ``"uncertainty"``) or as given."""
    if not isinstance(name_or_obj, str):
        if not callable(getattr(name_or_obj, "select", None)):
            raise InputError(
                f"a strategy needs a select(state, k, rng) method; got {type(name_or_obj).__name__}"
            )
        return name_or_obj
    key = name_or_obj.strip().lower()
    if key not in STRATEGIES:
        raise InputError(
            f"unknown strategy {name_or_obj!r}; choose one of {', '.join(STRATEGIES)}"
        )
    return STRATEGIES[key](**kwargs)
