"""Expected improvement of a group's entropy over its incumbent (the ET-AL score)."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfcx, ndtr

from ..errors import InputError
from .insertion import _float_pair, _positions

__all__ = ["expected_improvement"]


def _expected_improvement_unit(z: np.ndarray) -> np.ndarray:
    """z Phi(z) + phi(z), without cancellation for negative z."""
    phi = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    t = -z
    with np.errstate(over="ignore", invalid="ignore"):
        # z << 0: phi(z) (1 - t R(t)), R the Mills ratio Q(t)/phi(t) = sqrt(pi/2) erfcx(t/sqrt 2)
        tail = phi * (1.0 - t * math.sqrt(math.pi / 2) * erfcx(t / math.sqrt(2)))
    return np.where(z < -1.0, tail, z * ndtr(z) + phi)


def expected_improvement(mean: np.ndarray, std: np.ndarray, incumbent: float) -> np.ndarray:
    """Expected improvement of the entropy over ``incumbent`` (all in nats).

    EI = (mean - incumbent) Phi(z) + std phi(z), z = (mean - incumbent) / std: the
    expectation of max(H - incumbent, 0) for H ~ N(mean, std^2). std == 0 gives
    max(mean - incumbent, 0). Evaluated without cancellation for z << 0 (underflows to 0
    only below z ~ -38).
    """
    mean, std = _float_pair(mean, std, ("mean", "std"), ("expected entropies", "entropy standard deviations"))
    try:
        incumbent = float(incumbent)
    except (TypeError, ValueError) as exc:
        raise InputError(f"incumbent must be a number (nats), got {incumbent!r}") from exc
    if not math.isfinite(incumbent):
        raise InputError(f"incumbent must be finite, got {incumbent!r}; a group with a "
                         "non-finite entropy needs handling before the acquisition")
    bad = ~np.isfinite(mean)
    if bad.any():
        raise InputError(f"mean has non-finite value(s) at candidate(s) {_positions(bad)}")
    bad = ~(np.isfinite(std) & (std >= 0))
    if bad.any():
        raise InputError(f"std must be finite and >= 0; bad value(s) at candidate(s) {_positions(bad)}")
    gap = mean - incumbent
    positive = std > 0
    z = gap / np.where(positive, std, 1.0)
    return np.where(positive, std * _expected_improvement_unit(z), np.maximum(gap, 0.0))

