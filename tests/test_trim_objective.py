"""Trimming maths: the O(n) deletion update against from-scratch estimates, and D."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from etal.bias.scores import entropy_deficit
from etal.entropy import data_resolution, entropy_of_sorted, window_length
from etal.errors import InputError
from etal.trimming.objective import (
    deficit_after,
    deletion_entropies,
    estimator_at,
    group_entropy,
)


def _leave_one_out(x: np.ndarray, method: str, resolution: float) -> np.ndarray:
    """Independent truth: re-estimate every leave-one-out sample from scratch."""
    loo = np.array([np.delete(x, k) for k in range(x.size)])
    name = estimator_at(method, x.size - 1)[0]
    return entropy_of_sorted(loo, name, window_length(x.size - 1), resolution)


@settings(max_examples=150, deadline=None)
@given(
    n=hs.integers(6, 160),
    method=hs.sampled_from(["auto", "vasicek", "van es", "ebrahimi"]),
    decimals=hs.sampled_from([None, 1, 2]),
    seed=hs.integers(0, 2**31 - 1),
)
def test_deletion_entropies_equal_from_scratch(n, method, decimals, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * rng.uniform(0.1, 3)
    if decimals is not None:  # ties: zero spacings floored at the resolution
        x = np.round(x, decimals)
    x = np.sort(x)
    res = data_resolution(x)
    if not np.isfinite(res):
        res = 0.1
    got = deletion_entropies(x, method, res)
    assert got.shape == (n,)
    np.testing.assert_allclose(got, _leave_one_out(x, method, res), rtol=0, atol=1e-10)


@pytest.mark.parametrize("n", [11, 12, 1001, 1002, 1100])
def test_deletion_across_estimator_and_window_changes(n):
    # auto switches van Es -> Ebrahimi at 11 and Ebrahimi -> Vasicek at 1001 values;
    # deleting one value from n must use the estimator and window of n - 1.
    x = np.sort(np.random.default_rng(n).gamma(2.0, size=n))
    res = data_resolution(x)
    np.testing.assert_allclose(deletion_entropies(x, "auto", res), _leave_one_out(x, "auto", res), atol=1e-10)


def test_group_entropy_matches_scipy_without_ties():
    x = np.sort(np.random.default_rng(1).normal(size=400))
    assert group_entropy(x, "auto", data_resolution(x)) == pytest.approx(
        st.differential_entropy(x), abs=1e-12
    )
    assert np.isnan(group_entropy(x[:4], "auto", 0.1))


def test_correa_and_tiny_groups_are_refused():
    with pytest.raises(InputError, match="Correa"):
        estimator_at("correa", 50)
    with pytest.raises(InputError, match="at least 6"):
        deletion_entropies(np.arange(5.0), "auto", 1.0)


@settings(max_examples=60, deadline=None)
@given(hs.lists(hs.floats(-3, 3), min_size=2, max_size=8), hs.floats(-3, 3), hs.integers(0, 7))
def test_deficit_after_equals_entropy_deficit(h, v, g):
    g %= len(h)
    others = np.delete(np.array(h), g)
    got = deficit_after(v, others.max(), others.sum(), len(h))
    after = np.array(h, dtype=float)
    after[g] = v
    assert float(got) == pytest.approx(entropy_deficit(after), abs=1e-12)
