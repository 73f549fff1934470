"""Acquisition: exact insertion update, expected entropy (quadrature, Monte Carlo) and EI.

Independent truths: a full re-estimate with etal.entropy.entropy_of_sorted (itself equal
to SciPy), scipy.integrate.quad over the smooth pieces of h, 200,000-draw Monte Carlo,
SciPy's normal distribution, and hand-computed values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import assume, given, settings
from hypothesis import strategies as hs
from scipy import integrate

from etal.acquisition import (
    DEFAULT_N_NODES,
    entropy_after_insertion,
    expected_entropy,
    expected_improvement,
)
from etal.entropy import METHODS, data_resolution, entropy_of_sorted, resolve_method
from etal.errors import ConstantValuesError, InputError, TooFewValuesError

ALL_METHODS = ["auto", *METHODS]


def brute_force(labelled: np.ndarray, y: np.ndarray, method: str, resolution: float) -> np.ndarray:
    """h(L ∪ {y_i}) by sorting the enlarged sample and re-estimating, one row per y_i."""
    rows = np.concatenate((np.broadcast_to(labelled, (y.size, labelled.size)), y.reshape(-1, 1)), axis=1)
    with np.errstate(divide="ignore"):  # Correa on a window of equal values, see below
        return entropy_of_sorted(np.sort(rows, axis=1), method, resolution=resolution)


def probe_values(x: np.ndarray) -> np.ndarray:
    """y below, inside and above the data, on every data value, and at the ends."""
    span = x[-1] - x[0]
    return np.concatenate((
        [x[0] - 3 * span, x[0] - 1e-3 * span, x[-1] + 1e-3 * span, x[-1] + 3 * span],
        np.linspace(x[0], x[-1], 23),
        x,
        0.5 * (x[1:] + x[:-1]),
    ))


# --------------------------------------------------------------------------- exact update


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("n", [4, 5, 9, 10, 11, 30, 300])
def test_insertion_equals_brute_force(method: str, n: int) -> None:
    rng = np.random.default_rng(n)
    for x in (np.sort(rng.gamma(2.0, 1.0, n)), np.sort(rng.normal(size=n))):
        y = probe_values(x)
        res = data_resolution(x)
        got = entropy_after_insertion(x, y, method)
        np.testing.assert_allclose(got, brute_force(x, y, method, res), rtol=0, atol=1e-11)


@pytest.mark.parametrize("method", ALL_METHODS)
def test_insertion_with_ties_equals_brute_force(method: str) -> None:
    rng = np.random.default_rng(7)
    for n in (6, 13, 40, 120):
        # rounded data: pairs and triples of equal values, zero windowed spacings
        x = np.sort(np.round(rng.gamma(2.0, 1.0, n), 1))
        y = probe_values(x)
        res = data_resolution(x)
        ref = brute_force(x, y, method, res)
        got = entropy_after_insertion(x, y, method)
        if resolve_method(method, n + 1) == "correa":
            # entropy_of_sorted may give inf for a window of equal values (see
            # test_correa_window_of_equal_values); compare where it is finite.
            finite = np.isfinite(ref)
            assert finite.mean() > 0.5
            got, ref = got[finite], ref[finite]
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-11)


def test_insertion_keeps_shape_and_default_resolution() -> None:
    x = np.sort(np.random.default_rng(3).normal(size=25))
    y = np.linspace(-3, 3, 12).reshape(3, 4)
    got = entropy_after_insertion(x, y)
    assert got.shape == (3, 4)
    np.testing.assert_array_equal(got, entropy_after_insertion(x, y, resolution=data_resolution(x)))
    assert entropy_after_insertion(x, 0.5).shape == ()


def test_hand_computed_vasicek_insertion() -> None:
    # L = [1, 2, 4, 8], y = 16: the example of test_entropy (n' = 5, m = 2).
    spacings = np.array([3.0, 7.0, 15.0, 14.0, 12.0])
    expected = np.mean(np.log(5 / 4 * spacings))
    got = entropy_after_insertion(np.array([1.0, 2.0, 4.0, 8.0]), np.array([16.0]), "vasicek")
    assert got[0] == pytest.approx(expected, abs=1e-14)


def correa_reference(sorted_values: np.ndarray, resolution: float) -> float:
    """Correa's estimator written out window by window; a window of equal values gets the
    floor slope 2m / (n resolution) (the tie policy of etal.entropy)."""
    n = sorted_values.size
    m = math.floor(math.sqrt(n) + 0.5)
    total = 0.0
    for i in range(n):
        window = [sorted_values[min(max(j, 0), n - 1)] for j in range(i - m, i + m + 1)]
        if max(window) == min(window):
            total += math.log(2 * m / (n * resolution))
            continue
        mean = sum(window) / len(window)
        num = sum((w - mean) * (j - m) for j, w in enumerate(window))
        den = n * sum((w - mean) ** 2 for w in window)
        total += math.log(num / den)
    return -total / n


def test_correa_window_of_equal_values() -> None:
    x = np.array([0.1, 0.1, 0.1, 0.1, 0.3, 0.7, 0.9, 1.4])
    res = data_resolution(x)
    y = np.array([0.1, 0.2, 0.8, -1.0, 2.0])
    got = entropy_after_insertion(x, y, "correa")
    for value, expected_y in zip(got, y):
        assert value == pytest.approx(correa_reference(np.sort(np.append(x, expected_y)), res), abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    hs.lists(hs.integers(-400, 400), min_size=4, max_size=300),
    hs.lists(hs.integers(-900, 900), min_size=1, max_size=12),
    hs.sampled_from(ALL_METHODS),
    hs.floats(0.01, 100.0),
)
def test_property_insertion_equals_brute_force(values, probes, method, scale) -> None:
    # integers times a scale: ties are common, spacings are never sub-normal
    x = np.sort(np.asarray(values, float) * scale)
    assume(x[-1] > x[0])
    y = np.concatenate((np.asarray(probes, float) * scale, x[:: max(1, x.size // 5)]))
    res = data_resolution(x)
    ref = brute_force(x, y, method, res)
    got = entropy_after_insertion(x, y, method)
    if resolve_method(method, x.size + 1) == "correa":
        finite = np.isfinite(ref)  # see test_correa_window_of_equal_values
        got, ref = got[finite], ref[finite]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-11)


# --------------------------------------------------------------------------- quadrature


def piecewise_quad_reference(x, mu, sigma, method="auto"):
    """Mean and std of h(x ∪ {Y}), Y ~ N(mu, sigma^2), with scipy.integrate.quad on each
    smooth piece (between consecutive labelled values) of mu +- 9 sigma."""
    x = np.sort(x)

    def h(y: float) -> float:
        return float(entropy_after_insertion(x, np.array([y]), method)[0])

    def pdf(y: float) -> float:
        return st.norm.pdf(y, mu, sigma)

    edges = np.unique(np.concatenate(([mu - 9 * sigma, mu + 9 * sigma],
                                      x[(x > mu - 9 * sigma) & (x < mu + 9 * sigma)])))
    pieces = list(zip(edges[:-1], edges[1:]))
    mean = sum(integrate.quad(lambda y: h(y) * pdf(y), a, b, epsabs=1e-13, limit=200)[0] for a, b in pieces)
    var = sum(integrate.quad(lambda y: (h(y) - mean) ** 2 * pdf(y), a, b, epsabs=1e-15, limit=200)[0]
              for a, b in pieces)
    return mean, math.sqrt(var)


def candidates_for(x: np.ndarray, extreme: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Posteriors inside and outside the data, sigma from 1e-3 to 3 data spacings and
    from 0.05 to 1 data std; ``extreme`` adds one far outside the data and one with a
    sigma of 20 data std."""
    spacing = (x.max() - x.min()) / (x.size - 1)
    sd = x.std()
    mu = [np.median(x), x.min() + 0.3 * spacing, x.max() + 2 * sd, x.min() - 0.5 * sd,
          np.percentile(x, 80), np.mean(x), x.max(), np.percentile(x, 30)]
    sigma = [1e-3 * spacing, 0.4 * spacing, 0.3 * sd, 0.2 * sd, 3 * spacing, sd, 0.05 * sd, 0.6 * sd]
    if extreme:
        mu, sigma = mu + [x.max() + 5 * sd, np.median(x)], sigma + [0.1 * sd, 20 * sd]
    return np.array(mu), np.array(sigma)


@pytest.mark.parametrize("n", [9, 10, 50, 200, 1500])
def test_quadrature_matches_200k_monte_carlo(n: int) -> None:
    """Mean and std within 1e-3 nats of 200,000 draws (n = 9: van Es, 10/50/200:
    Ebrahimi, 1500: Vasicek, each for the n + 1 values)."""
    rng = np.random.default_rng(100 + n)
    x = rng.gamma(2.0, 0.5, n) - 0.8  # skewed, like formation energies (eV/atom)
    mu, sigma = candidates_for(x)
    mean, std = expected_entropy(x, mu, sigma)
    draws = 200_000
    for c in range(mu.size):
        y = mu[c] + sigma[c] * np.random.default_rng(c).standard_normal(draws)
        h = entropy_after_insertion(np.sort(x), y)
        assert abs(mean[c] - h.mean()) < 1e-3
        assert abs(std[c] - h.std()) < 1e-3
        # and within Monte Carlo error (5 standard errors)
        assert abs(mean[c] - h.mean()) < 5 * h.std() / math.sqrt(draws) + 1e-12


@pytest.mark.parametrize("n, method", [(5, "auto"), (12, "auto"), (12, "correa"), (40, "van es"),
                                       (40, "vasicek")])
def test_quadrature_matches_adaptive_integration(n: int, method: str) -> None:
    rng = np.random.default_rng(n)
    x = rng.gamma(2.0, 0.5, n)
    mu, sigma = candidates_for(x, extreme=True)
    mean, std = expected_entropy(x, mu, sigma, method=method)
    for c in range(mu.size):
        ref_mean, ref_std = piecewise_quad_reference(x, mu[c], sigma[c], method)
        assert abs(mean[c] - ref_mean) < 5e-5
        assert abs(std[c] - ref_std) < 5e-5


def test_quadrature_with_ties_matches_adaptive_integration() -> None:
    rng = np.random.default_rng(11)
    x = np.round(rng.gamma(2.0, 0.5, 9), 1)  # van Es with tied values: log singularities
    assert len(np.unique(x)) < x.size
    mu, sigma = candidates_for(x, extreme=True)
    mean, std = expected_entropy(x, mu, sigma)
    for c in range(mu.size):
        ref_mean, ref_std = piecewise_quad_reference(x, mu[c], sigma[c])
        assert abs(mean[c] - ref_mean) < 5e-5
        assert abs(std[c] - ref_std) < 5e-5


def test_sigma_zero_is_the_entropy_at_mu() -> None:
    x = np.random.default_rng(5).normal(size=30)
    mu = np.array([-5.0, 0.1, x[3], 4.0])
    for estimator in ("quadrature", "mc"):
        mean, std = expected_entropy(x, mu, np.zeros(4), estimator, seed=0)
        np.testing.assert_array_equal(std, 0.0)
        np.testing.assert_allclose(mean, entropy_after_insertion(np.sort(x), mu), atol=1e-15)


def test_quadrature_chunks_shapes_and_nodes() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=60)
    mu = rng.normal(size=(5, 7))
    sigma = rng.uniform(0.0, 1.0, size=(5, 7))
    mean, std = expected_entropy(x, mu, sigma)
    assert mean.shape == std.shape == (5, 7)
    small_chunks = expected_entropy(x, mu, sigma, chunk_size=3)
    np.testing.assert_array_equal(mean, small_chunks[0])
    np.testing.assert_array_equal(std, small_chunks[1])
    more_nodes = expected_entropy(x, mu, sigma, n_nodes=3 * DEFAULT_N_NODES)
    np.testing.assert_allclose(more_nodes[0], mean, atol=2e-6)
    np.testing.assert_allclose(more_nodes[1], std, atol=2e-6)
    scalar = expected_entropy(x, 0.3, 0.2)
    assert scalar[0].shape == () and scalar[0] == pytest.approx(expected_entropy(x, [0.3], [0.2])[0][0])


def test_labelled_order_does_not_matter_and_constant_needs_resolution() -> None:
    x = np.random.default_rng(9).normal(size=20)
    a = expected_entropy(x, [0.0, 1.0], [0.5, 0.1])
    b = expected_entropy(x[::-1].copy(), [0.0, 1.0], [0.5, 0.1])
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ConstantValuesError, match="resolution="):
        expected_entropy(np.full(6, 0.25), [0.3], [0.1])
    mean, std = expected_entropy(np.full(6, 0.25), [0.25, 1.0], [0.1, 0.1], resolution=0.01)
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    assert mean[1] > mean[0]  # a value away from the constant block adds more diversity


# --------------------------------------------------------------------------- Monte Carlo


def test_monte_carlo_is_seeded_and_chunk_independent() -> None:
    rng = np.random.default_rng(10)
    x = rng.gamma(2.0, 1.0, 40)
    mu, sigma = rng.uniform(0, 5, 9), rng.uniform(0.01, 1.0, 9)
    a = expected_entropy(x, mu, sigma, "mc", n_samples=300, seed=4)
    b = expected_entropy(x, mu, sigma, "mc", n_samples=300, seed=4, chunk_size=2)
    c = expected_entropy(x, mu, sigma, "mc", n_samples=300, seed=np.random.default_rng(4))
    d = expected_entropy(x, mu, sigma, "mc", n_samples=300, seed=5)
    for other in (b, c):
        np.testing.assert_array_equal(a[0], other[0])
        np.testing.assert_array_equal(a[1], other[1])
    assert not np.array_equal(a[0], d[0])
    # exactly the paper's recipe: draws, full re-estimation, mean and (population) std
    draws = mu[:, None] + sigma[:, None] * np.random.default_rng(4).standard_normal((9, 300))
    h = brute_force(np.sort(x), draws.ravel(), "auto", data_resolution(np.sort(x))).reshape(9, 300)
    np.testing.assert_allclose(a[0], h.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(a[1], h.std(axis=1), atol=1e-12)


@pytest.mark.parametrize("n", [8, 60, 400])
def test_monte_carlo_agrees_with_quadrature(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.gamma(2.0, 0.5, n)
    mu, sigma = candidates_for(x)
    q_mean, q_std = expected_entropy(x, mu, sigma)
    samples = 4000
    m_mean, m_std = expected_entropy(x, mu, sigma, "mc", n_samples=samples, seed=1)
    assert np.all(np.abs(m_mean - q_mean) <= 5 * q_std / math.sqrt(samples) + 1e-12)
    assert np.all(np.abs(m_std - q_std) <= 5 * q_std / math.sqrt(samples) * 2 + 1e-12)


# --------------------------------------------------------------------------- expected improvement


def test_expected_improvement_hand_computed() -> None:
    # mean 1.2, std 0.5, incumbent 1.0: z = 0.4,
    # EI = 0.2 * Phi(0.4) + 0.5 * phi(0.4) = 0.2 * 0.65542174 + 0.5 * 0.36827014
    expected = 0.2 * 0.5 * (1 + math.erf(0.4 / math.sqrt(2))) + 0.5 * math.exp(-0.08) / math.sqrt(2 * math.pi)
    assert expected == pytest.approx(0.31521941, abs=1e-8)
    assert float(expected_improvement(1.2, 0.5, 1.0)) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("z", [-30.0, -12.0, -6.0, -2.5, -1.0, -0.3, 0.0, 0.7, 2.0, 5.0])
def test_expected_improvement_is_the_integral(z: float) -> None:
    std, incumbent = 0.03, 1.5
    mean = incumbent + z * std
    got = float(expected_improvement(mean, std, incumbent))
    closed = (mean - incumbent) * st.norm.cdf(z) + std * st.norm.pdf(z)
    # E[max(H - incumbent, 0)], H ~ N(mean, std^2), integrated numerically (in units of std)
    integral = std * integrate.quad(lambda t: (t - (-z)) * st.norm.pdf(t), -z, np.inf,
                                    epsabs=0, epsrel=1e-11)[0]
    assert got == pytest.approx(integral, rel=1e-7)
    if z > -6:  # the textbook formula is still free of cancellation here
        assert got == pytest.approx(closed, rel=1e-10)
    assert got > 0


def test_expected_improvement_std_zero_and_monotone() -> None:
    ei = expected_improvement(np.array([0.5, 1.0, 1.5]), np.zeros(3), 1.0)
    np.testing.assert_array_equal(ei, [0.0, 0.0, 0.5])
    means = np.linspace(-1, 3, 401)
    ei = expected_improvement(means, np.full(means.size, 0.2), 1.0)
    assert np.all(np.diff(ei) > 0)
    stds = np.linspace(0.01, 2, 200)
    assert np.all(np.diff(expected_improvement(np.full(200, 0.8), stds, 1.0)) > 0)


# --------------------------------------------------------------------------- validation


def test_input_errors_are_clear() -> None:
    x = np.random.default_rng(12).normal(size=10)
    with pytest.raises(InputError, match=r"non-finite value\(s\).*position\(s\) \[2\]"):
        expected_entropy(np.array([1.0, 2.0, np.nan, 3.0, 4.0]), [0.0], [1.0])
    with pytest.raises(InputError, match="1-D"):
        expected_entropy(x.reshape(2, 5), [0.0], [1.0])
    with pytest.raises(TooFewValuesError, match="at least 4"):
        expected_entropy([1.0, 2.0, 3.0], [0.0], [1.0])
    with pytest.raises(InputError, match=r"sigma must be finite and >= 0.*candidate\(s\) \[1\]"):
        expected_entropy(x, [0.0, 0.0], [1.0, -0.1])
    with pytest.raises(InputError, match=r"sigma .*candidate\(s\) \[0\]"):
        expected_entropy(x, [0.0], [np.nan])
    with pytest.raises(InputError, match=r"mu has 1 non-finite.*candidate\(s\) \[2\]"):
        expected_entropy(x, [0.0, 1.0, np.nan], [1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="same shape"):
        expected_entropy(x, [0.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="unknown estimator"):
        expected_entropy(x, [0.0], [1.0], estimator="bayes")
    with pytest.raises(InputError, match="unknown entropy method"):
        expected_entropy(x, [0.0], [1.0], method="kozachenko")
    with pytest.raises(InputError, match="n_samples must be an integer >= 2"):
        expected_entropy(x, [0.0], [1.0], "mc", n_samples=1)
    with pytest.raises(InputError, match="n_nodes"):
        expected_entropy(x, [0.0], [1.0], n_nodes=0)
    with pytest.raises(InputError, match="chunk_size"):
        expected_entropy(x, [0.0], [1.0], chunk_size=1.5)
    with pytest.raises(InputError, match="resolution must be a finite number > 0"):
        expected_entropy(x, [0.0], [1.0], resolution=-1.0)
    with pytest.raises(InputError, match="sorted ascending"):
        entropy_after_insertion(np.sort(x)[::-1].copy(), [0.0])
    with pytest.raises(InputError, match="y has 1 non-finite"):
        entropy_after_insertion(np.sort(x), [0.0, np.inf])
    with pytest.raises(InputError, match="numeric"):
        entropy_after_insertion(np.sort(x), ["a"])
    with pytest.raises(InputError, match="incumbent must be finite"):
        expected_improvement([0.1], [0.1], float("-inf"))
    with pytest.raises(InputError, match=r"std must be finite and >= 0.*\[1\]"):
        expected_improvement([0.1, 0.2], [0.1, -1.0], 0.0)
    with pytest.raises(InputError, match="mean has non-finite"):
        expected_improvement([np.nan], [0.1], 0.0)
