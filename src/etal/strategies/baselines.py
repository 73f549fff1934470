"""The baseline strategies: random, balanced and uncertainty sampling.

Defaults for all three: no patience exclusion and no fairness stop (they are the
comparison runs of the paper's Fig. 6, which go to the budget).

* :class:`RandomStrategy`: a uniformly random row of the whole remaining pool.
* :class:`BalancedStrategy`: the group with the fewest labelled rows, a random row in it.
* :class:`UncertaintyStrategy`: the largest GP posterior std inside the lowest-entropy group.
"""

from __future__ import annotations

import numpy as np

from .base import BatchView, Scores, StrategyBase, SurrogateStrategy
from .common import drawn, lowest_entropy_target, std_scores, undefined_scores

__all__ = ["BalancedStrategy", "RandomStrategy", "UncertaintyStrategy"]


class RandomStrategy(StrategyBase):
    """Baseline: a uniformly random row of the whole remaining pool (eligible groups)."""

    name = "random"
    relative_cost = 1

    def score(self, batch: BatchView, rng: np.random.Generator) -> Scores | None:
        groups = batch.eligible()
        if not groups:
            return None
        state = batch.state
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
        group = owners[j]
        return drawn(group, int(indices_all[j]), lambda _, __: f"uniformly random pool row (group {group!r})")


class BalancedStrategy(StrategyBase):
    """Baseline: the group with the fewest labelled rows, a random row inside it."""

    name = "balanced"
    relative_cost = 1

    def score(self, batch: BatchView, rng: np.random.Generator) -> Scores | None:
        groups = batch.eligible()
        if not groups:
            return None
        group = min(groups, key=batch.n_labelled)
        available = batch.available(group)
        index = int(available[rng.integers(available.size)])
        n = batch.n_labelled(group)
        return drawn(group, index, lambda _, __: f"fewest labelled rows: {group!r} ({n}); random row inside it")


class UncertaintyStrategy(SurrogateStrategy):
    """Baseline: the largest GP posterior std inside the lowest-entropy group.

    ``refine_top``: candidates re-scored with the exact posterior when the prediction
    was approximate (huge pools).
    """

    name = "uncertainty"
    deterministic = True
    relative_cost = 2

    def score(self, batch: BatchView, rng: np.random.Generator) -> Scores | None:
        target = lowest_entropy_target(batch)
        if target is None:
            return None
        group, undefined = target
        if undefined:
            return undefined_scores(batch, group, rng)
        h = batch.estimate(group).entropy
        return std_scores(batch, group, batch.available(group), lambda std, refined: (
            f"lowest entropy: {group!r} (h={h:.4f} nats); largest GP posterior std ({std:.4g}){refined}"
        ))
