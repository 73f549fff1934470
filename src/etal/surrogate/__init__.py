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

Scale (``docs/performance.md``): kernel blocks come from one GEMM and one in-place exp;
the inducing-point posterior's variance is one triangular matrix product (BLAS-3);
a pool larger than ``max_exact_predict`` gets the model's own mean but a std through
``n_inducing_predict`` inducing points (cheap screening; the strategies re-score their
shortlist exactly); groups of at least ``reoptimize_min_rows`` rows re-optimise their
hyper-parameters only when the rows have grown by ``reoptimize_growth``; small exact
fits run with one BLAS thread.

:class:`PooledGPSurrogate` (``"pooled-gp"``, :mod:`.pooled`) is one GP over all groups'
rows (group as one-hot features), hyper-parameters fitted once, exact rank-one updates
per new label: the model of the default strategy (:mod:`etal.strategies.deficit`).
"""

from .base import (
    CONSTANT_BOUNDS,
    DEFAULT_HYPERPARAMETER_ROWS,
    LENGTH_SCALE_BOUNDS,
    NOISE_LEVEL_BOUNDS,
    PREDICT_MEMORY_BYTES,
    SINGLE_THREAD_MAX_ROWS,
    Surrogate,
)
from .gp import GPSurrogate
from .pooled import PooledGPSurrogate
from .inducing import _blas_limited, _Posterior  # noqa: F401  (used by tests)
from .registry import available_surrogates, make_surrogate, register_surrogate

__all__ = [
    "CONSTANT_BOUNDS",
    "DEFAULT_HYPERPARAMETER_ROWS",
    "LENGTH_SCALE_BOUNDS",
    "NOISE_LEVEL_BOUNDS",
    "PREDICT_MEMORY_BYTES",
    "SINGLE_THREAD_MAX_ROWS",
    "GPSurrogate",
    "PooledGPSurrogate",
    "Surrogate",
    "available_surrogates",
    "make_surrogate",
    "register_surrogate",
]
