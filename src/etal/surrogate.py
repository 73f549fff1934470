"""Surrogate models of a group's target (x -> ΔE in eV/atom, or any continuous property).

ET-AL step 2 fits, on the labelled members of the selected group, a Gaussian-process
regressor (constant mean, scaled RBF kernel, Gaussian likelihood); step 3 draws the
candidates' values from its posterior. This module provides that model behind a small
protocol, :class:`Surrogate`, so that other models can plug in (:func:`make_surrogate`).

The default, :class:`GPSurrogate`, is scikit-learn's ``GaussianProcessRegressor`` with the
kernel ``ConstantKernel * RBF + WhiteKernel`` fitted in a *standardised space*:

* features are standardised with a :class:`~sklearn.preprocessing.StandardScaler` fitted on
  the training rows (so length-scales are in units of each feature's standard deviation);
* targets are standardised to mean 0 and standard deviation 1 (the constant mean of the
  model is the training mean), so ``constant`` and ``noise_level`` are variances relative
  to the target variance;
* hyper-parameters maximise the log marginal likelihood (sklearn's L-BFGS-B), within the
  bounds :data:`CONSTANT_BOUNDS`, :data:`LENGTH_SCALE_BOUNDS`, :data:`NOISE_LEVEL_BOUNDS`.

:meth:`GPSurrogate.predict` returns the posterior of the **latent** function f (what ET-AL
samples), without the white-noise variance, unless ``include_noise=True``. Predictions
are computed in chunks of candidates so that memory stays bounded (~256 MB by default)
whatever the number of candidates.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from sklearn.cluster import kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.preprocessing import StandardScaler

from .errors import CheckpointError, EtalError, InputError

__all__ = [
    "CONSTANT_BOUNDS",
    "LENGTH_SCALE_BOUNDS",
    "NOISE_LEVEL_BOUNDS",
    "PREDICT_MEMORY_BYTES",
    "GPSurrogate",
    "Surrogate",
    "available_surrogates",
    "make_surrogate",
    "register_surrogate",
]

logger = logging.getLogger(__name__)

#: Bounds of the signal variance (ConstantKernel), relative to the target variance.
CONSTANT_BOUNDS: tuple[float, float] = (1e-3, 1e3)
#: Bounds of the RBF length-scale(s), in units of the standardised features (1 = one
#: standard deviation of the feature). Below 1e-2 every point is its own island; above
#: 1e3 the function is flat across the data.
LENGTH_SCALE_BOUNDS: tuple[float, float] = (1e-2, 1e3)
#: Bounds of the white-noise variance, relative to the target variance: 1e-6 is a noise
#: standard deviation of 0.1 % of the target's spread (keeps K well conditioned), 10 is
#: "all noise".
NOISE_LEVEL_BOUNDS: tuple[float, float] = (1e-6, 1e1)
#: Start values when nothing better is known; the length-scale starts at sqrt(n_features),
#: the typical distance between standardised points (starting at 1 in 30 dimensions makes
#: K ~ identity and the optimiser stalls in the "all noise" solution).
DEFAULT_CONSTANT: float = 1.0
DEFAULT_NOISE_LEVEL: float = 0.1
#: Working memory that one chunk of :meth:`GPSurrogate.predict` may use, in bytes.
PREDICT_MEMORY_BYTES: int = 256 * 2**20
#: Diagonal jitter added to K (sklearn's ``alpha``); escalated if K is not positive definite.
_ALPHAS: tuple[float, ...] = (1e-10, 1e-8, 1e-6, 1e-4)
#: Relative jitters tried for the Cholesky factor of K_mm (inducing points).
_INDUCING_JITTERS: tuple[float, ...] = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
#: Arrays of (chunk x n_columns) float64 alive at once while predicting (distances,
#: exp temporaries, the kernel block, the triangular solves).
_ARRAYS_PER_CHUNK: int = 5
#: k-means++ picks the inducing points among at most this many times m rows.
_KMEANS_POOL_FACTOR: int = 20
_STATE_FORMAT: int = 1
_LARGE_MODES = ("inducing", "subsample")
_INDUCING_INITS = ("kmeans++", "random")


@runtime_checkable
class Surrogate(Protocol):
    """What the ET-AL loop needs from a model of one group's target.

    ``predict`` returns ``(mean, std)`` in target units (e.g. eV/atom), one value per row
    of ``X``: the posterior of the latent function, plus the observation noise when
    ``include_noise`` is true. ``state_dict`` returns plain JSON-able data (floats, lists,
    strings) that ``load_state_dict`` accepts, so a checkpointed run can resume and refit
    from exactly the same starting point.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Surrogate": ...

    def predict(
        self,
        X: np.ndarray,
        *,
        include_noise: bool | None = None,
        chunk_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


# --------------------------------------------------------------------------- validation


def _as_float_array(values: Any, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{name} must be numeric; converting it to floats failed ({exc}). "
            "Encode categorical columns as numbers before fitting the surrogate."
        ) from None
    return array


def _first_rows(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    more = f" and {rows.size - limit} more" if rows.size > limit else ""
    return f"{rows.size} row(s) (positions {shown}{more})"


def _column_names(X: Any) -> list[str] | None:
    columns = getattr(X, "columns", None)
    return [str(c) for c in columns] if columns is not None else None


def _check_features(X: Any, n_features: int | None, what: str) -> np.ndarray:
    """Return ``X`` as a finite float array of shape (n_rows, n_features)."""
    names = _column_names(X)
    array = _as_float_array(X, "X")
    if array.ndim != 2:
        raise InputError(
            f"X must be a 2-D array of shape (n_rows, n_features), got shape {array.shape}. "
            "For a single feature pass X.reshape(-1, 1)."
        )
    if array.shape[1] == 0:
        raise InputError("X has no feature columns; give at least one numeric feature.")
    if n_features is not None and array.shape[1] != n_features:
        raise InputError(
            f"X has {array.shape[1]} feature column(s) but the surrogate was {what} with "
            f"{n_features}; pass the same feature columns, in the same order."
        )
    bad = ~np.isfinite(array)
    if bad.any():
        bad_columns = np.flatnonzero(bad.any(axis=0))
        labels = [names[c] if names else str(int(c)) for c in bad_columns[:5]]
        raise InputError(
            f"X contains NaN or infinite values in {_first_rows(bad.any(axis=1))}, "
            f"feature column(s) {labels}; drop or impute those rows first."
        )
    return array


def _check_training_data(X: Any, y: Any, n_features: int | None) -> tuple[np.ndarray, np.ndarray]:
    X_array = _check_features(X, n_features, "fitted or loaded")
    y_array = _as_float_array(y, "y")
    if y_array.ndim == 2 and y_array.shape[1] == 1:
        y_array = y_array[:, 0]
    if y_array.ndim != 1:
        raise InputError(
            f"y must be 1-D (one target value per row of X), got shape {y_array.shape}."
        )
    if y_array.shape[0] != X_array.shape[0]:
        raise InputError(
            f"X has {X_array.shape[0]} rows but y has {y_array.shape[0]} values; "
            "give exactly one target value per row of X."
        )
    bad = ~np.isfinite(y_array)
    if bad.any():
        raise InputError(
            f"y contains NaN or infinite values in {_first_rows(bad)}; "
            "drop those rows or supply their labels."
        )
    if y_array.shape[0] < 2:
        raise InputError(
            f"a Gaussian-process surrogate needs at least 2 labelled rows, got "
            f"{y_array.shape[0]}; label more members of this group first."
        )
    return X_array, y_array


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------- posterior


@dataclass
class _Posterior:
    """Everything ``predict`` needs, in the standardised space.

    mean(x) = k(x, basis) @ weights
    var(x)  = constant - |L^-1 k(basis, x)|^2 [+ |L_B^-1 L^-1 k(basis, x)|^2]

    For the exact GP, basis = training rows, L = chol(K + noise I), weights = K^-1 y.
    For the inducing-point (DTC) posterior, basis = inducing points Z, L = chol(K_mm),
    L_B = chol(I + A A^T) with A = L^-1 K_mn / sigma.
    """

    basis: np.ndarray
    weights: np.ndarray
    chol: np.ndarray
    chol_correction: np.ndarray | None
    constant: float
    length_scale: float | np.ndarray
    noise_level: float

    def kernel_columns(self, X: np.ndarray) -> np.ndarray:
        """k(basis, X) as an F-ordered (n_basis, n_rows) array (solve_triangular wants F)."""
        block = RBF(self.length_scale)(X, self.basis)  # (n_rows, n_basis), C order
        block *= self.constant
        return block.T

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean and variance at standardised rows ``X``."""
        k_columns = self.kernel_columns(X)
        mean = k_columns.T @ self.weights
        whitened = solve_triangular(
            self.chol, k_columns, lower=True, check_finite=False, overwrite_b=True
        )
        variance = self.constant - np.einsum("ij,ij->j", whitened, whitened)
        if self.chol_correction is not None:
            corrected = solve_triangular(
                self.chol_correction, whitened, lower=True, check_finite=False, overwrite_b=True
            )
            variance += np.einsum("ij,ij->j", corrected, corrected)
        # Rounding can push a variance a hair below zero next to a training point.
        np.maximum(variance, 0.0, out=variance)
        return mean, variance


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

    Cost O(n m^2) time, O(m^2 + chunk * m) memory. Returns the posterior and the relative
    jitter that made K_mm positive definite.
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
    for start in range(0, X.shape[0], rows_per_chunk):
        stop = start + rows_per_chunk
        k_block = (constant * rbf(X[start:stop], inducing)).T  # (m, rows), F order
        a_block = solve_triangular(chol_mm, k_block, lower=True, check_finite=False, overwrite_b=True)
        gram += a_block @ a_block.T
        projected_y += a_block @ y[start:stop]
    gram /= noise_variance
    projected_y /= noise_variance
    gram[np.diag_indices(m)] += 1.0  # B = I + A A^T / sigma^2, eigenvalues >= 1
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
        chol=chol_mm,
        chol_correction=chol_b,
        constant=constant,
        length_scale=length_scale,
        noise_level=noise_variance,
    )
    return posterior, jitter


# --------------------------------------------------------------------------- the GP


class GPSurrogate:
    """Gaussian-process surrogate: ConstantKernel x RBF + WhiteKernel, standardised space.

    Parameters
    ----------
    include_noise
        Default of ``predict(include_noise=...)``: False returns the std of the latent
        function f (what ET-AL samples); True adds the fitted noise variance.
    max_exact
        Largest number of labelled rows fitted with the exact GP (cost O(n^3) per
        likelihood evaluation, O(n^2) memory). Beyond it, ``large`` decides.
    large
        ``"inducing"`` (default): hyper-parameters are fitted by the exact GP on a seeded
        random subsample of ``n_hyperparameter_rows`` (default ``max_exact``) rows; then
        ``n_inducing`` inducing points Z are chosen (seeded k-means++ seeding on the
        standardised features of at most 20 m rows, or a seeded random subset) and the predictive mean and variance use
        **all** rows through Z with the DTC / projected-process approximation (the
        variational posterior of Titsias 2009 at these hyper-parameters): the prior
        covariance of the training values is replaced by its Nyström approximation
        Q_nn = K_nm K_mm^-1 K_mn, giving

            mean(x) = k_xm S K_mn y / sigma^2,   S = (K_mm + K_mn K_nm / sigma^2)^-1
            var(x)  = k_xx - k_xm K_mm^-1 k_mx + k_xm S k_mx

        Cost O(n m^2) time and O(m^2) memory to fit (rows processed in chunks), O(m^2)
        per candidate to predict. What is approximated: the posterior (exact when Z holds
        every row) and the hyper-parameters (from a subsample).
        ``"subsample"``: the exact GP on a seeded random subsample of ``max_exact`` rows;
        the other rows are ignored. Which mode ran is in ``mode_`` and ``state_dict()``.
    n_inducing
        Number of inducing points m (capped at the number of rows).
    n_restarts_optimizer
        Extra optimiser starts from log-uniform random points within the bounds (seeded by
        ``random_state``); the first start is always the warm/initial point.
    warm_start
        Start each refit's optimiser from the previous fit's (or loaded) hyper-parameters.
    random_state
        Seed of the subsamples, the inducing points and the optimiser restarts; every fit
        re-seeds from it, so equal data + equal state give equal predictions.
    ard
        One length-scale per feature instead of a single one.
    optimize
        False keeps the hyper-parameters fixed (the ``hyperparameters`` start values, the
        loaded state or the defaults) - the closed-form posterior at known settings.
    hyperparameters
        Start values ``{"constant", "length_scale", "noise_level"}`` (standardised space).
    n_hyperparameter_rows
        Rows of the subsample on which a large group's hyper-parameters are fitted
        (default ``max_exact``). Smaller is much faster (the exact fit costs O(r^3) per
        likelihood evaluation, ~50 evaluations from a cold start).
    inducing_init
        ``"kmeans++"`` (spread-out data points, seeded) or ``"random"`` (seeded subset).

    Cost (measured on a shared 2-core machine, 10 features; see
    ``benchmarks/bench_surrogate.py``): a cold exact fit of 3,000 rows takes ~50 s (sklearn
    evaluates the likelihood gradient ~50 times at O(n^3), ~0.6 GB), a warm refit ~5-12 s;
    1,000 rows ~1 s. With ``ard=True`` one gradient costs O(n^2 d) memory (~2.5 GB at
    n = 3,000, d = 10): lower ``max_exact`` / ``n_hyperparameter_rows`` (e.g. 1,000).
    Predicting costs O(n^2) (exact) or O(m^2) (inducing) per candidate: ~2e4 candidates/s
    at n = 3,000 or m = 1,000. On a busy machine one BLAS thread
    (``threadpoolctl.threadpool_limits(1)``) is often faster than two.

    Attributes after ``fit``: ``mode_`` (``"exact"``, ``"inducing"`` or ``"subsample"``),
    ``n_features_in_``, ``fit_info_`` (rows used, inducing points, jitter, log marginal
    likelihood, start point, recorded ConvergenceWarnings, seconds), ``subsample_rows_``
    (row positions of the hyper-parameter / subsample fit, or None), ``inducing_points_``
    (in feature units, or None).
    """

    def __init__(
        self,
        *,
        include_noise: bool = False,
        max_exact: int = 3000,
        large: str = "inducing",
        n_inducing: int = 1000,
        n_restarts_optimizer: int = 0,
        warm_start: bool = True,
        random_state: int | None = 0,
        ard: bool = False,
        optimize: bool = True,
        hyperparameters: dict | None = None,
        n_hyperparameter_rows: int | None = None,
        inducing_init: str = "kmeans++",
    ) -> None:
        self.include_noise = bool(include_noise)
        self.max_exact = _positive_int(max_exact, "max_exact", 2)
        if large not in _LARGE_MODES:
            raise InputError(f"large must be one of {_LARGE_MODES}, got {large!r}.")
        self.large = large
        self.n_inducing = _positive_int(n_inducing, "n_inducing", 1)
        self.n_restarts_optimizer = _positive_int(n_restarts_optimizer, "n_restarts_optimizer", 0)
        self.warm_start = bool(warm_start)
        if random_state is not None:
            random_state = _positive_int(random_state, "random_state", 0)
        self.random_state = random_state
        self.ard = bool(ard)
        self.optimize = bool(optimize)
        if n_hyperparameter_rows is not None:
            n_hyperparameter_rows = _positive_int(n_hyperparameter_rows, "n_hyperparameter_rows", 2)
        self.n_hyperparameter_rows = n_hyperparameter_rows
        if inducing_init not in _INDUCING_INITS:
            raise InputError(f"inducing_init must be one of {_INDUCING_INITS}, got {inducing_init!r}.")
        self.inducing_init = inducing_init
        # start values given by the user (cold start) and the latest fitted/loaded ones
        self._initial_hyper: dict | None = (
            self._check_hyperparameters(hyperparameters, "hyperparameters")
            if hyperparameters is not None
            else None
        )
        self._hyper: dict | None = self._initial_hyper
        self._known_n_features: int | None = None
        self._reset_fit()

    # ----------------------------------------------------------------- bookkeeping

    def _reset_fit(self) -> None:
        self._posterior: _Posterior | None = None
        self._scaler: StandardScaler | None = None
        self._y_mean = 0.0
        self._y_std = 1.0
        self.mode_: str | None = None
        self.n_features_in_: int | None = None
        self.fit_info_: dict = {}
        self.subsample_rows_: np.ndarray | None = None
        self.feature_names_in_: list[str] | None = None

    def _config(self) -> dict:
        return {
            "include_noise": self.include_noise,
            "max_exact": self.max_exact,
            "large": self.large,
            "n_inducing": self.n_inducing,
            "n_restarts_optimizer": self.n_restarts_optimizer,
            "warm_start": self.warm_start,
            "random_state": self.random_state,
            "ard": self.ard,
            "optimize": self.optimize,
            "n_hyperparameter_rows": self.n_hyperparameter_rows,
            "inducing_init": self.inducing_init,
            "hyperparameters": self._initial_hyper,
        }

    def __repr__(self) -> str:
        changed = {
            k: v for k, v in self._config().items() if v != _DEFAULT_CONFIG.get(k, object())
        }
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"GPSurrogate({args})"

    @staticmethod
    def _check_hyperparameters(values: Any, where: str) -> dict:
        """Validate ``{"constant", "length_scale", "noise_level"}`` -> plain floats."""
        error = CheckpointError if where == "state" else InputError
        if not isinstance(values, dict) or not {"constant", "length_scale", "noise_level"} <= set(values):
            raise error(
                f"{where} must be a dict with keys 'constant', 'length_scale', 'noise_level'; "
                f"got {values!r}."
            )
        out: dict = {}
        for key, bounds in (
            ("constant", CONSTANT_BOUNDS),
            ("length_scale", LENGTH_SCALE_BOUNDS),
            ("noise_level", NOISE_LEVEL_BOUNDS),
        ):
            raw = values[key]
            try:
                array = np.asarray(raw, dtype=float)
            except (TypeError, ValueError):
                raise error(f"{where}[{key!r}] must be a number, got {raw!r}.") from None
            if array.ndim > (1 if key == "length_scale" else 0) or array.size == 0:
                raise error(f"{where}[{key!r}] must be a number, got {raw!r}.")
            low, high = bounds
            if not (np.all(np.isfinite(array)) and np.all(array >= low) and np.all(array <= high)):
                raise error(f"{where}[{key!r}] = {raw!r} is outside the bounds [{low:g}, {high:g}].")
            out[key] = [float(v) for v in array] if array.ndim == 1 else float(array)
        return out

    @property
    def hyperparameters(self) -> dict:
        """Current hyper-parameters in the standardised space (empty before fit/load).

        ``constant``: signal variance / target variance; ``length_scale``: float, or one
        per feature with ``ard=True``, in feature standard deviations; ``noise_level``:
        noise variance / target variance.
        """
        if self._hyper is None:
            return {}
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._hyper.items()}

    @property
    def is_fitted(self) -> bool:
        return self._posterior is not None

    @property
    def noise_std(self) -> float:
        """Fitted noise standard deviation in target units."""
        self._require_fitted()
        return math.sqrt(self._posterior.noise_level) * self._y_std  # type: ignore[union-attr]

    @property
    def inducing_points_(self) -> np.ndarray | None:
        """Inducing points in feature units (``mode_ == "inducing"``), else None."""
        if self.mode_ != "inducing" or self._posterior is None or self._scaler is None:
            return None
        return self._scaler.inverse_transform(self._posterior.basis)

    def _require_fitted(self) -> None:
        if self._posterior is None:
            raise InputError(
                "GPSurrogate.predict was called before fit: call fit(X, y) first "
                "(load_state_dict restores hyper-parameters only, not the training data)."
            )

    # ----------------------------------------------------------------- fitting

    def _start_point(self, n_features: int) -> dict:
        """Hyper-parameters the optimiser starts from (or that stay fixed)."""
        if self._hyper is not None and (self.warm_start or not self.optimize):
            start = dict(self._hyper)
        elif self._initial_hyper is not None:
            start = dict(self._initial_hyper)
        else:
            start = {
                "constant": DEFAULT_CONSTANT,
                "length_scale": min(max(math.sqrt(n_features), LENGTH_SCALE_BOUNDS[0]), LENGTH_SCALE_BOUNDS[1]),
                "noise_level": DEFAULT_NOISE_LEVEL,
            }
        length_scale = start["length_scale"]
        if self.ard:
            if isinstance(length_scale, list):
                if len(length_scale) != n_features:
                    raise InputError(
                        f"the start length-scales have {len(length_scale)} entries but X has "
                        f"{n_features} features; give one length-scale per feature."
                    )
            else:
                start["length_scale"] = [float(length_scale)] * n_features
        elif isinstance(length_scale, list):
            raise InputError(
                "a list of length-scales needs ard=True; give a single float otherwise."
            )
        return start

    def _kernel(self, start: dict) -> Any:
        return ConstantKernel(start["constant"], CONSTANT_BOUNDS) * RBF(
            np.asarray(start["length_scale"], dtype=float) if self.ard else start["length_scale"],
            LENGTH_SCALE_BOUNDS,
        ) + WhiteKernel(start["noise_level"], NOISE_LEVEL_BOUNDS)

    def _fit_exact(self, X: np.ndarray, y: np.ndarray, start: dict) -> tuple[GaussianProcessRegressor, list[str], float]:
        """sklearn's exact GP on standardised data; ConvergenceWarnings are recorded."""
        recorded: list[str] = []
        last_error: Exception | None = None
        for alpha in _ALPHAS:
            gpr = GaussianProcessRegressor(
                kernel=self._kernel(start),
                alpha=alpha,
                optimizer="fmin_l_bfgs_b" if self.optimize else None,
                n_restarts_optimizer=self.n_restarts_optimizer if self.optimize else 0,
                normalize_y=False,  # y is standardised by us (shared with the inducing path)
                copy_X_train=False,
                random_state=self.random_state,
            )
            failed = False
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                try:
                    gpr.fit(X, y)
                except np.linalg.LinAlgError as exc:
                    last_error, failed = exc, True
            for item in caught:
                if issubclass(item.category, ConvergenceWarning):
                    message = " ".join(str(item.message).split())
                    recorded.append(message)
                    logger.debug("GP fit: %s", message)
                else:  # not ours to swallow
                    warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
            if not failed:
                return gpr, recorded, alpha
        raise EtalError(
            "the Gaussian-process kernel matrix stayed singular even with jitter 1e-4; "
            "check for many duplicated feature rows with different targets."
        ) from last_error

    def fit(self, X: np.ndarray, y: np.ndarray) -> "GPSurrogate":
        """Fit on labelled rows ``X`` (n_rows, n_features) and targets ``y`` (n_rows,).

        A refit of the same object starts the optimiser from the previous fit's
        hyper-parameters (``warm_start``). Returns ``self``.
        """
        started = time.perf_counter()
        names = _column_names(X)
        X, y = _check_training_data(X, y, self._known_n_features)
        n_rows, n_features = X.shape
        start = self._start_point(n_features)

        scaler = StandardScaler().fit(X)
        X_std = scaler.transform(X)
        y_mean = float(np.mean(y))
        y_std = float(np.std(y))
        if not (y_std > 0.0 and np.isfinite(y_std)):
            y_std = 1.0  # constant targets: keep the scale, the GP learns a flat function
        y_std_space = (y - y_mean) / y_std

        rng = np.random.default_rng(self.random_state)  # re-seeded on every fit
        if n_rows <= self.max_exact:
            mode, rows = "exact", None
        else:
            mode = self.large
            n_sub = self.max_exact if mode == "subsample" else min(
                self.n_hyperparameter_rows or self.max_exact, n_rows
            )
            rows = np.sort(rng.choice(n_rows, size=n_sub, replace=False))
        X_fit = X_std if rows is None else X_std[rows]
        y_fit = y_std_space if rows is None else y_std_space[rows]
        gpr, recorded, alpha = self._fit_exact(X_fit, y_fit, start)

        if self.optimize:
            params = gpr.kernel_.get_params()
            length_scale = np.atleast_1d(np.asarray(params["k1__k2__length_scale"], dtype=float))
            hyper = {
                "constant": float(params["k1__k1__constant_value"]),
                "length_scale": [float(v) for v in length_scale] if self.ard else float(length_scale[0]),
                "noise_level": float(params["k2__noise_level"]),
            }
        else:  # keep the given values bit for bit (sklearn round-trips them through log)
            hyper = start
        constant = hyper["constant"]
        rbf_length = np.asarray(hyper["length_scale"]) if self.ard else hyper["length_scale"]

        info: dict = {
            "mode": mode,
            "n_rows": int(n_rows),
            "n_hyperparameter_rows": int(X_fit.shape[0]),
            "start_hyperparameters": start,
            "log_marginal_likelihood": float(gpr.log_marginal_likelihood_value_),
            "alpha": alpha,
            "warnings": recorded,
        }
        if mode == "inducing":
            m = min(self.n_inducing, n_rows)
            if self.inducing_init == "kmeans++":
                # k-means++ is sequential in m; seeding it from at most 20 m rows keeps it
                # cheap for big groups and still spreads Z over the data.
                pool = X_std
                if n_rows > _KMEANS_POOL_FACTOR * m:
                    pool = X_std[np.sort(rng.choice(n_rows, size=_KMEANS_POOL_FACTOR * m, replace=False))]
                inducing, _ = kmeans_plusplus(pool, m, random_state=int(rng.integers(2**31 - 1)))
            else:
                inducing = X_std[np.sort(rng.choice(n_rows, size=m, replace=False))]
            posterior, jitter = _inducing_posterior(
                X_std, y_std_space, np.ascontiguousarray(inducing), constant, rbf_length,
                hyper["noise_level"] + alpha, PREDICT_MEMORY_BYTES,
            )
            posterior.noise_level = hyper["noise_level"]
            info.update(n_inducing=int(m), inducing_jitter=jitter)
        else:
            posterior = _Posterior(
                basis=gpr.X_train_,
                weights=np.asarray(gpr.alpha_, dtype=float).ravel(),
                chol=gpr.L_,
                chol_correction=None,
                constant=constant,
                length_scale=rbf_length,
                noise_level=hyper["noise_level"],
            )
        info["seconds"] = time.perf_counter() - started

        self._posterior = posterior
        self._scaler = scaler
        self._y_mean, self._y_std = y_mean, y_std
        self._hyper = hyper
        self._known_n_features = n_features
        self.mode_ = mode
        self.n_features_in_ = n_features
        self.feature_names_in_ = names
        self.subsample_rows_ = rows
        self.fit_info_ = info
        return self

    # ----------------------------------------------------------------- prediction

    def default_chunk_size(self) -> int:
        """Candidates per chunk so one chunk uses about :data:`PREDICT_MEMORY_BYTES`."""
        self._require_fitted()
        columns = self._posterior.basis.shape[0]  # type: ignore[union-attr]
        return max(1, PREDICT_MEMORY_BYTES // (_ARRAYS_PER_CHUNK * 8 * columns))

    def predict(
        self,
        X: np.ndarray,
        *,
        include_noise: bool | None = None,
        chunk_size: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior ``(mean, std)`` at the rows of ``X``, in target units.

        ``std`` is that of the latent function f; with ``include_noise=True`` (default: the
        constructor's ``include_noise``) the fitted noise variance is added. Candidates
        are processed ``chunk_size`` at a time (default: ~256 MB of working memory).
        """
        self._require_fitted()
        X = _check_features(X, self.n_features_in_, "fitted")
        if chunk_size is None:
            chunk_size = self.default_chunk_size()
        else:
            chunk_size = _positive_int(chunk_size, "chunk_size", 1)
        noisy = self.include_noise if include_noise is None else bool(include_noise)
        posterior = self._posterior
        assert posterior is not None and self._scaler is not None
        n_rows = X.shape[0]
        mean = np.empty(n_rows)
        variance = np.empty(n_rows)
        for start in range(0, n_rows, chunk_size):
            stop = min(start + chunk_size, n_rows)
            block = self._scaler.transform(X[start:stop])
            mean[start:stop], variance[start:stop] = posterior.predict(block)
        if noisy:
            variance += posterior.noise_level
        mean *= self._y_std
        mean += self._y_mean
        std = np.sqrt(variance)
        std *= self._y_std
        return mean, std

    # ----------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict:
        """JSON-able state: configuration, hyper-parameters and a summary of the last fit.

        The training data are not included: a resumed run refits on its labelled rows,
        starting from these hyper-parameters, and gets identical results.
        """
        fit: dict | None = None
        if self.mode_ is not None:
            info = self.fit_info_
            fit = {
                "mode": self.mode_,
                "n_rows": info["n_rows"],
                "n_features": self.n_features_in_,
                "n_hyperparameter_rows": info["n_hyperparameter_rows"],
                "n_inducing": info.get("n_inducing"),
                "log_marginal_likelihood": info["log_marginal_likelihood"],
                "target_mean": self._y_mean,
                "target_std": self._y_std,
                "warnings": list(info["warnings"]),
            }
        return {
            "kind": "gp",
            "format": _STATE_FORMAT,
            "config": self._config(),
            "hyperparameters": self.hyperparameters or None,
            "n_features": self._known_n_features,
            "bounds": {
                "constant": list(CONSTANT_BOUNDS),
                "length_scale": list(LENGTH_SCALE_BOUNDS),
                "noise_level": list(NOISE_LEVEL_BOUNDS),
            },
            "last_fit": fit,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore configuration and hyper-parameters from :meth:`state_dict`.

        The object becomes unfitted (call ``fit``); its next fit starts from the restored
        hyper-parameters, exactly as the saved object's next fit would.
        """
        if not isinstance(state, dict) or state.get("kind") != "gp":
            raise CheckpointError(
                "this surrogate state was not written by GPSurrogate.state_dict() "
                f"(kind={state.get('kind') if isinstance(state, dict) else type(state).__name__!r})."
            )
        if state.get("format") != _STATE_FORMAT:
            raise CheckpointError(
                f"surrogate state format {state.get('format')!r} is not supported "
                f"(this etal reads format {_STATE_FORMAT}); rerun from scratch."
            )
        config = state.get("config")
        if not isinstance(config, dict) or set(config) - set(_DEFAULT_CONFIG):
            raise CheckpointError(f"surrogate state has an unusable 'config': {config!r}.")
        try:
            rebuilt = GPSurrogate(**config)
        except InputError as exc:
            raise CheckpointError(f"surrogate state has an unusable 'config': {exc}") from None
        hyper = state.get("hyperparameters")
        n_features = state.get("n_features")
        if n_features is not None and (isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1):
            raise CheckpointError(f"surrogate state has an unusable 'n_features': {n_features!r}.")
        self.__dict__.update(rebuilt.__dict__)
        self._hyper = self._check_hyperparameters(hyper, "state") if hyper is not None else None
        self._known_n_features = n_features
        self._reset_fit()


_DEFAULT_CONFIG: dict = GPSurrogate()._config()


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[..., Surrogate]] = {"gp": GPSurrogate}


def register_surrogate(name: str, factory: Callable[..., Surrogate], *, overwrite: bool = False) -> None:
    """Make ``make_surrogate(name, **kwargs)`` build ``factory(**kwargs)``."""
    key = str(name).strip().lower()
    if not key:
        raise InputError("a surrogate name must be a non-empty string.")
    if key in _REGISTRY and not overwrite:
        raise InputError(f"a surrogate named {key!r} is already registered; pass overwrite=True to replace it.")
    if not callable(factory):
        raise InputError(f"the factory for surrogate {key!r} must be callable, got {factory!r}.")
    _REGISTRY[key] = factory


def available_surrogates() -> list[str]:
    """Names accepted by :func:`make_surrogate`."""
    return sorted(_REGISTRY)


def make_surrogate(name_or_obj: Any = "gp", **kwargs: Any) -> Surrogate:
    """Build a surrogate from a registered name, a class, or pass an instance through.

    ``make_surrogate("gp", ard=True)`` -> ``GPSurrogate(ard=True)``; a class implementing
    :class:`Surrogate` is instantiated with ``kwargs``; an object implementing it is
    returned unchanged (``kwargs`` must then be empty).
    """
    if isinstance(name_or_obj, str):
        key = name_or_obj.strip().lower()
        if key not in _REGISTRY:
            raise InputError(
                f"unknown surrogate {name_or_obj!r}; choose one of {available_surrogates()} "
                "or pass an object with fit/predict/state_dict/load_state_dict."
            )
        factory: Callable[..., Any] = _REGISTRY[key]
    elif isinstance(name_or_obj, type):
        factory = name_or_obj
    else:
        if not isinstance(name_or_obj, Surrogate):
            raise InputError(
                f"{type(name_or_obj).__name__} is not a surrogate: it needs fit, predict, "
                "state_dict and load_state_dict methods."
            )
        if kwargs:
            raise InputError(
                f"options {sorted(kwargs)} cannot be applied to an existing surrogate object; "
                "configure it before passing it in."
            )
        return name_or_obj
    try:
        surrogate = factory(**kwargs)
    except TypeError as exc:
        raise InputError(f"bad options for surrogate {name_or_obj!r}: {exc}") from None
    if not isinstance(surrogate, Surrogate):
        raise InputError(
            f"{name_or_obj!r} built a {type(surrogate).__name__}, which lacks the fit, predict, "
            "state_dict and load_state_dict methods of a surrogate."
        )
    return surrogate
