"""The surrogate contract, its input checks and the shared GP constants.

:class:`Surrogate` is what the engine needs from a model of one group's target; the
``_check_*`` helpers validate X / y once for every model. Model overview: see
:mod:`etal.surrogate`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError

logger = logging.getLogger("etal.surrogate")


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
#: Default size of one chunk's kernel blocks on the huge-pool path, in bytes (see
#: :meth:`GPSurrogate.default_chunk_size`).
PREDICT_BLOCK_BYTES: int = 8 * 2**20
#: Default rows of a large group's hyper-parameter fit (capped at ``max_exact``): a cold
#: fit of 1,000 rows takes ~2 s, of 3,000 rows ~30-50 s (O(r^3) per likelihood evaluation).
DEFAULT_HYPERPARAMETER_ROWS: int = 1000
#: Exact fits of at most this many rows run with one BLAS thread (see :func:`_blas_limited`).
SINGLE_THREAD_MAX_ROWS: int = 1000
#: Worker threads of the huge-pool prediction (one BLAS thread each).
_PREDICT_WORKERS: int = max(1, min(4, os.cpu_count() or 1))
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

    def fit(self, X: np.ndarray, y: np.ndarray) -> Surrogate: ...

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


def _rows_digest(X: np.ndarray, y: np.ndarray, n_rows: int) -> str:
    """SHA-256 of the first ``n_rows`` rows of (X, y) (float64 bytes)."""
    digest = hashlib.sha256(np.ascontiguousarray(X[:n_rows], dtype=float).tobytes())
    digest.update(np.ascontiguousarray(y[:n_rows], dtype=float).tobytes())
    return digest.hexdigest()


