"""Expected entropy of a group after adding one candidate, and the ET-AL acquisition.

ET-AL scores candidate c of the target group by h(L ∪ {Y_c}), the spacing-estimator
entropy (nats, :mod:`etal.entropy`) of the group's labelled values L with the candidate's
unknown value Y_c ~ N(mu_c, sigma_c^2) (the GP posterior) added, through the mean and
standard deviation of that random variable and their expected improvement over the
group's current entropy. The paper estimates the mean and std by Monte Carlo: 1000
posterior draws per candidate, each followed by a full re-estimation of the entropy.
This module computes the same Monte Carlo estimate without re-estimating
(``estimator="mc"``, exact insertion update) or, deterministically, the exact mean and
std to ~1e-5 nats or better (``estimator="quadrature"``), far faster for large pools.

Exact insertion update (:func:`entropy_after_insertion`)
    With n' = n + 1 values the estimator, its window m' = window_length(n') and its
    coefficients are fixed. Inserting y at sorted position k changes only the windowed
    spacings whose window contains k. Of those, only the (at most two) windows with y at
    an *end* depend on y's value: a window ending at y contributes log(y - x_a) and one
    starting at y contributes log(x_b - y); the windows with y strictly inside see the old
    neighbours x[lo], x[hi - 1]. Hence

        h(y) = scale * (const[k] + log(y - x_a[k]) + log(x_b[k] - y)) + offset,

    with const[k] assembled once from prefix sums of the left, middle and right terms
    (the right ones shifted by one index, with the n'-indexed coefficients, e.g.
    Ebrahimi's c_i). Below (k = 0) and above (k = n) the data the padded estimators
    (Vasicek, Ebrahimi) have m' + 1 windows clamped at y, so there the sum has m' + 1
    logs. Van Es (one-sided, unpadded windows) has the same two-term structure. Correa's
    term is the log of a local regression slope: the <= 2m' + 1 windows containing k are
    a linear over a quadratic function of y, with coefficients tabulated per (k, window).
    Cost: one ``searchsorted`` and two logs per value (O(m') for Correa and outside the
    data range), exact to rounding (~1e-14 against a full re-estimate).

Expectation over Y ~ N(mu, sigma^2) (``estimator="quadrature"``)
    h(y) is continuous but has a kink at every labelled value, and between two labelled
    values its bumps are as large as the differences between candidates (O(1/n) nats).
    Plain Gauss-Hermite quadrature on h therefore aliases: with 64-256 nodes its error
    was 1e-4 to 1e-3 nats (n = 5..1500), as large as the signal and as the noise of
    1000-draw Monte Carlo. Instead we use that Gaussian smoothing is a semigroup. Let
    G_s(t) = E[h(t + sZ)] and V_s(t) = Var[h(t + sZ)], tabulated on a ladder of scales
    s_l = s_0 2^(l/4), each on a uniform grid of spacing s_l/8 over the data range
    +- 20 s_l:

    * base level s_0 (the largest ladder scale <= the smallest candidate sigma, and at
      least half the mean spacing of L), computed *exactly*: the line is cut at every
      labelled value (the kinks), at steps of 2 s_0 and at points graded towards any
      (near-)singularity of h (ties make log singularities at labelled values: those
      pieces get the substitution y = end -+ w u^4); h is evaluated once at 8
      Gauss-Legendre points per piece, and every point is spread onto the grid with its
      Gaussian weight (truncated at 7 s_0 and renormalised);
    * level l + 1 from level l: Y = t + tau Z1 + s_l Z2 with tau^2 = s_{l+1}^2 - s_l^2,
      so G_{l+1}(t) = E[G_l(t + tau Z1)] and, by the law of total variance,
      V_{l+1}(t) = E[V_l(t + tau Z1)] + Var[G_l(t + tau Z1)];
    * a candidate with s_l <= sigma < s_{l+1} takes the same step with
      tau = sqrt(sigma^2 - s_l^2).

    G_l and V_l are Gaussian-smoothed at scale s_l >= tau / 0.68, hence analytic on that
    scale: ``n_nodes`` (default 6) Gauss-Hermite nodes integrate them to ~1e-6 of their
    variation, and the 4-point Lagrange interpolation on the s_l/8 grid adds ~1e-5 of it.
    Points more than 12 (total) scales outside the data range see a smooth h and use
    Gauss-Hermite on h directly; candidates with 0 < sigma < s_0 use the exact piecewise
    integral (cost O(labelled values within mu +- 8.5 sigma)); sigma == 0 (or below 1e-9
    of half the mean spacing, or below 1000 float steps of mu) gives h(mu) and std 0.
    The variance is never formed as E[h^2] - E[h]^2 of raw values (no cancellation).

    Accuracy (against exact piecewise integration; ``benchmarks/bench_acquisition.py``
    and the tests measure it): max error of the mean and std <= 1.2e-5 nats for
    n = 4..12 (std up to 0.5 nats), <= 2e-6 for n = 200..1500 and ~2e-7 for n = 2000,
    for every estimator, with and without ties (data rounded to 0.1), sigma from 1e-4
    to 10 data std and mu inside or outside the data. 1000-draw Monte Carlo errs by
    ~3 % of the std (e.g. 3e-3 nats at n = 200).

    Cost: the tables are built once per call, O(n) work (~10 ms for n = 200, ~0.1 s for
    n = 2000); each candidate then costs ``n_nodes`` cubic-table look-ups (~0.3 us).
    Candidates are processed ``chunk_size`` (default 32768) at a time, so memory stays
    ~100 MB for any pool: 1,000,000 candidates with 2,000 labelled values took 0.27 s
    (one core, 109 MB traced). Against the vectorised 1000-draw Monte Carlo below this
    is 1.6x faster for 300 candidates (the table build dominates), 12x for 3,000, 64x
    for 30,000 and ~300x for 1,000,000; against the paper's recipe (re-estimating after
    every draw) 500x already for 300.

Monte Carlo (``estimator="mc"``)
    As the paper: ``n_samples`` draws per candidate from ``numpy.random.default_rng(seed)``
    (candidate-major order, independent of ``chunk_size``), each scored with the exact
    insertion update (no Python loop per draw); the std is the population std (ddof=0,
    ``numpy.std``'s default).

Ties. A zero windowed spacing is replaced by ``resolution`` (default: the smallest
positive gap of L, :func:`etal.entropy.data_resolution`), the same floor for every y.
If all labelled values are equal the resolution is undefined and a
:class:`~etal.errors.ConstantValuesError` asks for an explicit ``resolution``. (Correa
only: a window whose values are all equal gets the floor slope 2m/(n' resolution); the
windows are compared exactly, where :func:`etal.entropy.entropy_of_sorted` tests the
rounded variance, which can be a tiny positive number and give an infinite entropy.)
Because the floor applies only at exact equality, h(y) falls like log|y - v| next to a
value v tied about m' times or more: the expectation integrates that singularity
(graded pieces, see above), so a candidate with a tiny sigma at such a value gets a
very low expected entropy while sigma == 0 gets the floored h(v).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfcx, ndtr, roots_legendre

from .entropy import data_resolution, ebrahimi_coefficients, resolve_method, window_length
from .errors import ConstantValuesError, InputError, TooFewValuesError

__all__ = [
    "DEFAULT_N_NODES",
    "ESTIMATORS",
    "entropy_after_insertion",
    "expected_entropy",
    "expected_improvement",
]

#: Estimators accepted by :func:`expected_entropy`.
ESTIMATORS: tuple[str, ...] = ("quadrature", "mc")
#: Gauss-Hermite nodes per smoothing step of the quadrature estimator.
DEFAULT_N_NODES: int = 6
#: Smallest labelled sample: with one value added the estimators need n' >= 5.
MIN_LABELLED: int = 4

# Quadrature constants (see the module docstring).
_GRID_PER_SCALE = 8  # grid points per unit of a level's scale s_l
_LEVEL_RATIO = 2.0**0.25  # s_{l+1} / s_l, so that tau <= 0.68 s_l
_TABLE_MARGIN = 20.0  # tables cover the data range +- 20 s_l
_FAR = 12.0  # a point this many scales outside the data sees a smooth h
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
    try:
        res = float(resolution)
    except (TypeError, ValueError) as exc:
        raise InputError(f"resolution must be a positive number, got {resolution!r}") from exc
    if not (math.isfinite(res) and res > 0):
        raise InputError(f"resolution must be a positive finite number, got {resolution!r}")
    return res


def _posterior(mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    mu = _float_array(mu, "mu (posterior means)")
    sigma = _float_array(sigma, "sigma (posterior standard deviations)")
    try:
        mu, sigma = np.broadcast_arrays(mu, sigma)
    except ValueError as exc:
        raise InputError(f"mu and sigma must have the same shape, got {mu.shape} and {sigma.shape}") from exc
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


def _positive_int(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


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

_GL_NODES, _GL_WEIGHTS = roots_legendre(_GL_ORDER)
_GL_NODES, _GL_WEIGHTS = (_GL_NODES + 1) / 2, _GL_WEIGHTS / 2  # on [0, 1]
_SIGMA_STEPS = np.linspace(-_TRUNCATION, _TRUNCATION, 9)  # pieces <= 2.125 sigma wide


def _gauss_hermite(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    return nodes, weights / weights.sum()


def _breakpoints(evaluate, reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the exact integral must split h: kinks and graded points near singularities.

    Returns sorted break values and two flags per value: the piece starting (ending) here
    has a log singularity at this end. A piece whose nearest singularity (a zero of a
    y-dependent spacing) lies closer than its width is split at distances D, 2D, 4D, ...
    from that end, so that every piece is at least as far from a singularity as it is
    wide; outside the data this grading runs out to ``reach`` from the data ends.
    """
    x, res = evaluate.x, evaluate.resolution
    n = x.size
    kinks = np.unique(x)
    dist_left, dist_right = evaluate.dist_left, evaluate.dist_right
    singular_after = np.zeros(kinks.size, bool)
    singular_before = np.zeros(kinks.size, bool)
    if evaluate.log_singular:
        singular_after = dist_left[np.searchsorted(x, kinks, "right")] == 0
        singular_before = dist_right[np.searchsorted(x, kinks, "left")] == 0

    def graded(origin: np.ndarray, direction: np.ndarray, distance: np.ndarray, extent: np.ndarray) -> np.ndarray:
        use = (distance > 0) & (distance < extent)
        origin, direction, distance = origin[use], direction[use], distance[use]
        count = np.ceil(np.log2(extent[use] / distance)).astype(np.int64)
        owner = np.repeat(np.arange(count.size), count)
        power = np.arange(owner.size) - (np.cumsum(count) - count)[owner]
        step = distance[owner] * 2.0**power
        keep = step < (1 - 1e-6) * extent[use][owner]  # never (almost) onto the far end
        return (origin[owner] + direction[owner] * step)[keep]

    k = np.arange(1, n)
    width = x[k] - x[k - 1]
    low_gap = dist_right[0] if dist_right[0] > 0 else res
    high_gap = dist_left[n] if dist_left[n] > 0 else res
    extra = np.concatenate((
        graded(x[k - 1], np.ones(k.size), dist_left[k], width),
        graded(x[k], -np.ones(k.size), dist_right[k], width),
        graded(np.array([x[0], x[-1]]), np.array([-1.0, 1.0]), np.array([low_gap, high_gap]),
               np.full(2, max(reach, 2 * max(low_gap, high_gap)))),
    ))
    values = np.concatenate((kinks, extra))
    no = np.zeros(extra.size, bool)
    after = np.concatenate((singular_after, no))
    before = np.concatenate((singular_before, no))
    # A graded point may round onto a kink: merge equal values, keeping the kink's flags.
    return _merge_breaks(values, after, before)


def _piece_nodes(left, right, sing_left, sing_right, who):
    """Gauss-Legendre nodes and weights (P, order) on pieces [left, right] of h.

    A piece with a log singularity at an end gets y = end -+ w u^4 (error ~6e-7 of its
    integral with 8 points instead of ~1e-2); one with singular ends on both sides is
    split in the middle first. ``who`` (an integer label per piece) follows the split.
    """
    both = sing_left & sing_right
    if both.any():
        mid = 0.5 * (left[both] + right[both])
        tail_right, tail_who = right[both], who[both]
        right = right.copy()
        right[both] = mid
        left = np.concatenate((left, mid))
        right = np.concatenate((right, tail_right))
        who = np.concatenate((who, tail_who))
        sing_left = np.concatenate((sing_left, np.zeros(mid.size, bool)))
        sing_right = np.concatenate((sing_right & ~both, np.ones(mid.size, bool)))
    singular = (sing_left | sing_right)[:, None]
    width = (right - left)[:, None]
    t = np.where(singular, _GL_NODES**4, _GL_NODES)
    jacobian = width * np.where(singular, 4 * _GL_NODES**3 * _GL_WEIGHTS, _GL_WEIGHTS)
    y = np.where(sing_right[:, None], right[:, None] - width * t, left[:, None] + width * t)
    return y, jacobian, who


def _merge_breaks(values, after, before):
    """Sort break values, merging (nearly) equal ones' singularity flags."""
    values, index = np.unique(values, return_inverse=True)
    merged_after, merged_before = np.zeros(values.size, bool), np.zeros(values.size, bool)
    np.logical_or.at(merged_after, index, after)
    np.logical_or.at(merged_before, index, before)
    return values, merged_after, merged_before


def _gaussian_on_grid(evaluate, start: float, step: float, size: int, scale: float):
    """G and V of h at ``scale`` on the grid start + step * j, j < size, exactly.

    One partition of the line (kinks, graded points, and steps of 2 ``scale``) is shared
    by all grid points: h is evaluated once at its Gauss-Legendre nodes, and each node
    is spread onto the grid points within 7 scales with its Gaussian weight (the
    truncated mass, 2.6e-12, is renormalised away).
    """
    reach = int(np.ceil(_KERNEL_REACH * scale / step))
    low, high = start - reach * step, start + (size - 1 + reach) * step
    values, after, before = _breakpoints(evaluate, max(evaluate.x[0] - low, high - evaluate.x[-1], 0.0))
    keep = (values > low) & (values < high)
    uniform = low + 2 * scale * np.arange(int(np.ceil((high - low) / (2 * scale))) + 1)
    no = np.zeros(uniform.size, bool)
    values, after, before = _merge_breaks(np.concatenate((values[keep], uniform)),
                                          np.concatenate((after[keep], no)),
                                          np.concatenate((before[keep], no)))
    y, jacobian, _ = _piece_nodes(values[:-1], values[1:], after[:-1], before[1:],
                                  np.zeros(values.size - 1, np.int64))
    y, jacobian = y.ravel(), jacobian.ravel()
    h = evaluate(y)
    centre = float(np.median(h))  # centring keeps E[f^2] - E[f]^2 free of cancellation
    f = h - centre
    offsets = np.arange(2 * reach + 2)
    first_cell = np.ceil((y - _KERNEL_REACH * scale - start) / step).astype(np.int64)
    sums = np.zeros((3, size))
    block = max(1, (1 << 21) // offsets.size)
    for lo in range(0, y.size, block):
        part = slice(lo, lo + block)
        cell = first_cell[part, None] + offsets
        z = (y[part, None] - (start + cell * step)) / scale
        valid = (cell >= 0) & (cell < size) & (np.abs(z) <= _KERNEL_REACH)
        weight = np.where(valid, jacobian[part, None] * np.exp(-0.5 * z * z), 0.0)
        cell = np.where(valid, cell, 0).ravel()
        fw = weight * f[part, None]
        sums[0] += np.bincount(cell, weight.ravel(), size)
        sums[1] += np.bincount(cell, fw.ravel(), size)
        sums[2] += np.bincount(cell, (fw * f[part, None]).ravel(), size)
    mean_f = sums[1] / sums[0]
    return centre + mean_f, np.maximum(sums[2] / sums[0] - mean_f * mean_f, 0.0)


def _exact_moments(evaluate, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of h(mu + sigma Z), sigma > 0, by exact piecewise integration.

    The Gaussian integral over mu +- 8.5 sigma is split at every kink of h (the distinct
    labelled values), at graded points near (near-)singularities (:func:`_breakpoints`)
    and at steps of 2.125 sigma; each piece is smooth and gets 8-point Gauss-Legendre
    (:func:`_piece_nodes`). Cost O(kinks in range) per candidate: the reference, and the
    path for sigma below the ladder's base scale.
    """
    low, high = mu - _TRUNCATION * sigma, mu + _TRUNCATION * sigma
    reach = float(max(evaluate.x[0] - low.min(), high.max() - evaluate.x[-1], 0.0))
    breaks = _breakpoints(evaluate, reach)
    first = np.searchsorted(breaks[0], low, "right")
    n_breaks = np.maximum(np.searchsorted(breaks[0], high, "left") - first, 0)
    cost = np.cumsum((n_breaks + _SIGMA_STEPS.size) * 2 * _GL_ORDER)
    mean, var = np.empty(mu.size), np.empty(mu.size)
    start = 0
    while start < mu.size:
        done = cost[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cost, done + _PIECE_BUDGET, "right")))
        block = slice(start, stop)
        mean[block], var[block] = _exact_moments_block(
            evaluate, breaks, mu[block], sigma[block], first[block], n_breaks[block])
        start = stop
    return mean, var


def _exact_moments_block(evaluate, breaks, mu, sigma, first, n_kinks):
    values, singular_after, singular_before = breaks
    n_steps = _SIGMA_STEPS.size
    size = mu.size
    counts = n_kinks + n_steps
    ends = np.cumsum(counts)
    starts = ends - counts
    owner = np.repeat(np.arange(size), counts)
    # Merge each candidate's sorted breaks with its sorted sigma steps without sorting:
    # step j goes after the breaks below it; the breaks fill the other slots in order.
    step_owner = np.repeat(np.arange(size), n_steps)
    step_index = np.tile(np.arange(n_steps), size)
    step_value = mu[step_owner] + sigma[step_owner] * _SIGMA_STEPS[step_index]
    below = np.clip(np.searchsorted(values, step_value, "left") - first[step_owner], 0, n_kinks[step_owner])
    is_step = np.zeros(owner.size, bool)
    is_step[starts[step_owner] + step_index + below] = True
    kink_owner = np.repeat(np.arange(size), n_kinks)
    kink = first[kink_owner] + np.arange(kink_owner.size) - (np.cumsum(n_kinks) - n_kinks)[kink_owner]
    value = np.empty(owner.size)
    value[is_step] = step_value
    value[~is_step] = values[kink]
    after = np.zeros(owner.size, bool)
    before = np.zeros(owner.size, bool)
    after[~is_step] = singular_after[kink]
    before[~is_step] = singular_before[kink]
    piece = (owner[1:] == owner[:-1]) & (value[1:] > value[:-1])
    left, right, who = value[:-1][piece], value[1:][piece], owner[:-1][piece]
    sing_left, sing_right = after[:-1][piece], before[1:][piece]
    y, jacobian, who = _piece_nodes(left, right, sing_left, sing_right, who)
    h = evaluate(y.ravel()).reshape(y.shape)
    z = (y - mu[who][:, None]) / sigma[who][:, None]
    weight = jacobian * np.exp(-0.5 * z * z)
    total = np.bincount(who, weight.sum(axis=1), mu.size)
    degenerate = ~(total > 0)  # sigma too small to split around mu: h(mu), variance 0
    total[degenerate] = 1.0
    mean = np.bincount(who, (weight * h).sum(axis=1), mu.size) / total
    centred = h - mean[who][:, None]
    var = np.bincount(who, (weight * centred * centred).sum(axis=1), mu.size) / total
    if degenerate.any():
        mean[degenerate], var[degenerate] = evaluate(mu[degenerate]), 0.0
    return mean, var


def _direct_moments(evaluate, mu, sigma, nodes, weights):
    """Mean and variance of h(mu + sigma Z) by Gauss-Hermite on h (where h is smooth)."""
    h = evaluate((mu[:, None] + sigma[:, None] * nodes).ravel()).reshape(mu.size, nodes.size)
    mean = h @ weights
    centred = h - mean[:, None]
    return mean, (centred * centred) @ weights


class _SmoothedEntropy:
    """Tables of G_s(t) = E[h(t + sZ)] and V_s(t) = Var[h(t + sZ)] on a ladder of scales s.

    Level l has scale s_l = base * 2^(l/4) and a uniform grid of spacing s_l / 8 over
    the data range +- 20 s_l; level 0 is computed exactly, level l + 1 from level l (see
    the module docstring). Values between grid points are 4-point Lagrange interpolants
    (stored as cubics per cell); points off the grid (far from the data) use h directly.
    """

    def __init__(self, evaluate, low: float, high: float, base: float, top: float, n_nodes: int,
                 negligible: float) -> None:
        self.evaluate, self.low, self.high, self.negligible = evaluate, low, high, negligible
        self.nodes, self.weights = _gauss_hermite(n_nodes)
        self.far_nodes, self.far_weights = _gauss_hermite(_N_FAR_NODES)
        n_levels = 1
        if top > base:
            n_levels += int(np.ceil(math.log(top / base) / math.log(_LEVEL_RATIO)))
        n_levels = min(n_levels, _MAX_LEVELS)
        self.scales = base * _LEVEL_RATIO ** np.arange(n_levels)
        self.step = self.scales / _GRID_PER_SCALE
        self.start = low - _TABLE_MARGIN * self.scales
        self.size = np.floor((high - low + 2 * _TABLE_MARGIN * self.scales) / self.step).astype(np.int64) + 1
        self.offset = np.concatenate(([0], np.cumsum(self.size)[:-1]))
        self.cubic = np.empty((8, int(self.size.sum())))  # all levels one after another
        for level in range(n_levels):
            grid = self.start[level] + self.step[level] * np.arange(self.size[level])
            if level == 0:
                mean, var = _gaussian_on_grid(evaluate, self.start[0], self.step[0], int(self.size[0]), base)
            else:
                below = np.full(grid.size, level - 1)
                tau = np.full(grid.size, self.scales[level - 1] * math.sqrt(_LEVEL_RATIO**2 - 1))
                mean, var = self.smooth(below, grid, tau)
            rows = slice(self.offset[level], self.offset[level] + self.size[level])
            self.cubic[:, rows] = self._cubic(mean, var)

    @staticmethod
    def _cubic(mean: np.ndarray, var: np.ndarray) -> np.ndarray:
        """Per cell [t_i, t_i+1): the 4-point Lagrange cubic through t_{i-1..i+2}, in powers
        of the fraction f, for G (rows 0-3) and V (rows 4-7); cells without a full stencil
        are never used."""
        cubic = np.zeros((8, mean.size))
        for row, table in ((0, mean), (4, var)):
            padded = np.concatenate(([table[0]], table, table[-1:], table[-1:]))
            t0, t1, t2, t3 = padded[:-3], padded[1:-2], padded[2:-1], padded[3:]
            cubic[row] = t1
            cubic[row + 1] = -t0 / 3 - t1 / 2 + t2 - t3 / 6
            cubic[row + 2] = t0 / 2 - t1 + t2 / 2
            cubic[row + 3] = -t0 / 6 + t1 / 2 - t2 / 2 + t3 / 6
        return cubic

    def level_of(self, sigma: np.ndarray) -> np.ndarray:
        """Largest level whose scale is <= sigma (sigma >= base)."""
        level = np.floor(np.log(sigma / self.scales[0]) / math.log(_LEVEL_RATIO)).astype(np.int64)
        level = np.clip(level, 0, self.scales.size - 1)
        return np.where(self.scales[level] > sigma, np.maximum(level - 1, 0), level)

    def at_level(self, level: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """G and V of level ``level[i]`` at ``points[i, :]`` (4-point Lagrange interpolation)."""
        u = (points - self.start[level][:, None]) * (1.0 / self.step[level])[:, None]
        cell = np.floor(u)
        f = u - cell
        cell = cell.astype(np.int64)
        inside = (cell >= 1) & (cell <= (self.size[level] - 3)[:, None])
        all_inside = bool(inside.all())
        if not all_inside:
            cell = np.where(inside, cell, 1)
        index = cell + self.offset[level][:, None]
        c = [row.take(index) for row in self.cubic]  # 1-D takes: the fastest gather
        mean = ((c[3] * f + c[2]) * f + c[1]) * f + c[0]
        var = ((c[7] * f + c[6]) * f + c[5]) * f + c[4]
        if not all_inside:  # safety net: >= 20 scales from the data h is smooth
            outside = ~inside
            mean[outside], var[outside] = _direct_moments(
                self.evaluate, points[outside], np.broadcast_to(self.scales[level][:, None], points.shape)[outside],
                self.far_nodes, self.far_weights)
        return mean, var

    def smooth(self, level: np.ndarray, centre: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of h(centre + tau Z1 + s_level Z2) (law of total variance).

        Centres at least 12 total scales outside the data use Gauss-Hermite on h directly;
        the others' nodes stay within the level's table (12 * 2^(1/4) + 0.68 * 6.6 < 20
        scales for up to 16 nodes; beyond, ``at_level``'s fallback is used).
        """
        total = np.sqrt(tau * tau + self.scales[level] ** 2)
        outside_by = np.maximum(np.maximum(self.low - centre, centre - self.high), 0.0)
        far = outside_by >= _FAR * total
        if not far.any():
            return self._smooth_near(level, centre, tau)
        mean, var = np.empty(centre.size), np.empty(centre.size)
        mean[far], var[far] = _direct_moments(self.evaluate, centre[far], total[far],
                                              self.far_nodes, self.far_weights)
        near = ~far
        if near.any():
            mean[near], var[near] = self._smooth_near(level[near], centre[near], tau[near])
        return mean, var

    def _smooth_near(self, level: np.ndarray, centre: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        node_mean, node_var = self.at_level(level, centre[:, None] + tau[:, None] * self.nodes)
        mean = node_mean @ self.weights
        node_mean -= mean[:, None]
        node_mean *= node_mean
        return mean, (node_var + node_mean) @ self.weights

    def moments(self, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of h(mu + sigma Z) for candidate arrays."""
        mean, var = np.empty(mu.size), np.empty(mu.size)
        # sigma below 1e-9 of half the mean spacing moves h by < ~1e-9 nats, and one below
        # 1000 float steps of mu cannot be resolved around mu: both are treated as 0.
        zero = (sigma < self.negligible) | (sigma < 1e3 * np.spacing(np.abs(mu)))
        small = ~zero & (sigma < self.scales[0])
        ladder = sigma >= self.scales[0]
        if zero.any():
            mean[zero], var[zero] = self.evaluate(mu[zero]), 0.0
        if small.any():
            outside_by = np.maximum(np.maximum(self.low - mu[small], mu[small] - self.high), 0.0)
            far = outside_by >= _FAR * sigma[small]
            m, v = np.empty(far.size), np.empty(far.size)
            if far.any():
                m[far], v[far] = _direct_moments(self.evaluate, mu[small][far], sigma[small][far],
                                                 self.far_nodes, self.far_weights)
            if (~far).any():
                m[~far], v[~far] = _exact_moments(self.evaluate, mu[small][~far], sigma[small][~far])
            mean[small], var[small] = m, v
        if ladder.all():
            level = self.level_of(sigma)
            return self.smooth(level, mu, np.sqrt(np.maximum(sigma * sigma - self.scales[level] ** 2, 0.0)))
        if ladder.any():
            s = sigma[ladder]
            level = self.level_of(s)
            tau = np.sqrt(np.maximum(s * s - self.scales[level] ** 2, 0.0))
            mean[ladder], var[ladder] = self.smooth(level, mu[ladder], tau)
        return mean, var


# --------------------------------------------------------------------------- public API


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
        n_samples = _positive_int(n_samples, "n_samples", 2)
        chunk = max(1, (1 << 20) // n_samples) if chunk_size is None else _positive_int(chunk_size, "chunk_size", 1)
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
    else:
        n_nodes = DEFAULT_N_NODES if n_nodes is None else _positive_int(n_nodes, "n_nodes", 2)
        chunk = 32768 if chunk_size is None else _positive_int(chunk_size, "chunk_size", 1)
        low, high = float(x[0]), float(x[-1])
        # The ladder starts at half the mean spacing, or higher if no candidate needs it.
        base = half_spacing = 0.5 * max((high - low) / (x.size - 1), res)
        outside_by = np.maximum(np.maximum(low - mu, mu - high), 0.0)
        on_ladder = (sigma >= base) & (outside_by < _FAR * sigma)
        top = base
        if on_ladder.any():
            top = float(sigma[on_ladder].max())
            base *= _LEVEL_RATIO ** math.floor(math.log(sigma[on_ladder].min() / base) / math.log(_LEVEL_RATIO))
        smoothed = _SmoothedEntropy(evaluate, low, high, base, top, n_nodes, _NEGLIGIBLE * half_spacing)
        for start in range(0, mu.size, chunk):
            block = slice(start, min(start + chunk, mu.size))
            mean[block], var[block] = smoothed.moments(mu[block], sigma[block])
    return mean.reshape(shape), np.sqrt(np.maximum(var, 0.0)).reshape(shape)


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
    mean = _float_array(mean, "mean (expected entropies)")
    std = _float_array(std, "std (entropy standard deviations)")
    try:
        mean, std = np.broadcast_arrays(mean, std)
    except ValueError as exc:
        raise InputError(f"mean and std must have the same shape, got {mean.shape} and {std.shape}") from exc
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
