"""The exact Gaussian-process surrogate (large groups through inducing points), :class:`GPSurrogate`."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.preprocessing import StandardScaler

from ..errors import EtalError, InputError
from ..params import check_float, check_int
from .base import (
    _ALPHAS,
    _ARRAYS_PER_CHUNK,
    _INDUCING_INITS,
    _LARGE_MODES,
    _PREDICT_WORKERS,
    CONSTANT_BOUNDS,
    DEFAULT_CONSTANT,
    DEFAULT_HYPERPARAMETER_ROWS,
    DEFAULT_NOISE_LEVEL,
    LENGTH_SCALE_BOUNDS,
    NOISE_LEVEL_BOUNDS,
    PREDICT_BLOCK_BYTES,
    PREDICT_MEMORY_BYTES,
    _check_features,
    _check_training_data,
    _column_names,
    _rows_digest,
    logger,
)
from .gp_state import GPStateMixin
from .inducing import (
    _blas_limited,
    _choose_inducing,
    _inducing_posterior,
    _one_blas_thread,
    _Posterior,
)

__all__ = ["GPSurrogate"]

# --------------------------------------------------------------------------- the GP


class GPSurrogate(GPStateMixin):
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
        random subsample of ``n_hyperparameter_rows`` (default ``min(max_exact, 1000)``) rows; then
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
        Number of inducing points m (capped at the number of rows). Default 2,000: at
        4,000 rows it keeps the mean within ~0.17 posterior sd of the exact GP, where
        1,000 points gave 0.76 sd and a different ET-AL pick (``docs/performance.md``).
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
        (default: ``min(max_exact, 1000)``, :data:`DEFAULT_HYPERPARAMETER_ROWS`). More is
        much slower (the exact fit costs O(r^3) per likelihood evaluation, ~50 evaluations
        from a cold start: ~2 s for 1,000 rows, 30-50 s for 3,000).
    inducing_init
        ``"kmeans++"`` (spread-out data points, seeded) or ``"random"`` (seeded subset).
    max_exact_predict
        Huge pools. A ``predict`` call with more candidates than this (default 50,000;
        ``None``: never) whose posterior has at least ``2 * n_inducing_predict`` basis
        rows (training rows, or inducing points) computes the **std** through
        ``n_inducing_predict`` inducing points (seeded k-means++ on the training rows;
        DTC / projected-process posterior at the fitted hyper-parameters, all training
        rows used; one BLAS-3 ``trmm`` of m^2 flops per candidate instead of the exact
        GP's n^2). The **mean stays the model's own** (exact GP: k(x, X) alpha). The
        approximate std is wider than the exact one (typically 1-3x at m = 256), so it
        is meant for screening: the ET-AL strategy re-scores its top candidates with
        ``predict(..., approximate=False)`` (see :mod:`etal.strategies`). Whether the
        last call approximated is in ``predict_info_``.
    n_inducing_predict
        Inducing points of that huge-pool std (default 256).
    reoptimize_growth, reoptimize_min_rows
        Lazy re-optimisation of large groups. From ``reoptimize_min_rows`` (default 1,000)
        labelled rows up, a warm refit on the rows of the last hyper-parameter
        optimisation plus new ones (checked with a SHA-256 of those rows) keeps that
        optimisation's hyper-parameters - the posterior is still recomputed on all rows
        - until the rows have grown by more than ``reoptimize_growth`` (default 0.02:
        every ~20th acquisition at 1,000 rows, ~40th at 2,000); then it re-optimises
        (warm). A 2,000-row warm refit then costs ~0.15 s instead of ~3-5 s; one new row
        moves the optimum by ~1e-4 relative. ``reoptimize_growth=None``: re-optimise on
        every fit. Smaller groups always re-optimise. ``fit_info_["optimized"]`` says
        what happened; the state (``last_optimization``) makes a resumed run decide alike.

    Cost (measured on a shared 2-core machine; see ``benchmarks/bench_surrogate.py`` and
    ``docs/performance.md``): a cold exact fit of 3,000 rows takes ~30-50 s (sklearn
    evaluates the likelihood gradient ~50 times at O(n^3), ~0.6 GB), a warm refit ~5-15 s;
    2,000 rows ~5-8 s cold, ~3 s warm; 1,000 rows ~1-2 s. With ``ard=True`` one gradient
    costs O(n^2 d) memory (~2.5 GB at n = 3,000, d = 10): lower ``max_exact`` /
    ``n_hyperparameter_rows``. Predicting costs O(n^2) (exact) or O(m^2) (inducing) per
    candidate plus the kernel (~1.5 ns per candidate and basis row): ~2e4 candidates/s
    at n = 3,000 or m = 1,000. Exact fits of at most :data:`SINGLE_THREAD_MAX_ROWS` rows
    run with one BLAS thread (on a busy machine a second thread made them up to 20x
    slower).

    Attributes after ``fit``: ``mode_`` (``"exact"``, ``"inducing"`` or ``"subsample"``),
    ``n_features_in_``, ``fit_info_`` (rows used, inducing points, jitter, log marginal
    likelihood, start point, recorded ConvergenceWarnings, seconds), ``subsample_rows_``
    (row positions of the hyper-parameter / subsample fit, or None), ``inducing_points_``
    (in feature units, or None). After ``predict``: ``predict_info_`` (``approximate``,
    ``n_candidates``, ``n_basis``, ``n_inducing_predict``, ``seconds``).
    """

    def __init__(
        self,
        *,
        include_noise: bool = False,
        max_exact: int = 3000,
        large: str = "inducing",
        n_inducing: int = 2000,
        n_restarts_optimizer: int = 0,
        warm_start: bool = True,
        random_state: int | None = 0,
        ard: bool = False,
        optimize: bool = True,
        hyperparameters: dict | None = None,
        n_hyperparameter_rows: int | None = None,
        inducing_init: str = "kmeans++",
        max_exact_predict: int | None = 50_000,
        n_inducing_predict: int = 256,
        reoptimize_growth: float | None = 0.02,
        reoptimize_min_rows: int = 1000,
    ) -> None:
        self.include_noise = bool(include_noise)
        self.max_exact = check_int("max_exact", max_exact, low=2)
        if large not in _LARGE_MODES:
            raise InputError(f"large must be one of {_LARGE_MODES}, got {large!r}.")
        self.large = large
        self.n_inducing = check_int("n_inducing", n_inducing, low=1)
        self.n_restarts_optimizer = check_int("n_restarts_optimizer", n_restarts_optimizer, low=0)
        self.warm_start = bool(warm_start)
        if random_state is not None:
            random_state = check_int("random_state", random_state, low=0)
        self.random_state = random_state
        self.ard = bool(ard)
        self.optimize = bool(optimize)
        if n_hyperparameter_rows is not None:
            n_hyperparameter_rows = check_int("n_hyperparameter_rows", n_hyperparameter_rows, low=2)
        self.n_hyperparameter_rows = n_hyperparameter_rows
        if inducing_init not in _INDUCING_INITS:
            raise InputError(f"inducing_init must be one of {_INDUCING_INITS}, got {inducing_init!r}.")
        self.inducing_init = inducing_init
        if max_exact_predict is not None:
            max_exact_predict = check_int("max_exact_predict", max_exact_predict, low=1)
        self.max_exact_predict = max_exact_predict
        self.n_inducing_predict = check_int("n_inducing_predict", n_inducing_predict, low=1)
        self.reoptimize_growth = check_float("reoptimize_growth", reoptimize_growth, low=0, allow_none=True)
        self.reoptimize_min_rows = check_int("reoptimize_min_rows", reoptimize_min_rows, low=2)
        # start values given by the user (cold start) and the latest fitted/loaded ones
        self._initial_hyper: dict | None = (
            self._check_hyperparameters(hyperparameters, "hyperparameters")
            if hyperparameters is not None
            else None
        )
        self._hyper: dict | None = self._initial_hyper
        self._known_n_features: int | None = None
        self._last_alpha: float | None = None  # jitter of the last fit (restored by load)
        # rows and SHA-256 of the data of the last hyper-parameter optimisation
        self._last_optimization: dict | None = None
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
        self.predict_info_: dict = {}
        # standardised training rows and noise variance, for the huge-pool std (lazy)
        self._training: tuple[np.ndarray, np.ndarray, float] | None = None
        self._screen: _Posterior | None = None

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
            "max_exact_predict": self.max_exact_predict,
            "n_inducing_predict": self.n_inducing_predict,
            "reoptimize_growth": self.reoptimize_growth,
            "reoptimize_min_rows": self.reoptimize_min_rows,
            "hyperparameters": self._initial_hyper,
        }

    @classmethod
    def _default_config(cls) -> dict:
        return _DEFAULT_CONFIG

    def __repr__(self) -> str:
        changed = {
            k: v for k, v in self._config().items() if v != _DEFAULT_CONFIG.get(k, object())
        }
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"GPSurrogate({args})"

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

    def _start_point(self, n_features: int, optimize: bool) -> dict:
        """Hyper-parameters the optimiser starts from (or that stay fixed)."""
        if self._hyper is not None and (self.warm_start or not optimize):
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

    def _fit_exact(
        self, X: np.ndarray, y: np.ndarray, start: dict, alphas: tuple[float, ...], optimize: bool
    ) -> tuple[GaussianProcessRegressor, list[str], float]:
        """sklearn's exact GP on standardised data; ConvergenceWarnings are recorded."""
        recorded: list[str] = []
        last_error: Exception | None = None
        for alpha in alphas:
            gpr = GaussianProcessRegressor(
                kernel=self._kernel(start),
                alpha=alpha,
                optimizer="fmin_l_bfgs_b" if optimize else None,
                n_restarts_optimizer=self.n_restarts_optimizer if optimize else 0,
                normalize_y=False,  # y is standardised by us (shared with the inducing path)
                copy_X_train=False,
                random_state=self.random_state,
            )
            failed = False
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                try:
                    with _blas_limited(X.shape[0]):
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

    def fit(self, X: np.ndarray, y: np.ndarray) -> GPSurrogate:
        """Fit on labelled rows ``X`` (n_rows, n_features) and targets ``y`` (n_rows,).

        A refit of the same object starts the optimiser from the previous fit's
        hyper-parameters (``warm_start``), or, for a large group that grew by little
        since its last optimisation, keeps them (``reoptimize_growth``). Returns ``self``.
        """
        return self._fit(X, y, _ALPHAS, refit_only=False)

    def refit_posterior(self, X: np.ndarray, y: np.ndarray) -> GPSurrogate:
        """Recompute the posterior of the last fit, at its hyper-parameters, without optimising.

        For a resumed run: after :meth:`load_state_dict` the object is unfitted; with the
        same ``X``, ``y`` as that fit this rebuilds bit for bit the posterior the saved
        object had (same hyper-parameters, jitter, subsample and inducing points), and
        leaves the hyper-parameters - the next fit's warm start - unchanged.
        """
        if self._hyper is None:
            raise InputError("refit_posterior needs hyper-parameters: fit or load_state_dict first.")
        alphas = _ALPHAS
        if self._last_alpha is not None and self._last_alpha in _ALPHAS:
            alphas = _ALPHAS[_ALPHAS.index(self._last_alpha):]
        return self._fit(X, y, alphas, refit_only=True)

    def _reuses_hyperparameters(self, X: np.ndarray, y: np.ndarray) -> bool:
        """Lazy re-optimisation: the rows of the last optimisation plus at most
        ``reoptimize_growth`` more, in a group of >= ``reoptimize_min_rows`` rows."""
        last = self._last_optimization
        n_rows = X.shape[0]
        if (
            not (self.optimize and self.warm_start)
            or self.reoptimize_growth is None
            or self._hyper is None
            or last is None
            or n_rows < self.reoptimize_min_rows
            or not last["n_rows"] <= n_rows <= last["n_rows"] * (1.0 + self.reoptimize_growth)
        ):
            return False
        return _rows_digest(X, y, last["n_rows"]) == last["sha256"]

    def _fit(self, X: np.ndarray, y: np.ndarray, alphas: tuple[float, ...], refit_only: bool) -> GPSurrogate:
        started = time.perf_counter()
        names = _column_names(X)
        X, y = _check_training_data(X, y, self._known_n_features)
        n_rows, n_features = X.shape
        reused = not refit_only and self._reuses_hyperparameters(X, y)
        optimize = self.optimize and not refit_only and not reused
        start = self._start_point(n_features, optimize)

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
                self.n_hyperparameter_rows or min(self.max_exact, DEFAULT_HYPERPARAMETER_ROWS), n_rows
            )
            rows = np.sort(rng.choice(n_rows, size=n_sub, replace=False))
        X_fit = X_std if rows is None else X_std[rows]
        y_fit = y_std_space if rows is None else y_std_space[rows]
        gpr, recorded, alpha = self._fit_exact(X_fit, y_fit, start, alphas, optimize)

        if optimize:
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
            "optimized": optimize,
            "reused_hyperparameters": reused,
        }
        if mode == "inducing":
            m = min(self.n_inducing, n_rows)
            inducing = _choose_inducing(X_std, m, rng, self.inducing_init)
            posterior, jitter = _inducing_posterior(
                X_std, y_std_space, inducing, constant, rbf_length,
                hyper["noise_level"] + alpha, PREDICT_MEMORY_BYTES,
            )
            posterior.noise_level = hyper["noise_level"]
            info.update(n_inducing=int(m), inducing_jitter=jitter)
        else:
            posterior = _Posterior(
                basis=gpr.X_train_,
                weights=np.asarray(gpr.alpha_, dtype=float).ravel(),
                chol=gpr.L_,
                projection=None,
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
        self.predict_info_ = {}
        self._last_alpha = alpha
        if optimize:
            self._last_optimization = {"n_rows": int(n_rows), "sha256": _rows_digest(X, y, n_rows)}
        self._training = (X_std, y_std_space, hyper["noise_level"] + alpha)
        self._screen = None
        return self

    # ----------------------------------------------------------------- prediction

    def default_chunk_size(self, approximate: bool = False) -> int:
        """Candidates per chunk of ``predict``.

        The model's own posterior: about :data:`PREDICT_MEMORY_BYTES` of working memory
        per chunk (large triangular solves use BLAS best). The huge-pool path: kernel
        blocks of about :data:`PREDICT_BLOCK_BYTES` (at least 256 rows), which stay in
        the CPU caches; measured 1.5-2x faster than 100 MB blocks.
        """
        self._require_fitted()
        columns = self._posterior.size  # type: ignore[union-attr]
        if approximate:
            columns += min(self.n_inducing_predict, columns)
        by_memory = max(1, PREDICT_MEMORY_BYTES // (_ARRAYS_PER_CHUNK * 8 * columns))
        if not approximate:
            return by_memory
        return min(by_memory, max(256, PREDICT_BLOCK_BYTES // (8 * columns)))

    def approximates(self, n_candidates: int) -> bool:
        """Would ``predict`` on ``n_candidates`` rows use the huge-pool std (see ``max_exact_predict``)?"""
        self._require_fitted()
        return (
            self.max_exact_predict is not None
            and n_candidates > self.max_exact_predict
            and self._posterior.size >= 2 * self.n_inducing_predict  # type: ignore[union-attr]
        )

    def _screen_posterior(self) -> _Posterior:
        """The huge-pool std's inducing-point posterior (built on first use after a fit)."""
        if self._screen is None:
            assert self._training is not None and self._posterior is not None
            X_std, y_std_space, noise_variance = self._training
            m = min(self.n_inducing_predict, X_std.shape[0])
            # Own seed stream, so the points do not depend on what the fit drew.
            rng = np.random.default_rng(
                None if self.random_state is None else [self.random_state, 1]
            )
            inducing = _choose_inducing(X_std, m, rng, self.inducing_init, all_rows_if_m_ge_n=True)
            self._screen, _ = _inducing_posterior(
                X_std, y_std_space, inducing, self._posterior.constant,
                self._posterior.length_scale, noise_variance, PREDICT_MEMORY_BYTES,
            )
        return self._screen

    def predict(
        self,
        X: np.ndarray,
        *,
        include_noise: bool | None = None,
        chunk_size: int | None = None,
        approximate: bool | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior ``(mean, std)`` at the rows of ``X``, in target units.

        ``std`` is that of the latent function f; with ``include_noise=True`` (default: the
        constructor's ``include_noise``) the fitted noise variance is added. Candidates
        are processed ``chunk_size`` at a time (default: :meth:`default_chunk_size`);
        results do not depend on it.

        ``approximate``: ``None`` (default) uses the huge-pool std when
        :meth:`approximates` says so (more than ``max_exact_predict`` rows); ``False``
        never (the model's own posterior); ``True`` always, with
        ``min(n_inducing_predict, n_rows)`` inducing points (exact when that is every
        training row). The mean is always the model's own. ``predict_info_`` records
        what was done: ``approximate``, ``n_candidates``, ``n_basis``,
        ``n_inducing_predict``, ``seconds``.
        """
        started = time.perf_counter()
        self._require_fitted()
        X = _check_features(X, self.n_features_in_, "fitted")
        n_rows = X.shape[0]
        noisy = self.include_noise if include_noise is None else bool(include_noise)
        posterior = self._posterior
        assert posterior is not None and self._scaler is not None
        screen = None
        if approximate is None:
            approximate = self.approximates(n_rows)
        if approximate:
            screen = self._screen_posterior()
        if chunk_size is None:
            chunk_size = self.default_chunk_size(bool(approximate))
        else:
            chunk_size = check_int("chunk_size", chunk_size, low=1)
        centre, scale = self._scaler.mean_, self._scaler.scale_
        mean = np.empty(n_rows)
        variance = np.empty(n_rows)

        def one_chunk(start: int) -> None:
            stop = min(start + chunk_size, n_rows)
            block = (X[start:stop] - centre) / scale  # = StandardScaler.transform
            if screen is None:
                mean[start:stop], variance[start:stop] = posterior.predict(block)
            else:
                mean[start:stop] = posterior.mean(block)
                variance[start:stop] = screen.variance(block)

        starts = range(0, n_rows, chunk_size)
        if screen is None:
            for start in starts:
                one_chunk(start)
        else:
            # The huge-pool path: many cache-sized chunks, each with ONE BLAS thread (threaded
            # BLAS on such small products was up to 9x slower, even on an idle machine),
            # spread over worker threads (NumPy and BLAS release the GIL). Each chunk
            # writes its own slice, so the result does not depend on the scheduling.
            from concurrent.futures import ThreadPoolExecutor

            with _one_blas_thread():
                if len(starts) < 2 or _PREDICT_WORKERS < 2:
                    for start in starts:
                        one_chunk(start)
                else:
                    with ThreadPoolExecutor(_PREDICT_WORKERS) as pool:
                        for _ in pool.map(one_chunk, starts):
                            pass
        if noisy:
            variance += posterior.noise_level
        mean *= self._y_std
        mean += self._y_mean
        std = np.sqrt(variance)
        std *= self._y_std
        self.predict_info_ = {
            "approximate": bool(approximate),
            "n_candidates": int(n_rows),
            "n_basis": posterior.size,
            "n_inducing_predict": screen.size if screen is not None else None,
            "seconds": time.perf_counter() - started,
        }
        return mean, std

    # ----------------------------------------------------------------- checkpoints

_DEFAULT_CONFIG: dict = GPSurrogate()._config()


