"""Tests of etal.datasets.synthetic: determinism, sizes, skew, learnability, entropy spread."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from etal.data import load_data
from etal.datasets._synthetic import MIN_GROUP_ROWS, MIN_LABELLED, synthetic
from etal.errors import InputError


def test_reexported_lazily_from_the_package():
    import etal

    expected = synthetic(300, 3, seed=4)
    pd.testing.assert_frame_equal(etal.datasets.synthetic(300, 3, seed=4), expected)
    pd.testing.assert_frame_equal(etal.synthetic(300, 3, seed=4), expected)


def test_columns_dtypes_and_attrs():
    frame = synthetic(500, groups=4, n_features=3)
    assert list(frame.columns) == ["id", "group", "target", "f0", "f1", "f2"]
    assert frame["id"].tolist() == list(range(500))
    assert frame["target"].dtype == np.float64
    assert all(isinstance(g, str) for g in frame["group"])
    assert sorted(frame["group"].unique()) == ["g0", "g1", "g2", "g3"]
    assert frame.attrs["etal"] == {"group": "group", "target": "target", "id": "id", "features": ["f0", "f1", "f2"]}
    assert np.isfinite(frame[["target", "f0", "f1", "f2"]].to_numpy()).all()


def test_deterministic_for_a_seed_and_different_across_seeds():
    a = synthetic(1000, seed=7, pool_fraction=0.3)
    b = synthetic(1000, seed=7, pool_fraction=0.3)
    pd.testing.assert_frame_equal(a, b)
    c = synthetic(1000, seed=8, pool_fraction=0.3)
    assert not np.allclose(a[["f0", "f1"]].to_numpy(), c[["f0", "f1"]].to_numpy())


def test_group_names_and_sizes():
    frame = synthetic(1234, groups=["cubic", "hexagonal", "triclinic"], size_skew=2.0)
    sizes = frame["group"].value_counts()
    assert sizes.sum() == 1234 and set(sizes.index) == {"cubic", "hexagonal", "triclinic"}
    # Zipf-like with exponent 2 above the floor: the first name is the largest
    extra = 1234 - 3 * MIN_GROUP_ROWS
    expected = extra * np.array([1, 1 / 4, 1 / 9]) / (1 + 1 / 4 + 1 / 9) + MIN_GROUP_ROWS
    np.testing.assert_allclose(sizes[["cubic", "hexagonal", "triclinic"]].to_numpy(), expected, atol=1)
    assert len(synthetic(120, groups=12)) == 120  # the floor alone: 12 groups x 10 rows
    assert (synthetic(120, groups=12)["group"].value_counts() == MIN_GROUP_ROWS).all()
    names = sorted(synthetic(200, groups=11)["group"].unique())
    assert names[:2] == ["g00", "g01"] and names[-1] == "g10"  # zero-padded: sorts in order


def test_size_skew():
    sizes = synthetic(5000, groups=6, size_skew=1.5)["group"].value_counts()
    assert sizes.min() >= MIN_GROUP_ROWS
    assert sizes.max() > 8 * sizes.min()
    equal = synthetic(600, groups=6, size_skew=0.0)["group"].value_counts()
    assert (equal == 100).all()


def test_target_is_learnable_from_features():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    frame = synthetic(700, groups=4, n_features=4, seed=3)
    x = frame[["f0", "f1", "f2", "f3"]].to_numpy()
    y = frame["target"].to_numpy()
    kernel = ConstantKernel() * RBF(np.ones(4)) + WhiteKernel(1e-2)
    gp = GaussianProcessRegressor(kernel, normalize_y=True).fit(x[:300], y[:300])
    r2_gp = gp.score(x[300:], y[300:])  # held-out rows
    assert r2_gp > 0.8
    # each feature alone carries little, so the signal is genuinely multivariate
    assert max(abs(stats.pearsonr(x[:, j], y)[0]) for j in range(4)) < 0.9


def test_noise_sets_the_irreducible_error():
    # same seed and draws except the noise term: the difference is noise * N(0, 1)
    clean = synthetic(20000, noise=0.0, seed=5)["target"].to_numpy()
    noisy = synthetic(20000, noise=0.2, seed=5)["target"].to_numpy()
    assert np.std(noisy - clean) == pytest.approx(0.2, rel=0.03)


def test_group_entropies_differ():
    from etal.entropy import estimate_entropy

    frame = synthetic(4000, groups=5, spread_skew=1.0, seed=0)
    entropies = frame.groupby("group")["target"].apply(lambda s: estimate_entropy(s.to_numpy()).entropy)
    assert entropies.max() - entropies.min() > 0.5  # nats
    flat = synthetic(4000, groups=5, spread_skew=0.0, seed=0)
    spreads = flat.groupby("group")[["f0", "f1"]].std().to_numpy()
    assert spreads.max() / spreads.min() < 2.5  # without spread skew, features are about equally wide


def test_pool_fraction_per_group():
    frame = synthetic(2000, groups=5, pool_fraction=0.4, seed=2)
    per_group = frame.groupby("group")["target"].agg(size="size", pool=lambda s: int(s.isna().sum()))
    expected = np.minimum(np.rint(0.4 * per_group["size"]), per_group["size"] - MIN_LABELLED)
    np.testing.assert_array_equal(per_group["pool"].to_numpy(), expected.to_numpy())
    high = synthetic(200, groups=5, pool_fraction=0.95, seed=2)
    labelled = high["target"].notna().groupby(high["group"]).sum()
    assert (labelled >= MIN_LABELLED).all()
    ds = load_data(frame)  # validates, pool rows included
    assert len(ds.pool) == int(per_group["pool"].sum()) and ds.feature_cols == [f"f{j}" for j in range(8)]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 30, "groups": 5}, "n must be >= 50"),
        ({"n": 2.5}, "n must be an integer"),
        ({"groups": 0}, "groups must be an integer >= 1"),
        ({"groups": ["a", "a"]}, "unique"),
        ({"groups": ["a", ""]}, "non-empty"),
        ({"groups": "abc"}, "number of groups or a list"),
        ({"n_features": 0}, "n_features must be an integer >= 1"),
        ({"size_skew": -1}, "size_skew must be a finite number >= 0.0 and <= 10.0"),
        ({"spread_skew": float("nan")}, "spread_skew must be a finite number"),
        ({"noise": -0.1}, "noise must be"),
        ({"pool_fraction": 1.0}, "pool_fraction must be a finite number >= 0.0 and < 1.0"),
        ({"seed": -1}, "seed must be"),
        ({"seed": 1.5}, "seed must be"),
    ],
)
def test_argument_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        synthetic(**kwargs)


def test_single_feature_and_single_group():
    frame = synthetic(50, groups=1, n_features=1, seed=None)
    assert list(frame.columns) == ["id", "group", "target", "f0"] and set(frame["group"]) == {"g0"}
