"""Spacing estimators of differential entropy, in nats.

These are the estimators of :func:`scipy.stats.differential_entropy` (Vasicek, van Es,
Ebrahimi, Correa and SciPy's ``auto`` rule), written out here for two reasons SciPy
cannot serve:

* **ties**: a zero spacing makes SciPy return ``-inf`` without a word. Here a zero
  windowed spacing is replaced by the data's *resolution* (the smallest positive gap
  between two distinct values), so the estimate stays finite; the number of tied values
  and of floored spacings is reported, and ``ties="error"`` turns ties into an error.
  On data without zero spacings the result equals SciPy's to rounding error.
* **speed**: the acquisition layer re-evaluates the entropy of a sample with one value
  inserted millions of times; it needs the per-spacing terms, not just the mean.

All functions are pure and work on NumPy arrays. The batched function
:func:`entropy_of_sorted` accepts ``(..., n)`` arrays sorted along the last axis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from .errors import ConstantValuesError, InputError, TiedValuesError, TooFewValuesError
from .params import check_choice

__all__ = [
    "METHODS",
    "MIN_SAMPLES",
    "TIES",
    "EntropyEstimate",
    "count_ties",
    "data_resolution",
    "differential_entropy",
    "ebrahimi_coefficients",
    "entropy_of_sorted",
    "estimate_entropy",
    "resolve_method",
    "window_length",
]

#: Estimator names accepted everywhere (``"auto"`` resolves to one of them by n).
METHODS: tuple[str, ...] = ("vasicek", "van es", "ebrahimi", "correa")
#: Smallest sample for which the default window gives a valid estimate (2 <= 2m < n).
MIN_SAMPLES: int = 5

Method = Literal["auto", "vasicek", "van es", "ebrahimi", "correa"]
TiePolicy = Literal["floor", "error"]
#: The tie policies (``ties=``) every estimator accepts.
TIES: tuple[str, ...] = ("floor", "error")


def window_length(n: int) -> int:
    """SciPy's default window half-width ``m = floor(sqrt(n) + 0.5)``."""
    if n < 1:
        raise InputError(f"window_length needs n >= 1, got {n}")
    return int(math.floor(math.sqrt(n) + 0.5))


def resolve_method(method: str, n: int) -> str:
    """Return the concrete estimator for ``method`` at sample size ``n``.

    ``"auto"`` follows SciPy: van Es for n <= 10, Ebrahimi for 11 <= n <= 1000,
    Vasicek for n > 1000. Names are case-insensitive; ``"vanes"``/``"van_es"`` are
    accepted for ``"van es"``.
    """
    name = str(method).lower().replace("_", " ")
    if name == "vanes":
        name = "van es"
    if name == "auto":
        if n <= 10:
            return "van es"
        if n <= 1000:
            return "ebrahimi"
        return "vasicek"
    if name not in METHODS:
        raise InputError(
            f"unknown entropy method {method!r}; choose one of 'auto', "
            + ", ".join(repr(m) for m in METHODS)
        )
    return name


def _check_window(n: int, m: int) -> None:
    if not 2 <= 2 * m < n:
        raise TooFewValuesError(
            f"window length {m} is invalid for {n} values: the spacing estimators need "
            f"2 <= 2*window < n (at least {MIN_SAMPLES} values with the default window)"
        )


def data_resolution(sorted_values: np.ndarray) -> float:
    """Smallest positive gap between consecutive sorted values (NaN if all are equal).

    This is the spacing floor of the tie policy: no positive windowed spacing can be
    smaller, so flooring changes only the zero spacings that ties create.
    """
    x = np.asarray(sorted_values, dtype=float)
    gaps = np.diff(x, axis=-1)
    positive = gaps[gaps > 0]
    return float(positive.min()) if positive.size else float("nan")


def count_ties(sorted_values: np.ndarray) -> int:
    """Number of values equal to the value before them in sorted order (n - unique)."""
    x = np.asarray(sorted_values, dtype=float)
    return int(np.count_nonzero(np.diff(x) == 0))


def ebrahimi_coefficients(n: int, m: int) -> np.ndarray:
    """Ebrahimi's boundary weights c_i, i = 1..n (2 inside, smaller near the ends)."""
    i = np.arange(1, n + 1, dtype=float)
    c = np.full(n, 2.0)
    low = i <= m
    c[low] = 1 + (i[low] - 1) / m
    high = i >= n - m + 1
    c[high] = 1 + (n - i[high]) / m
    return c


def _pad(x: np.ndarray, m: int) -> np.ndarray:
    left = np.repeat(x[..., :1], m, axis=-1)
    right = np.repeat(x[..., -1:], m, axis=-1)
    return np.concatenate((left, x, right), axis=-1)


def _floor(spacing: np.ndarray, resolution: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zero = ~(spacing > 0)
    if not zero.any():
        return spacing, zero
    return np.where(zero, resolution, spacing), zero


def entropy_of_sorted(
    sorted_values: np.ndarray,
    method: str = "auto",
    window: int | None = None,
    resolution: float | np.ndarray | None = None,
    return_floored: bool = False,
):
    """Entropy (nats) of each row of an array sorted along its last axis.

    Parameters
    ----------
    sorted_values : array (..., n), sorted ascending along the last axis.
    method : estimator name or ``"auto"`` (resolved with this n).
    window : window half-width m; default ``floor(sqrt(n) + 0.5)``.
    resolution : spacing floor for zero spacings; default: each row's
        :func:`data_resolution`. Pass a fixed value to compare rows on one footing.
    return_floored : also return the number of floored spacings per row.
    """
    x = np.asarray(sorted_values, dtype=float)
    n = x.shape[-1]
    m = window_length(n) if window is None else int(window)
    _check_window(n, m)
    name = resolve_method(method, n)
    if resolution is None:
        gaps = np.diff(x, axis=-1)
        resolution = np.min(np.where(gaps > 0, gaps, np.inf), axis=-1, keepdims=True)
        resolution = np.where(np.isfinite(resolution), resolution, np.nan)
    else:
        resolution = np.asarray(resolution, dtype=float)
        if resolution.ndim:
            resolution = resolution[..., None]

    if name == "van es":
        spacing, zero = _floor(x[..., m:] - x[..., :-m], resolution)
        k = np.arange(m, n + 1)
        h = (
            np.sum(np.log((n + 1) / m * spacing), axis=-1) / (n - m)
            + np.sum(1.0 / k)
            + math.log(m)
            - math.log(n + 1)
        )
    elif name in ("vasicek", "ebrahimi"):
        xp = _pad(x, m)
        spacing, zero = _floor(xp[..., 2 * m :] - xp[..., : -2 * m], resolution)
        if name == "vasicek":
            h = np.mean(np.log(n / (2 * m) * spacing), axis=-1)
        else:
            c = ebrahimi_coefficients(n, m)
            h = np.mean(np.log(n * spacing / (c * m)), axis=-1)
    else:  # correa
        xp = _pad(x, m)
        i = np.arange(1, n + 1)
        dj = np.arange(-m, m + 1)[:, None]
        j0 = i + dj + m - 1
        window_values = xp[..., j0]  # (..., 2m+1, n)
        centred = window_values - window_values.mean(axis=-2, keepdims=True)
        num = np.sum(centred * dj, axis=-2)
        den = n * np.sum(centred**2, axis=-2)
        # A window is tied when all its values are equal; test that exactly, since the
        # rounded variance of equal values can be tiny but positive.
        zero = window_values.max(axis=-2) == window_values.min(axis=-2)
        # A window of tied values: use the slope of evenly spaced values whose windowed
        # spacing is the resolution, 2m / (n * resolution), as the floor does elsewhere.
        ratio = np.where(zero, 2 * m / (n * resolution), num / np.where(zero, 1.0, den))
        h = -np.mean(np.log(ratio), axis=-1)
    h = np.asarray(h, dtype=float)
    if return_floored:
        return h, np.count_nonzero(zero, axis=-1)
    return h


@dataclass(frozen=True)
class EntropyEstimate:
    """One group's entropy estimate and how it was obtained.

    ``entropy`` is in nats (NaN only when ``status`` is not ``"ok"``); ``status`` is
    ``"ok"``, ``"too_few"`` (n < 5, or n <= 2*window) or ``"constant"`` (all values
    equal). ``ties`` counts values equal to another value; ``floored`` counts windowed
    spacings that were zero and were floored at ``resolution``.
    """

    entropy: float
    n: int
    method: str | None
    window: int | None
    ties: int
    floored: int
    resolution: float
    status: str

    def to_dict(self) -> dict:
        return asdict(self)


def _clean(values, what: str = "values") -> np.ndarray:
    try:
        x = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric: {exc}") from exc
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.flatnonzero(bad)[:5].tolist()
        raise InputError(
            f"{what} contain {int(bad.sum())} non-finite value(s) (NaN or inf) at "
            f"position(s) {first}; drop or fix them before estimating entropy"
        )
    return x


def estimate_entropy(
    values,
    method: str = "auto",
    window: int | None = None,
    ties: TiePolicy = "floor",
    resolution: float | None = None,
) -> EntropyEstimate:
    """Estimate the differential entropy of ``values`` and report how.

    Never raises for small or constant samples: those come back with a status. With
    ``ties="error"``, any tied value raises :class:`~etal.errors.TiedValuesError`.
    """
    x = np.sort(_clean(values))
    n = x.size
    tied = count_ties(x)
    check_choice("ties", ties, TIES)
    if ties == "error" and tied:
        dup = x[1:][np.diff(x) == 0][:3].tolist()
        raise TiedValuesError(
            f"{tied} tied value(s) among {n} (e.g. {dup}); tied values make zero "
            "spacings. Use ties='floor' (the default) to floor zero spacings at the "
            "data's resolution, or de-duplicate the data",
            param="ties",
        )
    m = window_length(max(n, 1)) if window is None else int(window)
    res = data_resolution(x) if resolution is None else float(resolution)
    if n < MIN_SAMPLES or not 2 <= 2 * m < n:
        return EntropyEstimate(float("nan"), n, None, m, tied, 0, res, "too_few")
    name = resolve_method(method, n)
    if not np.isfinite(res):
        return EntropyEstimate(float("nan"), n, name, m, tied, 0, res, "constant")
    # An outside resolution (the dataset's) gives a constant sample a finite, very low
    # entropy: all its spacings are floored. It keeps the status "constant".
    h, floored = entropy_of_sorted(x, name, m, res, return_floored=True)
    status = "constant" if x[0] == x[-1] else "ok"
    return EntropyEstimate(float(h), n, name, m, tied, int(floored), res, status)


def differential_entropy(
    values,
    method: str = "auto",
    window: int | None = None,
    ties: TiePolicy = "floor",
    resolution: float | None = None,
) -> float:
    """Differential entropy of ``values`` in nats (SciPy's estimators, tie-safe).

    Raises :class:`~etal.errors.TooFewValuesError` for fewer than 5 values (or an
    invalid window) and :class:`~etal.errors.ConstantValuesError` when all values are
    equal, instead of returning NaN or -inf.
    """
    est = estimate_entropy(values, method=method, window=window, ties=ties, resolution=resolution)
    if est.status == "too_few":
        raise TooFewValuesError(
            f"{est.n} value(s) are too few for an entropy estimate with window {est.window}: "
            f"need at least {MIN_SAMPLES} (and n > 2*window)"
        )
    if est.status == "constant":
        raise ConstantValuesError(
            f"all {est.n} values are equal; "
            "their differential entropy is -inf"
        )
    return est.entropy
