"""Posterior algebra of the GP: exact and inducing-point (DTC / projected-process) forms.

:class:`_Posterior` holds what prediction needs in the standardised space;
:func:`_inducing_posterior` builds the inducing-point one from all rows in chunks;
:func:`_blas_limited` keeps small exact fits on one BLAS thread.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import cholesky, eigh, qr, solve_triangular
from scipy.linalg.blas import dtrmm
from sklearn.cluster import kmeans_plusplus
from sklearn.gaussian_process.kernels import RBF

from ..errors import EtalError
from . import base as _base
from .base import (
    _ARRAYS_PER_CHUNK,
    _INDUCING_JITTERS,
    _KMEANS_POOL_FACTOR,
)

# --------------------------------------------------------------------------- BLAS threads

_CONTROLLER: Any = None


def _blas_limited(n_rows: int) -> Any:
    """One BLAS thread for the exact fit of a small matrix (<= SINGLE_THREAD_MAX_ROWS rows).

    Measured on the shared 2-core machine (``benchmarks/run.py``, section "BLAS threads"):
    with another process busy, OpenBLAS's second thread made a 300-row fit up to 20x
    slower and a 1,000-row cold fit 3x slower; one thread was never much slower there.
    Larger matrices keep the caller's setting. The controller is built once (it scans the
    loaded libraries).
    """
    if n_rows > _base.SINGLE_THREAD_MAX_ROWS:
        return nullcontext()
    return _one_blas_thread()


def _one_blas_thread() -> Any:
    """Context limiting BLAS to one thread (threadpoolctl; controller built once)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


# --------------------------------------------------------------------------- posterior


@dataclass
class _Posterior:
    """Everything ``predict`` needs, in the standardised space.

    mean(x) = k(x, basis) @ weights
    var(x)  = constant - |L^-1 k(basis, x)|^2          (exact: ``chol`` = L)
    var(x)  = constant - |R k(basis, x)|^2             (projected: ``projection`` = R)

    For the exact GP, basis = training rows, L = chol(K + noise I), weights = K^-1 y.
    For the inducing-point (DTC / projected-process) posterior, basis = inducing points Z
    and R is an upper-triangular m x m matrix with R^T R = K_mm^-1 - S,
    S = (K_mm + K_mn K_nm / sigma^2)^-1 (see :func:`_inducing_posterior`): one triangular
    matrix product (BLAS-3 ``trmm``, m^2 flops) per candidate.
    """

    basis: np.ndarray
    weights: np.ndarray
    chol: np.ndarray | None
    projection: np.ndarray | None
    constant: float
    length_scale: float | np.ndarray
    noise_level: float
    _augmented: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Rows [z / l, 1, log(c) - |z / l|^2 / 2] of the basis, so that one GEMM with the
        # candidates' [x / l, -|x / l|^2 / 2, 1] gives log(c) - |x - z|^2 / (2 l^2), and one
        # in-place exp the kernel block: no other pass over it.
        scaled = self.basis / self.length_scale
        last = math.log(self.constant) - 0.5 * np.einsum("ij,ij->i", scaled, scaled)
        self._augmented = np.ascontiguousarray(np.vstack((scaled.T, np.ones(len(scaled)), last)))

    @property
    def size(self) -> int:
        return int(self.basis.shape[0])

    def kernel_columns(self, X: np.ndarray) -> np.ndarray:
        """constant * k(basis, X) as an F-ordered (n_basis, n_rows) array.

        Squared distances come from one GEMM (|x|^2 + |z|^2 - 2 x.z), ~3x faster than
        ``cdist`` + sklearn's RBF; relative error of the kernel values ~1e-16 * |x / l|^2
        (rounding can make k(x, x) exceed the constant by that much: harmless, the
        variance is clipped at 0).
        """
        scaled = X / self.length_scale
        augmented = np.empty((X.shape[0], scaled.shape[1] + 2))
        augmented[:, :-2] = scaled
        augmented[:, -2] = -0.5 * np.einsum("ij,ij->i", scaled, scaled)
        augmented[:, -1] = 1.0
        block = augmented @ self._augmented  # (n_rows, n_basis), C order
        np.exp(block, out=block)
        return block.T

    def mean(self, X: np.ndarray) -> np.ndarray:
        """Latent mean at standardised rows ``X``."""
        return self.kernel_columns(X).T @ self.weights

    def _variance_from_columns(self, k_columns: np.ndarray) -> np.ndarray:
        if self.chol is not None:
            reduced = solve_triangular(
                self.chol, k_columns, lower=True, check_finite=False, overwrite_b=True
            )
        else:
            reduced = dtrmm(1.0, self.projection, k_columns, lower=0, overwrite_b=1)
        variance = self.constant - np.einsum("ij,ij->j", reduced, reduced)
        # Rounding can push a variance a hair below zero next to a training point.
        np.maximum(variance, 0.0, out=variance)
        return variance

    def variance(self, X: np.ndarray) -> np.ndarray:
        """Latent variance at standardised rows ``X``."""
        return self._variance_from_columns(self.kernel_columns(X))

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance at standardised rows ``X``."""
        k_columns = self.kernel_columns(X)
        mean = k_columns.T @ self.weights
        return mean, self._variance_from_columns(k_columns)


def _choose_inducing(
    X_std: np.ndarray, m: int, rng: np.random.Generator, init: str, all_rows_if_m_ge_n: bool = False
) -> np.ndarray:
    """m inducing points among the standardised rows (seeded by ``rng``)."""
    n_rows = X_std.shape[0]
    if all_rows_if_m_ge_n and m >= n_rows:
        return np.ascontiguousarray(X_std)
    if init == "kmeans++":
        # k-means++ is sequential in m; seeding it from at most 20 m rows keeps it
        # cheap for big groups and still spreads Z over the data.
        pool = X_std
        if n_rows > _KMEANS_POOL_FACTOR * m:
            pool = X_std[np.sort(rng.choice(n_rows, size=_KMEANS_POOL_FACTOR * m, replace=False))]
        inducing, _ = kmeans_plusplus(pool, m, random_state=int(rng.integers(2**31 - 1)))
    else:
        inducing = X_std[np.sort(rng.choice(n_rows, size=m, replace=False))]
    return np.ascontiguousarray(inducing)


def _inducing_posterior(
    X: np.ndarray,
    y: np.ndarray,
    inducing: np.ndarray,
    constant: float,
    length_scale: float | np.ndarray,
    noise_variance: float,
    memory_bytes: int,
) -> tuple[_Posterior, float]:
    """DTC / projected-process posterior through the inducing points (all rows used).

    With L = chol(K_mm), A = L^-1 K_mn and G = A A^T / sigma^2 = U diag(lambda) U^T:

        mean(x) = k_xm L^-T (I + G)^-1 A y / sigma^2
        var(x)  = k_xx - v^T v + v^T (I + G)^-1 v = k_xx - |W k_mx|^2,   v = L^-1 k_mx,
        W = diag(sqrt(lambda / (1 + lambda))) U^T L^-1,

    and W = Q R (QR) gives |W k| = |R k| with R upper triangular. Cost O(n m^2 + m^3)
    time, O(m^2 + chunk * m) memory. Returns the posterior and the relative jitter that
    made K_mm positive definite.
    """
    m = inducing.shape[0]
    rbf = RBF(length_scale)
    k_mm = constant * rbf(inducing)
    for jitter in _INDUCING_JITTERS:
        try:
            chol_mm = cholesky(
                k_mm + jitter * constant * np.eye(m), lower=True, check_finite=False
            )
            break
        except np.linalg.LinAlgError:
            continue
    else:  # pragma: no cover - K_mm + 1e-2 c I is always positive definite
        raise EtalError("the inducing-point kernel matrix is not positive definite")
    # Accumulate A A^T and A y over chunks of rows so K_mn is never held whole.
    gram = np.zeros((m, m))
    projected_y = np.zeros(m)
    rows_per_chunk = max(1, memory_bytes // (_ARRAYS_PER_CHUNK * 8 * m))
    kernel = _Posterior(basis=inducing, weights=np.zeros(m), chol=None, projection=None, constant=constant,
                        length_scale=length_scale, noise_level=noise_variance)  # for its kernel
    for start in range(0, X.shape[0], rows_per_chunk):
        stop = start + rows_per_chunk
        k_block = kernel.kernel_columns(X[start:stop])  # (m, rows), F order
        a_block = solve_triangular(chol_mm, k_block, lower=True, check_finite=False, overwrite_b=True)
        gram += a_block @ a_block.T
        projected_y += a_block @ y[start:stop]
    gram /= noise_variance
    projected_y /= noise_variance
    # The variance's matrix from the eigen-decomposition of G (PSD; rounding clipped).
    eigenvalues, eigenvectors = eigh(gram, check_finite=False)
    np.maximum(eigenvalues, 0.0, out=eigenvalues)
    chol_inverse = solve_triangular(chol_mm, np.eye(m), lower=True, check_finite=False)
    w_matrix = np.sqrt(eigenvalues / (1.0 + eigenvalues))[:, None] * (eigenvectors.T @ chol_inverse)
    projection = np.asfortranarray(np.triu(qr(w_matrix, mode="r", check_finite=False)[0]))
    gram[np.diag_indices(m)] += 1.0  # B = I + G, eigenvalues >= 1
    chol_b = cholesky(gram, lower=True, check_finite=False)
    c = solve_triangular(chol_b, projected_y, lower=True, check_finite=False)
    weights = solve_triangular(
        chol_mm,
        solve_triangular(chol_b, c, lower=True, trans="T", check_finite=False),
        lower=True,
        trans="T",
        check_finite=False,
    )
    posterior = _Posterior(
        basis=inducing,
        weights=weights,
        chol=None,
        projection=projection,
        constant=constant,
        length_scale=length_scale,
        noise_level=noise_variance,
    )
    return posterior, jitter


