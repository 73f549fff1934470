"""New acquisition strategies under study (issue 10, research phase; prototypes).

Two ideas, measured separately and together (see ``docs/benchmark.md``):

1. **Target by the expected drop of D across all groups**, not always the lowest group.
   D = mean_g (max_k h_k − h_g), so raising group g's entropy to h' changes D to
   max(M, h') − (S + h')/G, with M, S the max and sum of the other groups' entropies and G
   the number of groups. With h' ~ N(m_h, s_h^2) (the mean and std of the entropy after
   adding the candidate, :func:`etal.acquisition.expected_entropy`),

       E[D'] = M + EI(m_h, s_h; M) − (S + m_h) / G        (EI: expected improvement over M),

   a closed form; the candidate with the lowest E[D'] over all eligible groups is taken.
2. **One pooled surrogate for all groups** instead of one GP per group: a GP on every
   labelled row, with the group as one-hot features, hyper-parameters fitted once on a
   subsample, and the posterior updated exactly with each new label in O(n (n + m))
   (:class:`PooledGP`). On the biased splits a depleted group's own
   GP has only seen one side of its range and predicts the pool badly (OQMD-8, trigonal:
   correlation 0.03 with the truth, z^2 ~ 7.5); the pooled GP borrows the other groups'
   rows (0.76, z^2 ~ 1.3).

Strategies (names in :data:`CANDIDATES`):

* ``gain`` — idea 1 with today's per-group GPs (``state.predict``);
* ``pooled-uncertainty`` — the lowest-entropy group, largest pooled-GP std (idea 2 alone);
* ``pooled-etal`` — the paper's rule (lowest group, EI over its entropy) on the pooled GP;
* ``pooled-gain`` — ideas 1 + 2;
* ``pooled-gain-gh`` — the same with the moments of h' by 16-node Gauss-Hermite quadrature
  over exact insertion entropies (:func:`gauss_hermite_entropy`; 3x faster, same picks
  to within 0.2 % of the area);
* ``pooled-gain-gh-latent`` — **the winner of the research phase**: as ``pooled-gain-gh``
  but the candidate's value is drawn from the posterior of the latent function (no label
  noise), as in the paper and in :class:`etal.surrogate.GPSurrogate`. With the noise, a
  target with outliers (OQMD-8 volume per atom) gets a large fitted noise, every
  candidate looks as if it could land anywhere, and the expected entropies stop telling
  candidates apart;
* ``pooled-gain-ucb`` — as ``pooled-gain`` but optimistic: h' = m_h + s_h;
* ``pooled-gain-ard`` — as ``pooled-gain`` with ARD length-scales (slow fit, no gain).

Results and the exact definition of the winner: ``docs/benchmark.md``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.linalg import solve_triangular

from ..acquisition import (
    entropy_after_insertion,
    expected_entropy,
    expected_improvement,
)
from ..strategies import Pick
from .oracle import deficit_after

__all__ = ["CANDIDATES", "GainStrategy", "PooledGP", "expected_deficit_after"]

NAN = float("nan")
#: Labelled rows the pooled GP's hyper-parameters are fitted on (a random subsample).
HYPER_ROWS = 500
#: A group's expected entropies are recomputed when its candidates' posterior moved by more
#: than this many posterior stds since the last computation (or its values changed).
REUSE_TOL = 0.05


def expected_deficit_after(others: np.ndarray, mean_h: np.ndarray, std_h: np.ndarray) -> np.ndarray:
    """E[D'] (nats) when one more group's entropy is N(mean_h, std_h^2) and the others are fixed.

    ``others``: the other groups' entropies (non-finite ones are left out). Exact for the
    Gaussian h': E[max(M, h')] = M + EI(mean_h, std_h; M).
    """
    o = np.asarray(others, dtype=float)
    o = o[np.isfinite(o)]
    mean_h = np.asarray(mean_h, dtype=float)
    std_h = np.asarray(std_h, dtype=float)
    if o.size == 0:
        return np.zeros(mean_h.shape)
    g = o.size + 1
    top = float(o.max())
    ei = expected_improvement(mean_h, std_h, top)
    return top + ei - (o.sum() + mean_h) / g


def gauss_hermite_entropy(values: np.ndarray, mu: np.ndarray, sigma: np.ndarray, n_nodes: int = 16
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (nats) of the entropy after adding Y ~ N(mu, sigma^2), by ``n_nodes``-point
    Gauss-Hermite quadrature over exact insertion entropies (:func:`entropy_after_insertion`).

    Cheaper than :func:`etal.acquisition.expected_entropy` (no per-level set-up) and less
    accurate (the entropy is only piecewise smooth in Y); used for ranking only.
    """
    x = np.sort(np.asarray(values, dtype=float))
    z, w = np.polynomial.hermite_e.hermegauss(int(n_nodes))
    w = w / w.sum()
    y = np.asarray(mu, dtype=float)[:, None] + np.asarray(sigma, dtype=float)[:, None] * z[None, :]
    h = entropy_after_insertion(x, y)
    mean = h @ w
    var = np.maximum((h * h) @ w - mean * mean, 0.0)
    return mean, np.sqrt(var)


# ------------------------------------------------------------------------ pooled surrogate


class PooledGP:
    """One GP over all groups' rows (features + one-hot group), updated exactly per label.

    Kernel c * RBF(length) + white noise w in standardised space (features standardised
    over labelled + pool rows, target over the initial labelled rows). Hyper-parameters are
    fitted once (scikit-learn, L-BFGS) on at most :data:`HYPER_ROWS` labelled rows.

    It keeps V = L^{-1} K(labelled, pool) (L the Cholesky factor of the labelled kernel
    matrix plus noise) and a = L^{-1} y. A newly labelled row is always a pool column j,
    so the new row of L is (V[:, j], d) with d^2 = c + w − |V[:, j]|^2, no solve needed;
    the new row of V and the pool's posterior mean and variance follow in O(n m)
    (n labelled rows, m pool rows).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, X_pool: np.ndarray, *, ard: bool = False,
                 seed: int = 0, hyper_rows: int = HYPER_ROWS) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        allx = np.vstack((X, X_pool))
        self.x_mean = allx.mean(axis=0)
        sd = allx.std(axis=0)
        self.x_std = np.where(sd > 0, sd, 1.0)
        self.y_mean, self.y_std = float(np.mean(y)), float(np.std(y)) or 1.0
        Xs, Ps = self._x(X), self._x(X_pool)
        ys = (np.asarray(y, dtype=float) - self.y_mean) / self.y_std
        rng = np.random.default_rng(seed)
        sub = rng.permutation(len(ys))[:hyper_rows]
        d = Xs.shape[1]
        length = np.full(d, math.sqrt(d)) if ard else math.sqrt(d)
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(length, (1e-2, 1e3)) + WhiteKernel(0.1, (1e-6, 1e1))
        with warnings.catch_warnings():  # a bound reached is a result here, not a problem
            warnings.simplefilter("ignore", ConvergenceWarning)
            gpr = GaussianProcessRegressor(kernel, normalize_y=False, random_state=0).fit(Xs[sub], ys[sub])
        k = gpr.kernel_
        self.c = float(k.k1.k1.constant_value)
        self.length = np.asarray(k.k1.k2.length_scale, dtype=float) * np.ones(d)
        self.noise = float(k.k2.noise_level)
        self.P = Ps / self.length
        X0 = Xs / self.length
        n, m = X0.shape[0], self.P.shape[0]
        self._cap = n + 256
        K = self._k(X0, X0) + self.noise * np.eye(n)
        L = np.linalg.cholesky(K)
        self.V = np.empty((self._cap, m))
        self.V[:n] = solve_triangular(L, self._k(X0, self.P), lower=True, check_finite=False)
        self.a = np.empty(self._cap)
        self.a[:n] = solve_triangular(L, ys, lower=True, check_finite=False)
        self.n = n
        self.mu = self.V[:n].T @ self.a[:n]
        self.var = np.maximum(self.c - np.einsum("ij,ij->j", self.V[:n], self.V[:n]), 0.0)

    def _x(self, X) -> np.ndarray:
        return (np.asarray(X, dtype=float) - self.x_mean) / self.x_std

    def _k(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        return self.c * np.exp(-0.5 * np.maximum(sq, 0.0))

    def add(self, column: int, y: float) -> None:
        """Condition on the label ``y`` (target units) of pool column ``column``."""
        n = self.n
        if n == self._cap:
            self._cap *= 2
            for name in ("V", "a"):
                old = getattr(self, name)
                new = np.empty((self._cap,) + old.shape[1:])
                new[:n] = old[:n]
                setattr(self, name, new)
        l = self.V[:n, column].copy()
        d = math.sqrt(max(self.c + self.noise - float(l @ l), 1e-12))
        v = (self._k(self.P[column : column + 1], self.P).ravel() - l @ self.V[:n]) / d
        self.V[n] = v
        ys = (float(y) - self.y_mean) / self.y_std
        self.a[n] = (ys - float(l @ self.a[:n])) / d
        self.mu += v * self.a[n]
        self.var = np.maximum(self.var - v * v, 0.0)
        self.n = n + 1

    def predict(self, columns: np.ndarray, include_noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std (target units) at pool columns ``columns``; with the
        label noise by default (the distribution of the label, not of the latent f)."""
        var = self.var[columns] + (self.noise if include_noise else 0.0)
        return self.mu[columns] * self.y_std + self.y_mean, np.sqrt(var) * self.y_std


class _PooledView:
    """Keeps a :class:`PooledGP` in step with the loop state (new labels, removed candidates)."""

    def __init__(self, state, ard: bool) -> None:
        groups = list(state.groups)
        self.groups = groups
        eye = np.eye(len(groups))
        X, y, P = [], [], []
        self.known, self.columns, self.features = {}, {}, {}
        start = 0
        for j, g in enumerate(groups):
            f = np.asarray(state.features(g), dtype=float)
            X.append(np.hstack((f, np.tile(eye[j], (len(f), 1)))))
            y.append(np.asarray(state.values(g), dtype=float))
            self.known[g] = len(f)
            cf = np.asarray(state.candidate_features(g), dtype=float)
            P.append(np.hstack((cf, np.tile(eye[j], (len(cf), 1)))))
            ids = list(state.candidate_ids(g))
            self.columns[g] = dict(zip(ids, range(start, start + len(ids))))
            self.features[g] = cf
            start += len(ids)
        self.gp = PooledGP(np.vstack(X), np.concatenate(y), np.vstack(P), ard=ard)

    def sync(self, state) -> None:
        """Condition on every label added since the last call (matched to its pool column by features)."""
        for g in self.groups:
            n = state.n_labelled(g)
            if n <= self.known[g]:
                continue
            cols = self.columns[g]
            now = set(state.candidate_ids(g))
            gone = [i for i in cols if i not in now]
            f = np.asarray(state.features(g), dtype=float)
            v = np.asarray(state.values(g), dtype=float)
            base = min(cols.values())
            for r in range(self.known[g], n):
                match = [i for i in gone if np.array_equal(self.features[g][cols[i] - base], f[r])]
                if match:
                    i = match[0]
                    gone.remove(i)
                    self.gp.add(cols.pop(i), float(v[r]))
            for i in gone:  # removed without a label we could match: just stop offering it
                cols.pop(i)
            self.known[g] = n

    def predict(self, state, group: str, include_noise: bool = True):
        cols = self.columns[group]
        c = np.array([cols[i] for i in state.candidate_ids(group)], dtype=np.int64)
        mu, sd = self.gp.predict(c, include_noise=include_noise)
        return mu, sd, c


# ------------------------------------------------------------------------ strategies


def _others(h: dict, group: str) -> np.ndarray:
    return np.array([v for g, v in h.items() if g != group and math.isfinite(v)], dtype=float)


class GainStrategy:
    """Pick the candidate with the lowest expected D after it, across all groups.

    ``surrogate``: ``"group"`` (the loop's per-group GPs) or ``"pooled"`` (:class:`PooledGP`).
    ``target``: ``"gain"`` (all groups, E[D']), ``"lowest"`` (the lowest-entropy group, EI
    over its entropy, as the paper) or ``"uncertainty"`` (lowest group, largest std).
    ``optimism``: score with h' = m_h + optimism * s_h instead of the expectation.
    """

    uses_surrogate = True

    def __init__(self, name: str, surrogate: str = "pooled", target: str = "gain", optimism: float | None = None,
                 ard: bool = False, moments: str | int = "quadrature", label_noise: bool = True) -> None:
        self.name = name
        self.label_noise = label_noise
        self.moments = moments
        self.surrogate = surrogate
        self.target = target
        self.optimism = optimism
        self.ard = ard
        self._view = None
        self._cache: dict = {}

    def _posterior(self, state, g):
        if self.surrogate == "pooled":
            return self._view.predict(state, g, self.label_noise)
        mu, sd = state.predict(g)
        return np.asarray(mu, dtype=float), np.asarray(sd, dtype=float), None

    def _expected(self, values, mu, sd):
        if self.moments == "quadrature":
            return expected_entropy(values, mu, sd)
        return gauss_hermite_entropy(values, mu, sd, self.moments)

    def _moments(self, state, g, values, mu, sd, cols):
        """(mean, std) of h' per candidate; reused while the posterior barely moved."""
        key = (g, len(values), float(np.sum(values)))
        hit = self._cache.get(g)
        if hit is not None and cols is not None and hit[0] == key:
            old_cols, old_mu, old_sd, m_h, s_h = hit[1:]
            pos = np.searchsorted(old_cols, cols)
            if np.all(old_cols[np.minimum(pos, old_cols.size - 1)] == cols):
                move = np.max(np.abs(mu - old_mu[pos]) + np.abs(sd - old_sd[pos]) / np.maximum(sd, 1e-300) * sd) \
                    if cols.size else 0.0
                if move <= REUSE_TOL * float(np.min(sd)) if sd.size else True:
                    return m_h[pos], s_h[pos]
        m_h, s_h = self._expected(values, mu, sd)
        if cols is not None:
            order = np.argsort(cols)
            self._cache[g] = (key, cols[order], mu[order], sd[order], m_h[order], s_h[order])
        return m_h, s_h

    def select(self, state, k: int, rng: np.random.Generator) -> list[Pick]:
        if self.surrogate == "pooled":
            if self._view is None:
                self._view = _PooledView(state, self.ard)
            self._view.sync(state)
        h = {g: state.estimate(g).entropy for g in state.groups}
        values = {g: np.asarray(state.values(g), dtype=float) for g in state.groups}
        taken: dict[str, set] = {g: set() for g in state.groups}
        picks: list[Pick] = []
        for _ in range(int(k)):
            pick = self._one(state, h, values, taken, rng)
            if pick is None:
                break
            g, index, fantasy, p = pick
            taken[g].add(index)
            values[g] = np.append(values[g], fantasy)
            from ..entropy import estimate_entropy

            h[g] = estimate_entropy(values[g], method=state.method, ties=state.ties).entropy
            picks.append(p)
        return picks

    def _one(self, state, h, values, taken, rng):
        eligible = [g for g in state.eligible() if state.n_candidates(g) > len(taken[g])]
        if not eligible:
            return None
        defined = [g for g in eligible if math.isfinite(h[g]) and len(values[g]) >= 4]
        undefined = [g for g in eligible if g not in defined]
        if not defined:  # nothing scorable: the smallest undefined group, largest std / random
            g = min(undefined, key=lambda g: len(values[g]))
            free = np.array([i for i in range(state.n_candidates(g)) if i not in taken[g]])
            index = int(free[rng.integers(free.size)])
            return g, index, NAN, Pick(state.candidate_ids(g)[index], g, f"{self.name}: undefined entropy, random")
        if self.target in ("lowest", "uncertainty"):
            groups = [min(defined, key=lambda g: h[g])]
        else:
            groups = defined
        best = None
        for g in groups:
            mu, sd, cols = self._posterior(state, g)
            free = np.array([i for i in range(mu.size) if i not in taken[g]], dtype=np.int64)
            if free.size == 0:
                continue
            if self.target == "uncertainty":
                score = sd[free]
                j = int(np.argmax(score))
                key, info = -float(score[j]), (NAN, NAN)
            else:
                m_h, s_h = self._moments(state, g, values[g], mu, sd, cols)
                m_h, s_h = m_h[free], s_h[free]
                if self.target == "lowest":
                    score = -expected_improvement(m_h, s_h, h[g])
                elif self.optimism is not None:
                    score = deficit_after(_others(h, g), m_h + self.optimism * s_h)
                else:
                    score = expected_deficit_after(_others(h, g), m_h, s_h)
                j = int(np.argmin(score))
                key, info = float(score[j]), (float(m_h[j]), float(s_h[j]))
            if best is None or key < best[0]:
                best = (key, g, int(free[j]), float(mu[free[j]]), info)
        if best is None:
            return None
        key, g, index, fantasy, (m, s) = best
        reason = f"{self.name}: {g!r}, score {key:.4g}"
        return g, index, fantasy, Pick(state.candidate_ids(g)[index], g, reason, expected_entropy=m,
                                       expected_entropy_std=s)


CANDIDATES: dict = {
    "gain": lambda: GainStrategy("gain", surrogate="group"),
    "pooled-uncertainty": lambda: GainStrategy("pooled-uncertainty", target="uncertainty"),
    "pooled-etal": lambda: GainStrategy("pooled-etal", target="lowest"),
    "pooled-gain": lambda: GainStrategy("pooled-gain"),
    "pooled-gain-ucb": lambda: GainStrategy("pooled-gain-ucb", optimism=1.0),
    "pooled-gain-ard": lambda: GainStrategy("pooled-gain-ard", ard=True),
    "pooled-gain-gh": lambda: GainStrategy("pooled-gain-gh", moments=16),
    "pooled-gain-gh8": lambda: GainStrategy("pooled-gain-gh8", moments=8),
    "pooled-gain-gh-latent": lambda: GainStrategy("pooled-gain-gh-latent", moments=16, label_noise=False),
}
