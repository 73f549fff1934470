"""One GP over all groups' rows, updated exactly with each new label (the default strategy's model).

:class:`PooledGPSurrogate` is a GP with kernel c * RBF(length) + white noise w on
standardised features (the caller appends the group as one-hot columns). Its
hyper-parameters are fitted once (scikit-learn, L-BFGS) on a seeded subsample of at most
``hyper_rows`` labelled rows; afterwards the posterior is kept exact without refitting:

* :meth:`condition` fixes a candidate set P (the pool) and keeps V = L^{-1} K(X, P) and
  a = L^{-1} y (L the Cholesky factor of K(X, X) + w I);
* :meth:`add` conditions on the label of candidate column j: the new row of L is
  (V[:, j], d) with d^2 = c + w - |V[:, j]|^2 (no solve), and the new row of V and the
  candidates' posterior mean and variance follow in O(n m) (n labelled rows, m
  candidates) instead of a refit in O(n^3);
* :meth:`predict_columns` is the posterior at candidate columns.

Why pooled: on a biased split a depleted group's own GP has seen one side of its range
only and predicts the rest badly (OQMD-8, trigonal: correlation 0.03 with the truth);
the pooled GP borrows the other groups' rows (0.76). See ``docs/benchmark.md``.

The state (:meth:`state_dict`) is the hyper-parameters and the standardisation: with it
:meth:`refit_posterior` rebuilds the same posterior from the same rows without
re-optimising (checkpoints). Targets in the caller's units (e.g. eV/atom).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.linalg import cho_solve, solve_triangular

from ..errors import InputError
from ..params import check_int
from .base import (
    CONSTANT_BOUNDS,
    DEFAULT_CONSTANT,
    DEFAULT_NOISE_LEVEL,
    LENGTH_SCALE_BOUNDS,
    NOISE_LEVEL_BOUNDS,
    _check_features,
    _check_training_data,
)

__all__ = ["HYPER_ROWS", "PooledGPSurrogate"]

#: Labelled rows the hyper-parameters are fitted on (a seeded random subsample): a fit on
#: 500 rows takes ~1 s; more rows changed no pick's quality in the benchmark.
HYPER_ROWS = 500
_STATE_FORMAT = 1
#: Diagonal jitters tried when K + w I is not numerically positive definite.
_JITTERS = (0.0, 1e-10, 1e-8, 1e-6)


class PooledGPSurrogate:
    """Exact GP (c * RBF + white noise), hyper-parameters fitted once, rank-one label updates.

    ``hyper_rows``: labelled rows the hyper-parameters are fitted on (seeded subsample,
    ``seed``). ``include_noise``: whether :meth:`predict` adds the noise variance by
    default (False: the latent function, as the paper's acquisition uses).
    """

    def __init__(self, hyper_rows: int = HYPER_ROWS, seed: int = 0, include_noise: bool = False) -> None:
        self.hyper_rows = check_int("hyper_rows", hyper_rows, low=2)
        self.seed = check_int("seed", seed, low=0)
        self.include_noise = bool(include_noise)
        self.params_: dict | None = None  # c, length, noise, x_mean, x_std, y_mean, y_std
        self._train: tuple[np.ndarray, np.ndarray] | None = None  # scaled X / length, scaled y
        self._chol: np.ndarray | None = None
        self._alpha: np.ndarray | None = None
        self._pool: dict | None = None
        self._stale = False

    # ------------------------------------------------------------------ fitting

    @property
    def is_fitted(self) -> bool:
        return self._train is not None

    def fit(self, X, y, *, X_pool=None) -> PooledGPSurrogate:
        """Fit hyper-parameters on a subsample of (X, y), then the exact posterior on all rows.

        Features are standardised over X and ``X_pool`` (the rows to be predicted, if
        known), the target over ``y``.
        """
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        X, y = _check_training_data(X, y, None)
        allx = X if X_pool is None else np.vstack((X, _check_features(X_pool, X.shape[1], "fitted")))
        sd = allx.std(axis=0)
        x_mean, x_std = allx.mean(axis=0), np.where(sd > 0, sd, 1.0)
        y_mean, y_std = float(np.mean(y)), float(np.std(y)) or 1.0
        Xs, ys = (X - x_mean) / x_std, (y - y_mean) / y_std
        sub = np.random.default_rng(self.seed).permutation(len(ys))[: self.hyper_rows]
        d = X.shape[1]
        kernel = ConstantKernel(DEFAULT_CONSTANT, CONSTANT_BOUNDS) * RBF(math.sqrt(d), LENGTH_SCALE_BOUNDS) + WhiteKernel(
            DEFAULT_NOISE_LEVEL, NOISE_LEVEL_BOUNDS
        )
        with warnings.catch_warnings():  # a bound reached is a result here, not a problem
            warnings.simplefilter("ignore", ConvergenceWarning)
            gpr = GaussianProcessRegressor(kernel, normalize_y=False, random_state=0).fit(Xs[sub], ys[sub])
        k = gpr.kernel_
        self.params_ = {
            "c": float(k.k1.k1.constant_value), "length": float(k.k1.k2.length_scale),
            "noise": float(k.k2.noise_level), "x_mean": x_mean.tolist(), "x_std": x_std.tolist(),
            "y_mean": y_mean, "y_std": y_std,
        }  # fmt: skip
        return self.refit_posterior(X, y)

    def refit_posterior(self, X, y) -> PooledGPSurrogate:
        """The exact posterior on (X, y) with the current hyper-parameters (no optimisation)."""
        if self.params_ is None:
            raise InputError("the pooled GP has no hyper-parameters yet; call fit(X, y) first")
        X, y = _check_training_data(X, y, len(self.params_["x_mean"]))
        self._train = (self._scale(X), (y - self.params_["y_mean"]) / self.params_["y_std"])
        self._factor()
        self._pool = None
        return self

    def _factor(self) -> None:
        """Cholesky factor of K + w I and alpha = (K + w I)^{-1} y of the training rows."""
        Z, ys = self._train
        K = self._kernel(Z, Z)
        K[np.diag_indices_from(K)] += self.params_["noise"]
        for jitter in _JITTERS:
            try:
                L = np.linalg.cholesky(K + jitter * np.eye(len(K)) if jitter else K)
                break
            except np.linalg.LinAlgError:
                continue
        else:  # pragma: no cover - the noise floor (1e-6) keeps K positive definite
            raise InputError("the pooled GP's kernel matrix is not positive definite; remove duplicate rows")
        self._chol = L
        self._alpha = cho_solve((L, True), ys, check_finite=False)
        self._stale = False

    # ------------------------------------------------------------------ prediction

    def _scale(self, X: np.ndarray) -> np.ndarray:
        p = self.params_
        return (X - np.asarray(p["x_mean"])) / np.asarray(p["x_std"]) / p["length"]

    def _kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        return self.params_["c"] * np.exp(-0.5 * np.maximum(sq, 0.0))

    def _unscale(self, mean: np.ndarray, var: np.ndarray, include_noise: bool | None):
        p = self.params_
        noise = self.include_noise if include_noise is None else bool(include_noise)
        var = np.maximum(var, 0.0) + (p["noise"] if noise else 0.0)
        return mean * p["y_std"] + p["y_mean"], np.sqrt(var) * p["y_std"]

    def predict(self, X, *, include_noise: bool | None = None, chunk_size: int | None = None, **_ignored):
        """Posterior mean and std (target units) at the rows of ``X``."""
        if self._train is None:
            raise InputError("the pooled GP is not fitted; call fit(X, y) first")
        if self._stale:
            self._factor()
        Z = self._scale(_check_features(X, len(self.params_["x_mean"]), "fitted"))
        Kx = self._kernel(self._train[0], Z)
        V = solve_triangular(self._chol, Kx, lower=True, check_finite=False)
        return self._unscale(Kx.T @ self._alpha, self.params_["c"] - np.einsum("ij,ij->j", V, V), include_noise)

    def state_dict(self) -> dict:
        """Hyper-parameters and standardisation (JSON-able); with the same rows,
        :meth:`refit_posterior` after :meth:`load_state_dict` gives the same posterior."""
        return {"format": _STATE_FORMAT, "hyper_rows": self.hyper_rows, "seed": self.seed,
                "include_noise": self.include_noise, "params": self.params_}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise InputError(f"not a pooled-GP state (format {_STATE_FORMAT}): {str(state)[:80]}")
        self.hyper_rows, self.seed = int(state["hyper_rows"]), int(state["seed"])
        self.include_noise = bool(state["include_noise"])
        self.params_ = None if state["params"] is None else dict(state["params"])
        self._train = self._chol = self._alpha = self._pool = None

    # ------------------------------------------------------------ candidate columns

    def condition(self, X_pool) -> None:
        """Fix the candidate rows (columns 0..m-1) for :meth:`add` / :meth:`predict_columns`."""
        if not self.is_fitted:
            raise InputError("the pooled GP is not fitted; call fit(X, y) first")
        if self._stale:
            self._factor()
        P = self._scale(_check_features(X_pool, len(self.params_["x_mean"]), "fitted"))
        Z, ys = self._train
        n, m = Z.shape[0], P.shape[0]
        cap = n + 256
        V = np.empty((cap, m))
        V[:n] = solve_triangular(self._chol, self._kernel(Z, P), lower=True, check_finite=False)
        a = np.empty(cap)
        a[:n] = solve_triangular(self._chol, ys, lower=True, check_finite=False)
        mu = V[:n].T @ a[:n]
        var = np.maximum(self.params_["c"] - np.einsum("ij,ij->j", V[:n], V[:n]), 0.0)
        self._pool = {"P": P, "V": V, "a": a, "n": n, "mu": mu, "var": var, "X": [], "y": []}

    def add(self, column: int, y: float) -> None:
        """Condition on the label ``y`` (target units) of candidate column ``column``."""
        pool = self._pool
        if pool is None:
            raise InputError("call condition(X_pool) before add()")
        c, noise = self.params_["c"], self.params_["noise"]
        n, V, a = pool["n"], pool["V"], pool["a"]
        if n == V.shape[0]:  # grow the buffers geometrically
            pool["V"] = V = np.vstack((V, np.empty_like(V)))
            pool["a"] = a = np.concatenate((a, np.empty_like(a)))
        column = int(column)
        col = V[:n, column].copy()
        d = math.sqrt(max(c + noise - float(col @ col), 1e-12))
        v = (self._kernel(pool["P"][column : column + 1], pool["P"]).ravel() - col @ V[:n]) / d
        V[n] = v
        a[n] = ((float(y) - self.params_["y_mean"]) / self.params_["y_std"] - float(col @ a[:n])) / d
        pool["mu"] += v * a[n]
        pool["var"] = np.maximum(pool["var"] - v * v, 0.0)
        pool["n"] = n + 1
        # The general predict() needs the grown training set: rebuilt lazily.
        Z, ys = self._train
        self._train = (np.vstack((Z, pool["P"][column : column + 1])),
                       np.append(ys, (float(y) - self.params_["y_mean"]) / self.params_["y_std"]))
        self._stale = True  # predict() refactors the grown training set on demand

    def predict_columns(self, columns, *, include_noise: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std (target units) at candidate columns ``columns``."""
        pool = self._pool
        if pool is None:
            raise InputError("call condition(X_pool) before predict_columns()")
        columns = np.asarray(columns, dtype=np.int64)
        return self._unscale(pool["mu"][columns], pool["var"][columns], include_noise)
