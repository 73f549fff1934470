"""The public expected entropy: dispatch to Monte Carlo (the paper) or quadrature.

:func:`expected_entropy` checks its inputs once, builds the insertion evaluator
(:mod:`.insertion`) and computes the mean and std per candidate with
:mod:`.montecarlo` (``estimator="mc"``) or :mod:`.quadrature` (default).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from ..params import check_int
from .insertion import (
    _LEVEL_RATIO,
    _NEGLIGIBLE,
    DEFAULT_N_NODES,
    ESTIMATORS,
    FAR_SCALES,
    _make_evaluator,
    _posterior,
    _resolution,
    _sorted_labelled,
)
from .montecarlo import mc_moments
from .quadrature import _SmoothedEntropy

__all__ = ["expected_entropy"]


def expected_entropy(labelled: np.ndarray, mu: np.ndarray, sigma: np.ndarray, estimator: str = "quadrature",
                     n_samples: int = 1000, seed: int | np.random.Generator | None = None, method: str = "auto",
                     *, n_nodes: int | None = None, resolution: float | None = None,
                     chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (nats) of the group's entropy after adding each candidate.

    For candidate c the added value is Y_c ~ N(mu_c, sigma_c^2) (the surrogate's
    posterior, in the units of ``labelled``, e.g. eV/atom) and the returned pair is the
    mean and standard deviation of h(labelled ∪ {Y_c}).

    Parameters
    ----------
    labelled : 1-D array of the target group's labelled values (n >= 4), any order.
    mu, sigma : posterior means and standard deviations (same shape; sigma >= 0).
        sigma == 0 gives the entropy at mu and std 0.
    estimator : ``"quadrature"`` (default; deterministic, within ~1e-5 nats of the exact
        values, see the module docstring) or ``"mc"`` (the paper: ``n_samples`` draws
        per candidate).
    n_samples, seed : Monte Carlo draws per candidate and the seed of
        ``numpy.random.default_rng`` (an int, a Generator, or None); ``"mc"`` only.
    method : entropy estimator or ``"auto"``, resolved for n + 1 values.
    n_nodes : Gauss-Hermite nodes per smoothing step (quadrature; default 6; more
        changes the result by < 1e-6 nats).
    resolution : tie floor (see :func:`entropy_after_insertion`).
    chunk_size : candidates processed at once (bounds memory; default 32768 for the
        quadrature, ~1M draws per chunk for Monte Carlo). Results do not depend on it.

    Returns
    -------
    (mean, std), arrays of the broadcast shape of mu and sigma, in nats.
    """
    x = _sorted_labelled(labelled, "labelled values", assume_sorted=False)
    res = _resolution(x, resolution)
    mu, sigma = _posterior(mu, sigma)
    name = str(estimator).lower()
    if name not in ESTIMATORS:
        raise InputError(f"unknown estimator {estimator!r}; choose 'quadrature' or 'mc'")
    evaluate = _make_evaluator(x, method, res)
    shape = mu.shape
    mu, sigma = mu.ravel(), sigma.ravel()
    mean, var = np.empty(mu.size), np.empty(mu.size)
    if name == "mc":
        n_samples = check_int("n_samples", n_samples, low=2)
        chunk = max(1, (1 << 20) // n_samples) if chunk_size is None else check_int("chunk_size", chunk_size, low=1)
        mean, var = mc_moments(evaluate, mu, sigma, n_samples, seed, chunk)
    else:
        n_nodes = DEFAULT_N_NODES if n_nodes is None else check_int("n_nodes", n_nodes, low=2)
        chunk = 32768 if chunk_size is None else check_int("chunk_size", chunk_size, low=1)
        low, high = float(x[0]), float(x[-1])
        # The ladder starts at half the mean spacing, or higher if no candidate needs it.
        base = half_spacing = 0.5 * max((high - low) / (x.size - 1), res)
        outside_by = np.maximum(np.maximum(low - mu, mu - high), 0.0)
        on_ladder = (sigma >= base) & (outside_by < FAR_SCALES * sigma)
        top = base
        if on_ladder.any():
            top = float(sigma[on_ladder].max())
            base *= _LEVEL_RATIO ** math.floor(math.log(sigma[on_ladder].min() / base) / math.log(_LEVEL_RATIO))
        smoothed = _SmoothedEntropy(evaluate, low, high, base, top, n_nodes, _NEGLIGIBLE * half_spacing)
        for start in range(0, mu.size, chunk):
            block = slice(start, min(start + chunk, mu.size))
            mean[block], var[block] = smoothed.moments(mu[block], sigma[block])
    return mean.reshape(shape), np.sqrt(np.maximum(var, 0.0)).reshape(shape)


