"""Scoring pieces several strategies share: the target group and largest-std scores.

* :func:`lowest_entropy_target`: groups whose entropy is undefined (too few values, or
  all equal) come first, fewest labelled first; otherwise the eligible group with the
  lowest entropy (ties: the earlier group).
* :func:`std_scores`: score = the GP posterior std (exact re-scoring of a shortlist when
  the prediction is approximate).
* :func:`undefined_scores`: how a group without an entropy is filled: largest GP std, or a
  seeded random candidate while it has fewer than :data:`MIN_GP_ROWS` real labels.
"""

from __future__ import annotations

import numpy as np

from ..entropy import MIN_SAMPLES
from .base import NAN, BatchView, Scores

__all__ = ["MIN_GP_ROWS", "drawn", "lowest_entropy_target", "std_scores", "undefined_scores"]

#: Fewest labelled rows a group's GP is fitted on; below it, picks are seeded random.
MIN_GP_ROWS = 2


def lowest_entropy_target(batch: BatchView) -> tuple[str, bool] | None:
    """(target group, is its entropy undefined?); None when no group is eligible."""
    eligible = batch.eligible()
    if not eligible:
        return None
    undefined = [g for g in eligible if batch.estimate(g).status != "ok"]
    if undefined:
        return min(undefined, key=batch.n_labelled), True  # min keeps the first of ties
    return min(eligible, key=lambda g: batch.estimate(g).entropy), False


def drawn(group: str, index: int, explain, fantasy: float = NAN) -> Scores:
    """Scores of a strategy that drew one candidate at random: that candidate alone."""
    return Scores(group, np.array([int(index)]), np.zeros(1), explain, fantasy=np.array([fantasy]))


def std_scores(batch: BatchView, group: str, available: np.ndarray, explain) -> Scores:
    """Score = GP posterior std of each available candidate; ``explain(std, refined)``."""
    state = batch.state
    mu, sigma = state.predict(group)

    def make(indices: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Scores:
        mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
        return Scores(group, indices, std, lambda j, refined: explain(float(std[j]), refined), fantasy=mean,
                      refine_note="exact std")

    scores = make(available, mu[available], sigma[available])
    if state.prediction_is_approximate(group):
        scores.rescore = lambda keep: make(keep, *state.predict_exact(group, keep))
    return scores


def undefined_scores(batch: BatchView, group: str, rng: np.random.Generator) -> Scores:
    """A group whose entropy is undefined: largest GP std, or random below 2 real labels."""
    state = batch.state
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
        return drawn(group, index, lambda j, refined: (
            f"entropy of {group!r} undefined ({why}); fewer than {MIN_GP_ROWS} real labels "
            f"for a GP: seeded random pick"
        ))
    return std_scores(batch, group, available, lambda std, refined: (
        f"entropy of {group!r} undefined ({why}): largest GP posterior std ({std:.4g}){refined}"
    ))
