"""The maths of trimming: a group's entropy after deleting each one of its values.

Pure functions on NumPy arrays (nats throughout); no I/O, no pandas.

Deletion update (:func:`deletion_entropies`)
    Let x be a group's sorted values (n of them) and z = x without x_k (N = n - 1 values;
    z_j = x_j for j < k, x_{j+1} for j >= k). Every spacing estimator used here is

        h(z) = scale * sum_i [kappa_i + log(z[hi_i] - z[lo_i])] + offset,

    over windows i with non-decreasing bounds lo_i <= hi_i (indices into z):

    * Vasicek / Ebrahimi: i = 0..N-1, lo_i = max(i - m, 0), hi_i = min(i + m, N - 1),
      kappa_i = log(N / (c_i m)) (c_i = 2 for Vasicek, Ebrahimi's boundary weights
      otherwise), scale = 1/N, offset = 0;
    * van Es: i = 0..N-m-1, lo_i = i, hi_i = i + m, kappa_i = log((N + 1)/m),
      scale = 1/(N - m), offset = sum_{j=m}^{N} 1/j + log m - log(N + 1);

    with m = window_length(N) and the estimator resolved at N (``"auto"`` follows SciPy:
    van Es for N <= 10, Ebrahimi to 1000, Vasicek above). In x's indices a window's
    spacing is

    * A_i = x[hi_i] - x[lo_i]          if hi_i < k (the window lies left of x_k),
    * C_i = x[hi_i + 1] - x[lo_i]      if lo_i < k <= hi_i (x_k was inside it),
    * B_i = x[hi_i + 1] - x[lo_i + 1]  if lo_i >= k (right of x_k, shifted by one).

    Because lo and hi are non-decreasing, the three cases are three consecutive runs of
    windows, [0, a_k), [a_k, b_k) and [b_k, W) with a_k = #{i: hi_i < k} and
    b_k = #{i: lo_i < k}. With prefix sums of log A, log B and log C, every one of the n
    leave-one-out entropies costs O(1): O(n) for the whole group, exact to rounding
    (the tests compare it with a from-scratch estimate of every leave-one-out sample).
    Only the windows that contained x_k differ from the current sample's, which is what
    makes batches of far-apart deletions nearly additive (see :mod:`etal.trimming.greedy`).

Ties: a zero spacing is floored at ``resolution`` (as :mod:`etal.entropy` does). The
trimmer fixes each group's resolution at the start (its own smallest positive gap), so
a deletion never moves the floor; :func:`etal.entropy.entropy_of_sorted` with the same
resolution gives the same numbers.

Correa's estimator is a local regression, not a sum of log spacings; trimming does not
support it (:data:`TRIM_METHODS`).
"""

from __future__ import annotations

import math

import numpy as np

from ..entropy import (
    MIN_SAMPLES,
    ebrahimi_coefficients,
    entropy_of_sorted,
    resolve_method,
    window_length,
)
from ..errors import InputError

__all__ = [
    "TRIM_METHODS",
    "deficit_after",
    "deletion_entropies",
    "estimator_at",
    "group_entropy",
]

#: Estimators the trimmer supports (``"auto"`` resolves per group size to one of the rest).
TRIM_METHODS: tuple[str, ...] = ("auto", "vasicek", "van es", "ebrahimi")


def estimator_at(method: str, n: int) -> tuple[str, int]:
    """The concrete estimator and window m = floor(sqrt(n) + 0.5) used at sample size n."""
    name = resolve_method(method, n)
    if name not in TRIM_METHODS:
        raise InputError(
            f"trimming supports the estimators {', '.join(map(repr, TRIM_METHODS))}; "
            f"{method!r} (Correa's local regression) has no exact deletion update"
        )
    return name, window_length(n)


def group_entropy(sorted_values: np.ndarray, method: str, resolution: float) -> float:
    """Entropy (nats) of one group's sorted values with a fixed tie floor; NaN if n < 5."""
    x = np.asarray(sorted_values, dtype=float)
    if x.size < MIN_SAMPLES:
        return float("nan")
    name, m = estimator_at(method, x.size)
    return float(entropy_of_sorted(x, name, m, resolution))


def _floored_log(spacing: np.ndarray, resolution: float) -> np.ndarray:
    if spacing.size and spacing.min() <= 0:  # only tied data pay for the floor
        spacing = np.where(spacing > 0, spacing, resolution)
    return np.log(spacing)


def _prefix(a: np.ndarray) -> np.ndarray:
    out = np.empty(a.size + 1)
    out[0] = 0.0
    np.cumsum(a, out=out[1:])
    return out


def _clamped_spacings(v: np.ndarray, left: int, right: int) -> np.ndarray:
    """v[min(i + right, len - 1)] - v[max(i - left, 0)] for i = 0..len-1 (slices, no gathers)."""
    size = v.size
    i = np.arange(size)
    out = v[np.minimum(i + right, size - 1)] if size <= 2 * (left + right) else None
    if out is not None:  # small arrays: direct
        return out - v[np.maximum(i - left, 0)]
    out = np.empty(size)
    out[left:size - right] = v[left + right:] - v[:size - left - right]
    head = np.arange(left)
    out[:left] = v[np.minimum(head + right, size - 1)] - v[0]
    tail = np.arange(size - right, size)
    out[size - right:] = v[size - 1] - v[np.maximum(tail - left, 0)]
    return out


def deletion_entropies(sorted_values: np.ndarray, method: str, resolution: float) -> np.ndarray:
    """h(x without x_k) for every k, in nats (array of length n; exact, O(n)).

    ``sorted_values`` is ascending with n >= 6 (the remaining N = n - 1 values must
    allow an estimate); the estimator and window are those of size N (see the module
    docstring). ``resolution`` floors zero spacings (ties).
    """
    x = np.asarray(sorted_values, dtype=float)
    n = x.size
    big_n = n - 1
    if big_n < MIN_SAMPLES:
        raise InputError(f"deleting a value needs at least {MIN_SAMPLES + 1} values, got {n}")
    name, m = estimator_at(method, big_n)
    if name == "van es":
        n_windows = big_n - m
        kappa_sum = n_windows * math.log((big_n + 1) / m)
        scale = 1.0 / n_windows
        offset = float(np.sum(1.0 / np.arange(m, big_n + 1))) + math.log(m) - math.log(big_n + 1)
        # windows lo_i = i, hi_i = i + m: plain slices
        spacing_a = x[m:big_n] - x[:n_windows]
        spacing_b = x[m + 1:] - x[1:n_windows + 1]
        spacing_c = x[m + 1:] - x[:n_windows]
    else:
        n_windows = big_n
        if name == "vasicek":
            kappa_sum = big_n * math.log(big_n / (2 * m))
        else:
            c = ebrahimi_coefficients(big_n, m)
            kappa_sum = float(np.sum(np.log(big_n / (c * m))))
        scale = 1.0 / big_n
        offset = 0.0
        spacing_a = _clamped_spacings(x[:big_n], m, m)
        spacing_b = _clamped_spacings(x[1:], m, m)
        spacing_c = _clamped_spacings(x, m, m + 1)[:big_n]
    log_a = _floored_log(spacing_a, resolution)
    log_b = _floored_log(spacing_b, resolution)
    log_c = _floored_log(spacing_c, resolution)
    # total_k = P_A[a] + (P_C[b] - P_C[a]) + (P_B[W] - P_B[b]) = E[a] + F[b] + sum(log B),
    # with E, F the prefix sums of log A - log C and log C - log B: two cumsums, not three.
    p_e = _prefix(log_a - log_c)
    p_f = _prefix(log_c - log_b)
    sum_b = float(log_b.sum())
    # a_k = #{i: hi_i < k} (windows left of x_k), b_k = #{i: lo_i < k}; closed forms of
    # np.searchsorted(hi, k) and np.searchsorted(lo, k) for these window bounds.
    k = np.arange(n)
    a = np.clip(k - m, 0, n_windows)
    if name != "van es":
        a[-1] = n_windows  # every window ends at or before N - 1 < k = N
        b = np.minimum(k + m, n_windows)
        b[0] = 0
    else:
        b = np.minimum(k, n_windows)
    total = p_e[a] + p_f[b] + sum_b
    return scale * (kappa_sum + total) + offset


def deficit_after(
    candidate: np.ndarray | float, others_max: float, others_sum: float, n_groups: int
) -> np.ndarray:
    """D (nats) when one group's entropy becomes ``candidate`` and the others stay.

    The vectorised what-if form of :func:`etal.bias.scores.entropy_deficit` (the one
    definition of D; the tests check that the two agree): D = mean over the
    ``n_groups`` groups of (max h - h_g) = max h - mean h, with the other groups'
    entropies summarised by their maximum and sum, for a whole array of candidate
    entropies at once. With a single group D is 0 (nothing to even out).
    """
    v = np.asarray(candidate, dtype=float)
    if n_groups < 2:
        return np.zeros_like(v)
    return np.maximum(others_max, v) - (others_sum + v) / n_groups
