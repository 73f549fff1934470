"""A synthetic, deliberately biased dataset for tests, demos and benchmarks.

The generator mimics the situation ET-AL addresses: groups (think crystal systems) of very
different sizes whose target values (think formation energy, eV/atom) cover ranges of very
different width, so their differential entropies differ. Group size and target diversity
are drawn independently, so a large group can still be under-represented.

Construction (all vectorised; 10^6 rows take well under a second):

* **sizes**: Zipf-like weights ``1 / rank**size_skew`` on top of a floor of
  :data:`MIN_GROUP_ROWS` rows per group (largest-remainder rounding, so sizes sum to n).
* **features** ``f0..f{d-1}``: each group has a centre ``c_g`` and a spread ``s_g``;
  a row is ``x = c_g + s_g * z``. ``z`` is standard normal except along one fixed
  direction ``v1``, where its shape depends on the group (cycling normal, two-mode
  mixture, right-skewed), so groups differ in shape as well as width. The spreads are
  ``exp(spread_skew * u_g)`` with ``u_g`` evenly spaced in [-1, 1] and randomly assigned
  to groups: some groups are narrow (under-represented), some wide.
* **target**: a smooth nonlinear function of the features plus Gaussian noise,
  ``y = -0.3 + 0.6 tanh(x·v1) + 0.2 x·v2 + 0.15 sin(2 x·v3) + noise * N(0, 1)``, so a GP
  (or any smooth regressor) can learn it. ``v1..v3`` are fixed unit vectors (the same
  "physics" for every seed).
* **pool**: in each group ``round(pool_fraction * size)`` rows (keeping at least
  :data:`MIN_LABELLED` labelled rows per group) get a NaN target.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..params import check_float, check_int

__all__ = ["MIN_GROUP_ROWS", "MIN_LABELLED", "synthetic"]

#: Every group gets at least this many rows.
MIN_GROUP_ROWS = 10
#: ``pool_fraction`` never leaves a group with fewer labelled rows than this.
MIN_LABELLED = 5
_SHAPES = ("normal", "bimodal", "skewed")
_FUNCTION_SEED = 20230403  # fixed: the target function does not change with ``seed``


def _group_names(groups: int | Sequence[str]) -> list[str]:
    if isinstance(groups, numbers.Integral) and not isinstance(groups, bool):
        k = check_int("groups", groups, low=1, where="synthetic")
        width = len(str(k - 1))
        return [f"g{i:0{width}d}" for i in range(k)]  # zero-padded so they sort in order
    if isinstance(groups, str) or not isinstance(groups, Sequence):
        raise InputError(
            f"synthetic: groups must be a number of groups or a list of group names, got {groups!r}"
        )
    names = [str(g) for g in groups]
    if not names or any(not n.strip() for n in names):
        raise InputError(f"synthetic: group names must be non-empty strings, got {list(groups)!r}")
    if len(set(names)) != len(names):
        raise InputError(f"synthetic: group names must be unique, got {names!r}")
    return names


def _group_sizes(n: int, k: int, size_skew: float) -> np.ndarray:
    """Zipf-like sizes ``1/rank**size_skew`` above a floor, summing exactly to ``n``."""
    weights = 1.0 / np.arange(1, k + 1, dtype=float) ** size_skew
    extra = n - k * MIN_GROUP_ROWS
    share = extra * weights / weights.sum()
    sizes = np.floor(share).astype(np.int64)
    remainder = extra - int(sizes.sum())
    # largest remainder first; ties broken by rank so the result is deterministic
    order = np.lexsort((np.arange(k), -(share - sizes)))
    sizes[order[:remainder]] += 1
    return sizes + MIN_GROUP_ROWS


def _unit_vectors(d: int) -> np.ndarray:
    """Three fixed unit vectors in R^d (orthonormal when d >= 3)."""
    rng = np.random.default_rng(_FUNCTION_SEED)
    raw = rng.standard_normal((d, 3))
    if d >= 3:
        q, _ = np.linalg.qr(raw)
        return q.T
    return raw.T / np.linalg.norm(raw, axis=0)[:, None]


def _shape_draws(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Standardised-ish latent coordinate along v1 for one group."""
    if shape == "normal":
        return rng.standard_normal(size)
    if shape == "bimodal":  # two modes at -1.2 and +1.2 (variance ~ 1.44 + 0.36)
        return np.where(rng.random(size) < 0.5, -1.2, 1.2) + 0.6 * rng.standard_normal(size)
    return rng.exponential(1.0, size) - 1.0  # right-skewed, mean 0


def synthetic(
    n: int = 2000,
    groups: int | Sequence[str] = 5,
    *,
    n_features: int = 8,
    size_skew: float = 1.5,
    spread_skew: float = 1.0,
    noise: float = 0.05,
    pool_fraction: float = 0.0,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Generate a biased grouped regression dataset (columns ``id, group, target, f*``).

    Parameters
    ----------
    n : total rows (at least ``MIN_GROUP_ROWS`` per group).
    groups : number of groups (named ``g0``, ``g1``, ...; ``g0`` is the largest) or
        their names (the first is the largest).
    n_features : number of feature columns ``f0..f{n_features-1}``.
    size_skew : Zipf exponent of the group sizes (0 = equal sizes).
    spread_skew : log-ratio scale of group spreads (0 = all groups equally wide; 1 = the
        widest group's features are e^2 ≈ 7.4 times as spread as the narrowest's).
    noise : standard deviation of the Gaussian noise added to the target (target units,
        think eV/atom).
    pool_fraction : fraction of each group's rows whose target is NaN (the unlabelled
        pool), in [0, 1); at least ``MIN_LABELLED`` rows per group stay labelled.
    seed : seed of :func:`numpy.random.default_rng`; same seed, same frame. ``None``
        draws fresh entropy.

    Returns
    -------
    DataFrame with rows in random order, ``id`` = 0..n-1, ``group`` (str), ``target``
    (float, NaN for pool rows) and ``f0..`` (float). ``frame.attrs["etal"]`` names the
    roles of the columns, so ``etal.data.load_data(frame)`` needs no column arguments.
    """
    names = _group_names(groups)
    k = len(names)
    n = check_int("n", n, low=1, where="synthetic")
    if n < k * MIN_GROUP_ROWS:
        raise InputError(
            f"synthetic: n={n} is too small for {k} groups; every group needs at least "
            f"{MIN_GROUP_ROWS} rows, so n must be >= {k * MIN_GROUP_ROWS}"
        )
    d = check_int("n_features", n_features, low=1, where="synthetic")
    size_skew = check_float("size_skew", size_skew, low=0.0, high=10.0, where="synthetic")
    spread_skew = check_float("spread_skew", spread_skew, low=0.0, high=5.0, where="synthetic")
    noise = check_float("noise", noise, low=0.0, where="synthetic")
    pool_fraction = check_float("pool_fraction", pool_fraction, low=0.0, high=1.0, high_open=True, where="synthetic")
    seed = check_int("seed", seed, low=0, allow_none=True, where="synthetic")
    rng = np.random.default_rng(seed)

    sizes = _group_sizes(n, k, size_skew)
    codes = np.repeat(np.arange(k), sizes)  # group code per row, grouped for now

    # Per-group centre, spread and shape; spreads assigned to groups at random so that
    # size and diversity are independent.
    centres = 0.7 * rng.standard_normal((k, d))
    log_spread = spread_skew * (np.linspace(-1.0, 1.0, k) if k > 1 else np.zeros(1))
    spreads = np.exp(rng.permutation(log_spread))
    shapes = [_SHAPES[i % len(_SHAPES)] for i in rng.permutation(k)]

    v = _unit_vectors(d)
    z = rng.standard_normal((n, d))
    latent = np.concatenate([_shape_draws(shapes[g], int(sizes[g]), rng) for g in range(k)])
    z += np.outer(latent - z @ v[0], v[0])  # replace the v1 coordinate by the shaped draw
    x = centres[codes] + spreads[codes, None] * z

    target = (
        -0.3
        + 0.6 * np.tanh(x @ v[0])
        + 0.2 * (x @ v[1])
        + 0.15 * np.sin(2.0 * (x @ v[2]))
        + noise * rng.standard_normal(n)
    )

    if pool_fraction > 0:
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        n_pool = np.minimum(np.rint(pool_fraction * sizes).astype(np.int64), sizes - MIN_LABELLED)
        # a random rank within each group; the n_pool lowest-ranked rows go to the pool
        keys = rng.random(n)
        order = np.lexsort((keys, codes))  # rows sorted by group, then by key
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - starts[codes[order]]
        target[rank < n_pool[codes]] = np.nan

    perm = rng.permutation(n)
    feature_names = [f"f{j}" for j in range(d)]
    frame = pd.DataFrame(x[perm], columns=feature_names)
    frame.insert(0, "target", target[perm])
    frame.insert(0, "group", pd.Series(np.asarray(names, dtype=object)[codes[perm]]).astype(str))
    frame.insert(0, "id", np.arange(n, dtype=np.int64))
    frame.attrs["etal"] = {"group": "group", "target": "target", "id": "id", "features": feature_names}
    return frame
