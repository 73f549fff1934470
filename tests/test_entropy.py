"""The entropy estimators against SciPy, hand-computed cases and the tie policy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from etal.entropy import (
    METHODS,
    count_ties,
    data_resolution,
    differential_entropy,
    entropy_of_sorted,
    estimate_entropy,
    resolve_method,
    window_length,
)
from etal.errors import ConstantValuesError, InputError, TiedValuesError, TooFewValuesError

SIZES = [5, 6, 7, 9, 10, 11, 12, 30, 100, 999, 1000, 1001, 2500, 5000]


@pytest.mark.parametrize("method", ["auto", *METHODS])
@pytest.mark.parametrize("n", SIZES)
def test_equals_scipy_on_random_data(method: str, n: int) -> None:
    rng = np.random.default_rng(n)
    for draw in (rng.normal(0.1, 0.4, n), rng.gamma(2.0, 1.5, n), rng.uniform(-3, 3, n)):
        ours = differential_entropy(draw, method=method)
        ref = st.differential_entropy(draw, method=method)
        assert abs(ours - ref) < 1e-10


@pytest.mark.parametrize("method", METHODS)
def test_explicit_window_equals_scipy(method: str) -> None:
    x = np.random.default_rng(1).normal(size=60)
    for m in (1, 3, 12, 29):
        assert abs(differential_entropy(x, method=method, window=m)
                   - st.differential_entropy(x, method=method, window_length=m)) < 1e-10


def test_batched_rows_equal_scipy() -> None:
    x = np.sort(np.random.default_rng(2).normal(size=(7, 40)), axis=-1)
    np.testing.assert_allclose(entropy_of_sorted(x), st.differential_entropy(x, axis=-1), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(hs.lists(hs.floats(-1e3, 1e3, allow_nan=False), min_size=5, max_size=200, unique=True),
       hs.sampled_from(["auto", *METHODS]))
def test_property_matches_scipy_without_ties(values: list[float], method: str) -> None:
    x = np.asarray(values)
    # Near-coincident floats can make SciPy's spacings zero too; skip those.
    if data_resolution(np.sort(x)) < 1e-9:
        return
    ref = st.differential_entropy(x, method=method)
    assert math.isfinite(ref)
    assert abs(differential_entropy(x, method=method) - ref) < 1e-8 * max(1.0, abs(ref))


@settings(max_examples=40, deadline=None)
@given(hs.lists(hs.floats(-50, 50, allow_nan=False), min_size=5, max_size=80), hs.floats(0.1, 10))
def test_property_shift_and_scale(values: list[float], scale: float) -> None:
    """h(aX + b) = h(X) + log a: the estimators are location/scale equivariant."""
    x = np.round(np.asarray(values), 3)
    est = estimate_entropy(x)
    if est.status != "ok":
        return
    moved = estimate_entropy(scale * x + 7.0)
    assert moved.status == "ok"
    assert abs(moved.entropy - (est.entropy + math.log(scale))) < 1e-6


def test_vasicek_hand_computed() -> None:
    # n=5, m=2: padded x = [1,1,1,2,4,8,16,16,16]; spacings x[i+2]-x[i-2] = 3,7,15,14,12.
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    spacings = np.array([3.0, 7.0, 15.0, 14.0, 12.0])
    expected = np.mean(np.log(5 / 4 * spacings))
    assert differential_entropy(x, method="vasicek") == pytest.approx(expected, abs=1e-14)


def test_auto_rule_and_window() -> None:
    assert [resolve_method("auto", n) for n in (5, 10, 11, 1000, 1001)] == [
        "van es", "van es", "ebrahimi", "ebrahimi", "vasicek"]
    assert [window_length(n) for n in (5, 6, 12, 13, 200, 201)] == [2, 2, 3, 4, 14, 14]
    with pytest.raises(InputError, match="unknown entropy method"):
        resolve_method("kozachenko", 50)


def test_too_few_is_a_status_and_an_error() -> None:
    est = estimate_entropy([0.1, 0.2, 0.3, 0.4])
    assert est.status == "too_few" and math.isnan(est.entropy)
    with pytest.raises(TooFewValuesError, match="at least 5"):
        differential_entropy([0.1, 0.2, 0.3, 0.4])


def test_ties_are_floored_counted_and_can_be_errors() -> None:
    x = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    assert count_ties(x) == 4
    assert st.differential_entropy(x) == -np.inf  # what SciPy gives
    est = estimate_entropy(x)
    assert est.status == "ok" and math.isfinite(est.entropy)
    assert est.ties == 4 and est.floored > 0 and est.resolution == 0.5
    # the floor is the resolution: same as replacing each zero spacing by 0.5 by hand
    n, m = 12, 3
    xp = np.concatenate([[x[0]] * m, x, [x[-1]] * m])
    spacing = xp[2 * m:] - xp[:-2 * m]
    spacing[spacing == 0] = 0.5
    i = np.arange(1, n + 1)
    c = np.where(i <= m, 1 + (i - 1) / m, np.where(i >= n - m + 1, 1 + (n - i) / m, 2.0))
    assert est.entropy == pytest.approx(np.mean(np.log(n * spacing / (c * m))), abs=1e-12)
    with pytest.raises(TiedValuesError, match="4 tied value"):
        estimate_entropy(x, ties="error")


def test_ties_without_zero_spacing_equal_scipy() -> None:
    x = np.array([0.0, 0.0, 1.0, 2.0, 3.5, 4.0, 4.5, 7.0, 9.0, 11.0, 12.0, 15.0])
    est = estimate_entropy(x)
    assert est.ties == 1 and est.floored == 0
    assert est.entropy == pytest.approx(st.differential_entropy(x), abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_finite_with_ties(method: str) -> None:
    x = np.array([1.0] * 6 + [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    assert math.isfinite(estimate_entropy(x, method=method).entropy)


def test_constant_and_non_finite() -> None:
    assert estimate_entropy([2.0] * 8).status == "constant"
    with pytest.raises(ConstantValuesError):
        differential_entropy([2.0] * 8)
    with pytest.raises(InputError, match="non-finite"):
        differential_entropy([1.0, 2.0, np.nan, 4.0, 5.0, 6.0])


def test_correa_window_of_equal_values_is_floored_not_inf() -> None:
    # 0.1 is not exactly representable: the rounded variance of five 0.1s is not 0
    x = np.array([0.1] * 5 + [0.3, 0.7, 1.2, 1.9, 2.4, 3.3, 4.0])
    est = estimate_entropy(x, method="correa")
    assert est.status == "ok" and math.isfinite(est.entropy) and est.floored >= 1
