"""Exact insertion update: the spacing entropy after adding one value, O(1) per value.

See :mod:`etal.acquisition` for the derivation (h(y) = scale * (const[k] + log(y - x_a)
+ log(x_b - y)) + offset per insertion position k; Correa tabulated per window). Also
the input checks and constants the other acquisition modules share.
"""

from __future__ import annotations

import math

import numpy as np

from ..entropy import (
    data_resolution,
    ebrahimi_coefficients,
    resolve_method,
    window_length,
)
from ..errors import ConstantValuesError, InputError, TooFewValuesError
from ..params import check_float

__all__ = ["DEFAULT_N_NODES", "DETERMINISTIC_ESTIMATORS", "ESTIMATORS", "MIN_LABELLED", "entropy_after_insertion"]

#: Estimators accepted by :func:`expected_entropy`.
ESTIMATORS: tuple[str, ...] = ("quadrature", "mc")
#: The estimators that draw no random numbers ("mc" samples from the caller's generator).
DETERMINISTIC_ESTIMATORS: tuple[str, ...] = ("quadrature",)
#: Gauss-Hermite nodes per smoothing step of the quadrature estimator.
DEFAULT_N_NODES: int = 6
#: Smallest labelled sample: with one value added the estimators need n' >= 5.
MIN_LABELLED: int = 4
#: Quadrature: a candidate whose mean lies more than this many (total) smoothing scales
#: outside the labelled range sees a smooth h(y) and skips the smoothing ladder (the
#: ladder spans the stds of the other candidates). Public because
#: :mod:`etal.scale.pool` must rebuild the same ladder partition by partition.
FAR_SCALES: float = 12.0

# Quadrature constants (see the module docstring).
_GRID_PER_SCALE = 8  # grid points per unit of a level's scale s_l
_LEVEL_RATIO = 2.0**0.25  # s_{l+1} / s_l, so that tau <= 0.68 s_l
_TABLE_MARGIN = 20.0  # tables cover the data range +- 20 s_l
_TRUNCATION = 8.5  # the exact integral covers mu +- 8.5 sigma (mass lost < 2e-17)
_KERNEL_REACH = 7.0  # base level: Gaussian truncated at 7 scales, then renormalised
_N_FAR_NODES = 12  # Gauss-Hermite nodes on h where it is smooth (outside the data)
_GL_ORDER = 8  # Gauss-Legendre points per smooth piece
_MAX_LEVELS = 160
_NEGLIGIBLE = 1e-9  # sigma below this fraction of half the mean spacing counts as 0
_PIECE_BUDGET = 1 << 20  # quadrature points per block of the exact piecewise integral
_BLOCK = 1 << 18  # elements of the (values, window) temporaries of the O(m') paths


def _floored_log(spacing: np.ndarray, resolution: float) -> np.ndarray:
    """log of windowed spacings, a non-positive one replaced by ``resolution`` (tie floor)."""
    return np.log(np.where(spacing > 0, spacing, resolution))


class _SpacingInsertion:
    """Exact h(L ∪ {y}) for Vasicek, Ebrahimi and van Es (see the module docstring).

    Windows i of the enlarged sample z (size n' = n + 1) span z[lo_i] .. z[hi_i] and
    contribute kappa_i + log(z[hi_i] - z[lo_i]); h = scale * sum + offset. With y at
    position k: hi_i < k -> x[hi_i] - x[lo_i]; lo_i > k -> x[hi_i - 1] - x[lo_i - 1];
    lo_i < k < hi_i -> x[hi_i - 1] - x[lo_i]; hi_i == k -> y - x[lo_i];
    lo_i == k -> x[hi_i - 1] - y.
    """

    def __init__(self, x: np.ndarray, method: str, m: int, resolution: float) -> None:
        n = x.size
        n1 = n + 1
        self.x, self.resolution = x, resolution
        if method == "van es":
            n_windows = n1 - m
            i = np.arange(n_windows)
            lo, hi = i, i + m
            kappa = np.zeros(n_windows)
            self.scale = 1.0 / n_windows
            # log((n'+1)/m) per term, + sum_{j=m}^{n'} 1/j + log m - log(n'+1) overall
            self.offset = float(np.sum(1.0 / np.arange(m, n1 + 1)))
        else:
            n_windows = n1
            i = np.arange(n_windows)
            lo, hi = np.maximum(i - m, 0), np.minimum(i + m, n)
            c = np.full(n1, 2.0) if method == "vasicek" else ebrahimi_coefficients(n1, m)
            kappa = np.log(n1 / (c * m))
            self.scale = 1.0 / n1
            self.offset = 0.0
        left = np.where(hi <= n - 1,
                        kappa + _floored_log(x[np.minimum(hi, n - 1)] - x[lo], resolution), 0.0)
        right = np.where(lo >= 1,
                         kappa + _floored_log(x[hi - 1] - x[np.maximum(lo - 1, 0)], resolution), 0.0)
        middle = kappa + _floored_log(x[hi - 1] - x[lo], resolution)

        def prefix(a: np.ndarray) -> np.ndarray:
            return np.concatenate(([0.0], np.cumsum(a)))

        p_left, p_right, p_middle, p_kappa = map(prefix, (left, right, middle, kappa))
        k = np.arange(n + 1)
        hi_lt = np.searchsorted(hi, k, "left")  # windows [0, hi_lt) end left of y
        hi_le = np.searchsorted(hi, k, "right")  # windows [hi_lt, hi_le) end at y
        lo_lt = np.searchsorted(lo, k, "left")  # windows [0, lo_lt) start left of y
        lo_le = np.searchsorted(lo, k, "right")  # windows [lo_lt, lo_le) start at y
        middle_sum = np.where(lo_lt > hi_le,
                              p_middle[lo_lt] - p_middle[np.minimum(hi_le, lo_lt)], 0.0)
        self.const = (p_left[hi_lt] + middle_sum + (p_right[n_windows] - p_right[lo_le])
                      + (p_kappa[hi_le] - p_kappa[hi_lt]) + (p_kappa[lo_le] - p_kappa[lo_lt]))
        # Windows ending at y give log(y - x[a]) for a consecutive run of indices a
        # (one window inside the data; the m + 1 clamped windows above it); windows
        # starting at y give log(x[b] - y) likewise.
        self.left_count, self.right_count = hi_le - hi_lt, lo_le - lo_lt
        self.left_first = lo[np.minimum(hi_lt, n_windows - 1)]
        self.right_first = hi[np.minimum(lo_lt, n_windows - 1)] - 1
        has_left, has_right = self.left_count > 0, self.right_count > 0
        # One anchor per side: s_left = lp*y - lq and s_right = rq - rp*y, where
        # (p, q) = (0, -1) / (0, 1) encode "no anchor" as a spacing 1 (log 0).
        self.lp = has_left.astype(float)
        self.lq = np.where(has_left, x[np.clip(self.left_first, 0, n - 1)], -1.0)
        self.rp = has_right.astype(float)
        self.rq = np.where(has_right, x[np.clip(self.right_first, 0, n - 1)], 1.0)
        self.max_extra = int(max(self.left_count.max(), self.right_count.max()) - 1)
        # Runs longer than one occur only outside the data (k = 0 on the right, k = n on
        # the left); their extra anchors are fixed index runs.
        inner = np.arange(1, n)
        if (self.left_count[inner] > 1).any() or (self.right_count[inner] > 1).any() \
                or self.left_count[0] > 1 or self.right_count[n] > 1:  # pragma: no cover
            raise AssertionError("unexpected anchor runs inside the data")
        self.low_extra = x[self.right_first[0] + 1: self.right_first[0] + self.right_count[0]]
        self.high_extra = x[self.left_first[n] + 1: self.left_first[n] + self.left_count[n]]
        # Distance from the piece (x[k-1], x[k]) to the nearest zero of a y-dependent
        # spacing, on its left and on its right (0: a log singularity, from ties).
        nearest_left = x[np.clip(self.left_first + self.left_count - 1, 0, n - 1)]
        self.dist_left = np.where(has_left & (k >= 1), x[np.maximum(k - 1, 0)] - nearest_left, np.inf)
        self.dist_right = np.where(has_right & (k <= n - 1), self.rq - x[np.minimum(k, n - 1)], np.inf)
        self.log_singular = True

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """Exact h(L ∪ {y_i}) (nats) for a flat float array y."""
        x, res = self.x, self.resolution
        k = np.searchsorted(x, y, "left")
        s_left = self.lp[k] * y - self.lq[k]
        s_right = self.rq[k] - self.rp[k] * y
        product = s_left * s_right
        with np.errstate(divide="ignore", invalid="ignore"):
            total = self.const[k] + np.log(product)
        # A zero spacing (tie) needs the floor; an extreme product needs two logs.
        bad = ~((product > 1e-280) & (product < 1e280))
        if bad.any():
            total[bad] = (self.const[k[bad]] + _floored_log(s_left[bad], res)
                          + _floored_log(s_right[bad], res))
        if self.max_extra > 0:
            # Outside the data the padded estimators have m' + 1 clamped windows: the
            # extra anchors are a fixed run, x[b] - y below the data, y - x[a] above.
            for rows, anchors, sign in ((k == 0, self.low_extra, -1.0), (k == x.size, self.high_extra, 1.0)):
                rows = np.flatnonzero(rows)
                block = max(1, _BLOCK // max(anchors.size, 1))  # bounds (rows, m') temporaries
                for start in range(0, rows.size, block):
                    part = rows[start:start + block]
                    total[part] += _sum_log_spacings(sign * (y[part, None] - anchors), res)
        return total * self.scale + self.offset


def _sum_log_spacings(spacing: np.ndarray, resolution: float) -> np.ndarray:
    """Row sums of floored logs of spacings, one log per 8 spacings (products)."""
    width = spacing.shape[1]
    groups = -(-width // 8)
    padded = np.ones((spacing.shape[0], groups * 8))
    padded[:, :width] = spacing
    product = padded.reshape(-1, groups, 8).prod(axis=2)
    ok = (product > 1e-280) & (product < 1e280)
    total = np.log(np.where(ok, product, 1.0)).sum(axis=1)
    bad = ~ok.all(axis=1)  # a zero spacing (tie) or an extreme product: term by term
    if bad.any():
        total[bad] = _floored_log(spacing[bad], resolution).sum(axis=1)
    return total


class _CorreaInsertion:
    """Exact h(L ∪ {y}) for Correa's estimator (see the module docstring).

    Window i's term is log(num_i / (n' den_i)) with num_i = sum_j (z_j - mean)(j - i),
    den_i = sum_j (z_j - mean)^2 over its 2m + 1 padded neighbours. Windows away from y's
    position k are old windows (shifted by one right of k), summed by prefix sums. For
    the windows i = k + d, |d| <= m, with the other values centred at c, y enters as
    num = a + b (y - c) and den = s2 + count (y-c)^2 - (s1 + count (y-c))^2 / (2m + 1).
    """

    def __init__(self, x: np.ndarray, m: int, resolution: float) -> None:
        n = x.size
        n1 = n + 1
        width = 2 * m + 1
        self.x, self.m, self.n1, self.resolution = x, m, n1, resolution
        offsets = np.arange(-m, m + 1)
        old = x[np.clip(np.arange(n)[:, None] + offsets, 0, n - 1)]
        prefix = np.concatenate(([0.0], np.cumsum(np.log(self._ratio(old, offsets, n1, m, resolution)))))
        k = np.arange(n + 1)
        # windows i < k - m are old windows i; windows i > k + m are old windows i - 1
        self.const = prefix[np.maximum(k - m, 0)] + (prefix[n] - prefix[np.minimum(k + m, n)])
        shape = (n + 1, width)
        self.valid = np.zeros(shape, bool)
        self.centre, self.a, self.b, self.count, self.s1, self.s2 = (np.zeros(shape) for _ in range(6))
        self.tie_value = np.full(shape, np.nan)  # the other values' common value, if any
        block = max(1, 2_000_000 // (width * width))
        for start in range(0, n + 1, block):
            kk = np.arange(start, min(start + block, n + 1))
            i = kk[:, None] + offsets  # (K, D) window centres
            q = np.clip(i[..., None] + offsets, 0, n)  # (K, D, T) enlarged-sample index
            is_y = q == kk[:, None, None]
            values = x[np.clip(np.where(q > kk[:, None, None], q - 1, q), 0, n - 1)]
            n_other = width - is_y.sum(axis=-1)
            centre = np.where(is_y, 0.0, values).sum(axis=-1) / np.maximum(n_other, 1)
            u = np.where(is_y, 0.0, values - centre[..., None])
            lo = np.where(is_y, np.inf, values).min(axis=-1)
            hi = np.where(is_y, -np.inf, values).max(axis=-1)
            rows = slice(start, start + kk.size)
            self.valid[rows] = (i >= 0) & (i <= n)
            self.centre[rows] = centre
            self.a[rows] = np.sum(u * offsets, axis=-1)
            self.b[rows] = np.sum(np.where(is_y, offsets, 0), axis=-1)
            self.count[rows] = width - n_other
            self.s1[rows] = np.sum(u, axis=-1)
            self.s2[rows] = np.sum(u * u, axis=-1)
            self.tie_value[rows] = np.where(lo == hi, lo, np.nan)
        # Where h is not smooth beyond the data ends (the nearest window spread); inside,
        # log singularities need 2m tied values and are not treated specially.
        self.dist_left = np.full(n + 1, np.inf)
        self.dist_right = np.full(n + 1, np.inf)
        self.dist_left[n] = x[n - 1] - x[max(n - 1 - m, 0)]
        self.dist_right[0] = x[min(m, n - 1)] - x[0]
        self.log_singular = False

    @staticmethod
    def _ratio(windows: np.ndarray, offsets: np.ndarray, n1: int, m: int, resolution: float) -> np.ndarray:
        centred = windows - windows.mean(axis=-1, keepdims=True)
        num = np.sum(centred * offsets, axis=-1)
        den = n1 * np.sum(centred**2, axis=-1)
        # A window of equal values: the slope of evenly spaced values at the resolution.
        tied = windows.max(axis=-1) == windows.min(axis=-1)
        return np.where(tied, 2 * m / (n1 * resolution), num / np.where(tied, 1.0, den))

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """Exact h(L ∪ {y_i}) (nats) for a flat float array y."""
        block = max(1, _BLOCK // (2 * self.m + 1))  # bounds the (values, 2m' + 1) temporaries
        if y.size > block:
            return np.concatenate([self(y[start:start + block]) for start in range(0, y.size, block)])
        k = np.searchsorted(self.x, y, "left")
        width = 2 * self.m + 1
        valid = self.valid[k]
        yc = y[:, None] - self.centre[k]
        count = self.count[k]
        num = self.a[k] + self.b[k] * yc
        den = self.s2[k] + count * yc * yc - (self.s1[k] + count * yc) ** 2 / width
        tied = y[:, None] == self.tie_value[k]
        ratio = np.where(tied, 2 * self.m / (self.n1 * self.resolution),
                         num / (self.n1 * np.where(tied | ~valid, 1.0, den)))
        local = np.sum(np.log(np.where(valid, ratio, 1.0)), axis=1)
        return -(self.const[k] + local) / self.n1


def _make_evaluator(sorted_x: np.ndarray, method: str, resolution: float):
    """The exact insertion evaluator for sorted L (size n >= 4), estimator of n' = n + 1."""
    n1 = sorted_x.size + 1
    m = window_length(n1)
    name = resolve_method(method, n1)
    if name == "correa":
        return _CorreaInsertion(sorted_x, m, resolution)
    return _SpacingInsertion(sorted_x, name, m, resolution)


# --------------------------------------------------------------------------- validation


def _positions(mask: np.ndarray) -> list:
    """First few positions where ``mask`` is true (ints for 1-D, tuples otherwise)."""
    where = np.argwhere(mask)[:5]
    return [int(i[0]) if mask.ndim == 1 else tuple(int(j) for j in i) for i in where]


def _float_array(values, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric: {exc}") from exc


def _sorted_labelled(values, what: str, *, assume_sorted: bool) -> np.ndarray:
    x = _float_array(values, what)
    if x.ndim != 1:
        raise InputError(f"{what} must be a 1-D array, got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        raise InputError(
            f"{what} contain {int(bad.sum())} non-finite value(s) (NaN or inf) at position(s) "
            f"{_positions(bad)}; drop or fix those labelled values first")
    if x.size < MIN_LABELLED:
        raise TooFewValuesError(
            f"got {x.size} {what}; the entropy after adding one candidate needs at least "
            f"{MIN_LABELLED} labelled values (5 with the candidate)")
    if assume_sorted:
        unsorted = np.diff(x) < 0
        if unsorted.any():
            raise InputError(
                f"{what} must be sorted ascending (first decrease after position "
                f"{int(np.argmax(unsorted))}); pass np.sort(values)")
        return x
    return np.sort(x)


def _resolution(sorted_x: np.ndarray, resolution: float | None) -> float:
    if resolution is None:
        res = data_resolution(sorted_x)
        if not math.isfinite(res):
            raise ConstantValuesError(
                f"all {sorted_x.size} labelled values are equal ({sorted_x[0]!r}), so the tie "
                "floor (their smallest positive gap) is undefined; pass resolution=<the "
                "smallest difference that matters, in the data's units> to score candidates")
        return res
    return check_float("resolution", resolution, low=0, low_open=True)


def _float_pair(a, b, names: tuple[str, str], whats: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two numeric arrays of one shape (broadcast), e.g. means and their standard deviations."""
    a, b = _float_array(a, f"{names[0]} ({whats[0]})"), _float_array(b, f"{names[1]} ({whats[1]})")
    try:
        return tuple(np.broadcast_arrays(a, b))
    except ValueError as exc:
        raise InputError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}") from exc


def _posterior(mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    mu, sigma = _float_pair(mu, sigma, ("mu", "sigma"), ("posterior means", "posterior standard deviations"))
    bad = ~np.isfinite(mu)
    if bad.any():
        raise InputError(
            f"mu has {int(bad.sum())} non-finite value(s) (NaN or inf) at candidate(s) "
            f"{_positions(bad)}; check the surrogate's predictions for those candidates")
    bad = ~(np.isfinite(sigma) & (sigma >= 0))
    if bad.any():
        raise InputError(
            f"sigma must be finite and >= 0; {int(bad.sum())} value(s) are negative, NaN or inf "
            f"at candidate(s) {_positions(bad)} (e.g. {sigma[bad][:3].tolist()}); check the "
            "surrogate's predictive standard deviations")
    return mu, sigma


# --------------------------------------------------------------------------- exact update


def entropy_after_insertion(sorted_labelled: np.ndarray, y: np.ndarray, method: str = "auto",
                            resolution: float | None = None) -> np.ndarray:
    """Entropy (nats) of the labelled values with one value y added, for every y.

    Parameters
    ----------
    sorted_labelled : 1-D array of n >= 4 labelled values, sorted ascending.
    y : values to add, any shape, in the units of ``sorted_labelled``; one is added at a time.
    method : estimator name or ``"auto"``; the estimator and the window
        m' = window_length(n + 1) are those of the enlarged sample of n + 1 values.
    resolution : floor for zero windowed spacings (ties), in the data's units; default the
        smallest positive gap of ``sorted_labelled``. Raises ConstantValuesError if all
        labelled values are equal and no resolution is given.

    Returns
    -------
    Array of y's shape: ``entropy_of_sorted(np.sort(np.append(L, y_i)), method,
    resolution=resolution)`` for each y_i, computed in O(1) per value (O(m') for Correa
    and outside the data range) instead of O(n log n).
    """
    x = _sorted_labelled(sorted_labelled, "sorted_labelled values", assume_sorted=True)
    res = _resolution(x, resolution)
    values = _float_array(y, "y")
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(f"y has {int(bad.sum())} non-finite value(s) at position(s) {_positions(bad)}")
    evaluate = _make_evaluator(x, method, res)
    return evaluate(values.ravel()).reshape(values.shape)


# --------------------------------------------------------------------------- quadrature

