"""Monte Carlo moments of the entropy after insertion (the paper's estimator).

``n_samples`` posterior draws per candidate, each scored with the exact insertion
update (no re-estimation), seeded by the caller.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mc_moments"]


def mc_moments(evaluate, mu: np.ndarray, sigma: np.ndarray, n_samples: int, seed, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance (nats, nats^2) of ``evaluate(Y)``, Y ~ N(mu, sigma^2), per candidate."""
    mean, var = np.empty(mu.size), np.empty(mu.size)
    rng = np.random.default_rng(seed)
    for start in range(0, mu.size, chunk):
        block = slice(start, min(start + chunk, mu.size))
        draws = mu[block, None] + sigma[block, None] * rng.standard_normal((mu[block].size, n_samples))
        h = evaluate(draws.ravel()).reshape(draws.shape)
        mean[block] = h.mean(axis=1)
        var[block] = h.var(axis=1)
    zero = sigma == 0
    if zero.any():
        mean[zero], var[zero] = evaluate(mu[zero]), 0.0
    return mean, var
