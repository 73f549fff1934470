"""The ET-AL strategy (Zhang et al. 2023; method doc §3): scores = expected improvement.

Target the eligible group with the lowest entropy h*; for its candidates, take the GP
posterior N(mu, sigma^2), the mean and std of the group's entropy after adding each
(:func:`etal.acquisition.expected_entropy`) and their expected improvement over h*
(:func:`etal.acquisition.expected_improvement`). The shared selector picks the largest
EI (equal EI, e.g. all 0.0 after underflow far below the incumbent: the larger expected
entropy, then the lowest candidate position). Groups whose entropy is undefined come
first (:func:`etal.strategies.common.lowest_entropy_target`).
"""

from __future__ import annotations

import numpy as np

from .base import BatchView, Scores, SurrogateStrategy
from .common import lowest_entropy_target, undefined_scores

__all__ = ["PAPER_DRAWS", "ETALStrategy", "PaperStrategy"]

#: Monte Carlo draws per candidate in the paper (``etal-paper``).
PAPER_DRAWS = 1000


class ETALStrategy(SurrogateStrategy):
    """Entropy-targeted active learning; defaults: patience 5, fairness stop on.

    ``refine_top``: candidates re-scored with the exact posterior when the prediction
    was approximate (huge pools).
    """

    name = "etal"
    deterministic = True
    uses_estimator = True
    relative_cost = 3
    patience = 5
    fairness_stop = True

    def _estimator(self, state) -> tuple[str, int]:
        """The expected-entropy estimator and its draws: the loop's settings."""
        return state.estimator, state.n_samples

    def score(self, batch: BatchView, rng: np.random.Generator) -> Scores | None:
        from ..acquisition import expected_entropy, expected_improvement

        target = lowest_entropy_target(batch)
        if target is None:
            return None
        group, undefined = target
        # Drawn on every pick (even for quadrature) so the generator's path, and with it
        # every later random choice, does not depend on the estimator.
        seed = int(rng.integers(2**63 - 1))
        if undefined:
            return undefined_scores(batch, group, rng)
        state = batch.state
        estimator, n_samples = self._estimator(state)
        available = batch.available(group)
        mu, sigma = state.predict(group)
        incumbent = batch.estimate(group).entropy
        values = batch.values(group)

        def make(indices: np.ndarray, mu_c: np.ndarray, sigma_c: np.ndarray) -> Scores:
            mean, std = expected_entropy(
                values, mu_c, sigma_c, estimator=estimator, n_samples=n_samples,
                seed=seed, method=state.method,
            )
            mean, std = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
            ei = np.asarray(expected_improvement(mean, std, incumbent), dtype=float)
            return Scores(
                group, indices, np.where(np.isfinite(ei), ei, -np.inf),
                lambda j, refined: (
                    f"lowest entropy: {group!r} (h={incumbent:.4f} nats); largest expected improvement{refined}"
                ),
                secondary=np.where(np.isfinite(mean), mean, -np.inf),
                fantasy=np.asarray(mu_c, dtype=float), ei=ei, expected_entropy=mean, expected_entropy_std=std,
            )

        scores = make(available, mu[available], sigma[available])
        if state.prediction_is_approximate(group):
            scores.rescore = lambda keep: make(keep, *state.predict_exact(group, keep))
        return scores


class PaperStrategy(ETALStrategy):
    """``etal-paper``: ET-AL as published (Zhang et al. 2023; method doc §3-4).

    The lowest-entropy group, the mean and std of its entropy after each candidate by
    **Monte Carlo over 1,000 latent posterior draws** (:data:`PAPER_DRAWS`; whatever the
    loop's ``estimator``), expected improvement, patience 5 and the fairness stop. Kept
    so that results can be compared with the publication; ``etal`` is the same rule
    with the deterministic quadrature estimator by default.
    """

    name = "etal-paper"
    deterministic = False  # Monte Carlo draws from the loop's generator, whatever its estimator
    relative_cost = 4

    def _estimator(self, state) -> tuple[str, int]:
        return "mc", PAPER_DRAWS
