"""Deterministic quadrature of the expected entropy: mean and std of h(L ∪ {Y}), Y ~ N(mu, sigma^2).

A ladder of Gaussian-smoothed tables of h for small sigma and an exact piecewise
Gauss-Legendre integral between h's kinks otherwise (see :mod:`etal.acquisition`);
within ~1e-5 nats of the exact values.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import roots_legendre

from .insertion import (  # noqa: F401
    _BLOCK,
    _GL_ORDER,
    _GRID_PER_SCALE,
    _KERNEL_REACH,
    _LEVEL_RATIO,
    _MAX_LEVELS,
    _N_FAR_NODES,
    _NEGLIGIBLE,
    _PIECE_BUDGET,
    _TABLE_MARGIN,
    _TRUNCATION,
    FAR_SCALES,
)

__all__ = ["_SmoothedEntropy"]

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
        far = outside_by >= FAR_SCALES * total
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
            far = outside_by >= FAR_SCALES * sigma[small]
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


