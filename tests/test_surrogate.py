"""The GP surrogate against closed-form posteriors, sklearn, and its own contracts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from etal.errors import CheckpointError, InputError
from etal.surrogate import (
    NOISE_LEVEL_BOUNDS,
    GPSurrogate,
    Surrogate,
    available_surrogates,
    make_surrogate,
    register_surrogate,
)

FIXED = {"constant": 1.7, "length_scale": 0.8, "noise_level": 0.05}


SCALE, SHIFT = np.array([1.0, 30.0, 0.01]), np.array([0.0, 500.0, -1.0])


def smooth(X: np.ndarray) -> np.ndarray:
    """A smooth function of the features, each used on its own scale (eV/atom-like)."""
    u = (X - SHIFT) / SCALE
    return np.sin(1.3 * u[:, 0]) + 0.5 * np.cos(1.5 * u[:, 1]) + 0.3 * u[:, 2]


def noisy_data(n: int, seed: int, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2.0, 2.0, size=(n, 3)) * SCALE + SHIFT
    return X, smooth(X) + noise * rng.normal(size=n)


def rbf_by_hand(A: np.ndarray, B: np.ndarray, constant: float, length_scale) -> np.ndarray:
    diff = (A[:, None, :] - B[None, :, :]) / np.asarray(length_scale)
    return constant * np.exp(-0.5 * np.sum(diff**2, axis=-1))


def standardise(X, y, X_new):
    mu, sd = X.mean(axis=0), X.std(axis=0)
    return (X - mu) / sd, (y - y.mean()) / y.std(), (X_new - mu) / sd


def exact_posterior_by_hand(X, y, X_new, hyper, alpha=1e-10):
    """Rasmussen & Williams eq. 2.25-2.26 in the standardised space, back to target units."""
    Xs, ys, Xn = standardise(X, y, X_new)
    c, ls, noise = hyper["constant"], hyper["length_scale"], hyper["noise_level"]
    K = rbf_by_hand(Xs, Xs, c, ls) + (noise + alpha) * np.eye(len(Xs))
    k_star = rbf_by_hand(Xn, Xs, c, ls)
    mean = k_star @ np.linalg.solve(K, ys)
    latent_var = c - np.einsum("ij,ji->i", k_star, np.linalg.solve(K, k_star.T))
    sd = y.std()
    return mean * sd + y.mean(), np.sqrt(latent_var) * sd, np.sqrt(latent_var + noise) * sd


# ------------------------------------------------------------------ closed forms


def test_exact_posterior_equals_closed_form() -> None:
    X, y = noisy_data(7, seed=1)
    X_new = noisy_data(5, seed=2)[0]
    model = GPSurrogate(optimize=False, hyperparameters=FIXED).fit(X, y)
    mean, latent_std = model.predict(X_new)
    _, noisy_std = model.predict(X_new, include_noise=True)
    ref_mean, ref_latent, ref_noisy = exact_posterior_by_hand(X, y, X_new, FIXED)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(latent_std, ref_latent, rtol=1e-8)
    np.testing.assert_allclose(noisy_std, ref_noisy, rtol=1e-9)
    assert np.all(noisy_std > latent_std)
    assert model.mode_ == "exact"
    assert model.hyperparameters == FIXED
    assert model.noise_std == pytest.approx(np.sqrt(FIXED["noise_level"]) * y.std())
    # the constructor's include_noise is the default of predict
    noisy_model = GPSurrogate(optimize=False, hyperparameters=FIXED, include_noise=True).fit(X, y)
    np.testing.assert_allclose(noisy_model.predict(X_new)[1], ref_noisy, rtol=1e-9)


def test_noisy_std_matches_sklearn_and_latent_std_excludes_noise() -> None:
    # sklearn's GPR with a WhiteKernel reports the noisy std; ours must equal it only
    # when include_noise=True.
    X, y = noisy_data(40, seed=3)
    X_new = noisy_data(30, seed=4)[0]
    model = GPSurrogate(optimize=False, hyperparameters=FIXED).fit(X, y)
    Xs, ys, Xn = standardise(X, y, X_new)
    kernel = ConstantKernel(FIXED["constant"]) * RBF(FIXED["length_scale"]) + WhiteKernel(FIXED["noise_level"])
    ref = GaussianProcessRegressor(kernel, optimizer=None, normalize_y=False).fit(Xs, ys)
    ref_mean, ref_std = ref.predict(Xn, return_std=True)
    mean, noisy_std = model.predict(X_new, include_noise=True)
    _, latent_std = model.predict(X_new)
    np.testing.assert_allclose(mean, ref_mean * y.std() + y.mean(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(noisy_std, ref_std * y.std(), rtol=1e-9)
    np.testing.assert_allclose(latent_std**2 + FIXED["noise_level"] * y.std() ** 2, noisy_std**2, rtol=1e-9)


def test_latent_std_vanishes_at_noise_free_training_points() -> None:
    X, y = noisy_data(12, seed=5, noise=0.0)
    hyper = {"constant": 1.0, "length_scale": 1.0, "noise_level": NOISE_LEVEL_BOUNDS[0]}
    mean, std = GPSurrogate(optimize=False, hyperparameters=hyper).fit(X, y).predict(X)
    np.testing.assert_allclose(mean, y, atol=1e-3 * y.std())
    assert np.all(std < 2e-3 * y.std())


def test_ard_closed_form_and_irrelevant_feature_gets_long_length_scale() -> None:
    X, y = noisy_data(8, seed=6)
    hyper = {"constant": 1.2, "length_scale": [0.5, 1.5, 3.0], "noise_level": 0.02}
    X_new = noisy_data(4, seed=7)[0]
    mean, std = GPSurrogate(ard=True, optimize=False, hyperparameters=hyper).fit(X, y).predict(X_new)
    ref_mean, ref_std, _ = exact_posterior_by_hand(X, y, X_new, hyper)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(std, ref_std, rtol=1e-8)

    rng = np.random.default_rng(8)
    X = rng.normal(size=(150, 2))
    y = np.sin(2.0 * X[:, 0]) + 0.02 * rng.normal(size=150)  # feature 1 is irrelevant
    fitted = GPSurrogate(ard=True).fit(X, y).hyperparameters["length_scale"]
    assert len(fitted) == 2 and fitted[1] > 10 * fitted[0]


def dtc_by_hand(X, y, X_new, Z, hyper, jitter, alpha=1e-10):
    """DTC predictive (Quinonero-Candela & Rasmussen 2005, eq. 20b) by direct inversion."""
    Xs, ys, Xn = standardise(X, y, X_new)
    mu, sd = X.mean(axis=0), X.std(axis=0)
    Zs = (Z - mu) / sd
    c, ls, noise = hyper["constant"], hyper["length_scale"], hyper["noise_level"] + alpha
    K_mm = rbf_by_hand(Zs, Zs, c, ls) + jitter * c * np.eye(len(Zs))
    K_mn = rbf_by_hand(Zs, Xs, c, ls)
    K_sm = rbf_by_hand(Xn, Zs, c, ls)
    Sigma = np.linalg.inv(K_mm + K_mn @ K_mn.T / noise)
    mean = K_sm @ Sigma @ K_mn @ ys / noise
    Q_ss = np.einsum("ij,ji->i", K_sm, np.linalg.solve(K_mm, K_sm.T))
    var = c - Q_ss + np.einsum("ij,ji->i", K_sm, Sigma @ K_sm.T)
    return mean * y.std() + y.mean(), np.sqrt(var) * y.std()


def test_inducing_posterior_equals_dtc_formula() -> None:
    X, y = noisy_data(90, seed=9)
    X_new = noisy_data(25, seed=10)[0]
    model = GPSurrogate(max_exact=30, n_inducing=12, optimize=False, hyperparameters=FIXED).fit(X, y)
    assert model.mode_ == "inducing" and model.fit_info_["n_inducing"] == 12
    mean, std = model.predict(X_new)
    ref_mean, ref_std = dtc_by_hand(X, y, X_new, model.inducing_points_, FIXED, model.fit_info_["inducing_jitter"])
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(std, ref_std, rtol=1e-6)


@pytest.mark.parametrize("inducing_init", ["kmeans++", "random"])
def test_inducing_with_every_row_as_inducing_point_is_exact(inducing_init: str) -> None:
    X, y = noisy_data(60, seed=11)
    X_new = noisy_data(20, seed=12)[0]
    approx = GPSurrogate(max_exact=20, n_inducing=500, optimize=False, hyperparameters=FIXED,
                         inducing_init=inducing_init).fit(X, y)
    assert approx.fit_info_["n_inducing"] == 60
    exact = GPSurrogate(optimize=False, hyperparameters=FIXED).fit(X, y)
    for noisy in (False, True):
        (m1, s1), (m2, s2) = approx.predict(X_new, include_noise=noisy), exact.predict(X_new, include_noise=noisy)
        np.testing.assert_allclose(m1, m2, atol=1e-5 * y.std())
        np.testing.assert_allclose(s1, s2, atol=1e-4 * y.std())


# ------------------------------------------------------------------ behaviour


def test_recovers_a_smooth_function() -> None:
    X, y = noisy_data(250, seed=13, noise=0.05)
    X_test = noisy_data(400, seed=14)[0]
    model = GPSurrogate().fit(X, y)
    mean, std = model.predict(X_test)
    truth = smooth(X_test)
    r2 = 1.0 - np.mean((mean - truth) ** 2) / np.var(truth)
    assert r2 > 0.99
    # the fitted noise is close to the true 0.05, and the latent std is calibrated: about
    # 95 % of the true f within 1.96 std (measured 0.96; a std that wrongly included the
    # noise would cover ~100 %)
    assert 0.04 < model.noise_std < 0.06
    coverage = np.mean(np.abs(mean - truth) < 1.96 * std)
    assert 0.88 < coverage < 0.995


def test_inducing_close_to_exact_and_subsample_mode() -> None:
    X, y = noisy_data(1500, seed=15)
    X_test = noisy_data(300, seed=16)[0]
    approx = GPSurrogate(max_exact=500, n_inducing=200).fit(X, y)
    assert approx.mode_ == "inducing"
    assert approx.fit_info_["n_hyperparameter_rows"] == 500 and len(approx.subsample_rows_) == 500
    assert approx.state_dict()["last_fit"]["mode"] == "inducing"
    # the exact GP on all 1500 rows at the same hyper-parameters
    exact = GPSurrogate(optimize=False, hyperparameters=approx.hyperparameters).fit(X, y)
    (m_a, s_a), (m_e, s_e) = approx.predict(X_test), exact.predict(X_test)
    # measured ~3e-5 of the target std for both
    assert np.sqrt(np.mean((m_a - m_e) ** 2)) < 1e-3 * y.std()
    assert np.sqrt(np.mean((s_a - s_e) ** 2)) < 1e-3 * y.std()

    sub = GPSurrogate(max_exact=500, large="subsample").fit(X, y)
    assert sub.mode_ == "subsample" and sub.state_dict()["last_fit"]["n_hyperparameter_rows"] == 500
    assert sub.inducing_points_ is None
    m_s, s_s = sub.predict(X_test)
    truth = smooth(X_test)
    assert 1.0 - np.mean((m_s - truth) ** 2) / np.var(truth) > 0.99
    # fewer rows -> wider posterior than the model that saw all 1500
    assert np.mean(s_s) > np.mean(s_e)


@pytest.mark.parametrize("large", ["exact", "inducing"])
def test_chunked_predict_equals_unchunked(large: str) -> None:
    X, y = noisy_data(200, seed=17)
    X_new = noisy_data(101, seed=18)[0]
    options = {"max_exact": 50, "n_inducing": 40} if large == "inducing" else {}
    model = GPSurrogate(**options).fit(X, y)
    whole = model.predict(X_new, include_noise=True)
    for chunk in (1, 7, 100, 101, 10_000):
        part = model.predict(X_new, include_noise=True, chunk_size=chunk)
        np.testing.assert_allclose(part[0], whole[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(part[1], whole[1], rtol=1e-10, atol=1e-12)
    empty_mean, empty_std = model.predict(np.empty((0, 3)))
    assert empty_mean.shape == empty_std.shape == (0,)


def test_same_data_same_predictions_and_seeded_restarts() -> None:
    X, y = noisy_data(80, seed=19)
    X_new = noisy_data(30, seed=20)[0]
    a = GPSurrogate(n_restarts_optimizer=2, random_state=5).fit(X, y).predict(X_new)
    b = GPSurrogate(n_restarts_optimizer=2, random_state=5).fit(X, y).predict(X_new)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("options", [{}, {"max_exact": 60, "n_inducing": 30, "n_restarts_optimizer": 1}])
def test_warm_start_state_round_trip_is_identical(options: dict) -> None:
    X1, y1 = noisy_data(90, seed=21)
    X2, y2 = noisy_data(110, seed=22)
    X_new = noisy_data(40, seed=23)[0]
    a = GPSurrogate(**options).fit(X1, y1)
    first = a.hyperparameters
    state = json.loads(json.dumps(a.state_dict()))  # a checkpoint on disk
    b = GPSurrogate()  # default config; the state brings the saved one
    b.load_state_dict(state)
    assert b.hyperparameters == first and not b.is_fitted
    a.fit(X2, y2)
    b.fit(X2, y2)
    assert a.fit_info_["start_hyperparameters"] == first  # warm: started where fit 1 ended
    assert b.fit_info_["start_hyperparameters"] == first
    assert a.hyperparameters == b.hyperparameters
    for noisy in (False, True):
        pa, pb = a.predict(X_new, include_noise=noisy), b.predict(X_new, include_noise=noisy)
        np.testing.assert_array_equal(pa[0], pb[0])
        np.testing.assert_array_equal(pa[1], pb[1])
    assert a.state_dict() == b.state_dict()


def test_cold_start_ignores_previous_fit() -> None:
    X, y = noisy_data(60, seed=24)
    model = GPSurrogate(warm_start=False).fit(X, y)
    model.fit(X[:40], y[:40])
    assert model.fit_info_["start_hyperparameters"]["length_scale"] == pytest.approx(np.sqrt(3))
    given = GPSurrogate(warm_start=False, hyperparameters=FIXED).fit(X, y)
    given.fit(X[:40], y[:40])
    assert given.fit_info_["start_hyperparameters"] == FIXED
    assert given.hyperparameters != FIXED  # optimised away from the start
    restored = GPSurrogate()
    restored.load_state_dict(given.state_dict())
    assert restored.fit(X[:40], y[:40]).hyperparameters == given.hyperparameters


def test_target_and_feature_affine_invariance() -> None:
    # Standardisation makes predictions equivariant to y -> a y + b and invariant to
    # per-feature rescaling of X (fixed hyper-parameters: no optimiser tolerance).
    X, y = noisy_data(30, seed=25)
    X_new = noisy_data(10, seed=26)[0]
    scale = np.array([10.0, 0.01, 3.0])
    base = GPSurrogate(optimize=False, hyperparameters=FIXED).fit(X, y).predict(X_new)
    moved = GPSurrogate(optimize=False, hyperparameters=FIXED).fit(X * scale + 7, -4.0 * y + 2.0)
    mean, std = moved.predict(X_new * scale + 7)
    np.testing.assert_allclose(mean, -4.0 * base[0] + 2.0, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(std, 4.0 * base[1], rtol=1e-7)


def test_constant_targets_and_constant_feature() -> None:
    X, _ = noisy_data(20, seed=27)
    X[:, 2] = 1.0
    mean, std = GPSurrogate().fit(X, np.full(20, -0.7)).predict(X[:5])
    np.testing.assert_allclose(mean, -0.7, atol=1e-9)
    assert np.all(np.isfinite(std)) and np.all(std < 1e-2)


def test_convergence_warnings_are_recorded_not_emitted() -> None:
    # an exactly linear target drives the noise to its lower bound
    X = np.linspace(0.0, 1.0, 40)[:, None]
    y = 3.0 * X[:, 0] + 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GPSurrogate().fit(X, y)
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert any("noise_level" in message for message in model.fit_info_["warnings"])
    assert model.state_dict()["last_fit"]["warnings"] == model.fit_info_["warnings"]


# ------------------------------------------------------------------ protocol & registry


class ConstantSurrogate:
    """A minimal custom surrogate: predicts the training mean with unit std."""

    def __init__(self, std: float = 1.0) -> None:
        self.std, self.level = std, 0.0

    def fit(self, X, y):
        self.level = float(np.mean(y))
        return self

    def predict(self, X, *, include_noise=None, chunk_size=None):
        n = len(X)
        return np.full(n, self.level), np.full(n, self.std)

    def state_dict(self):
        return {"level": self.level}

    def load_state_dict(self, state):
        self.level = state["level"]


def test_protocol_and_registry() -> None:
    assert isinstance(GPSurrogate(), Surrogate)
    assert not isinstance(object(), Surrogate)
    custom = ConstantSurrogate()
    assert make_surrogate(custom) is custom
    assert isinstance(make_surrogate(ConstantSurrogate, std=2.0), ConstantSurrogate)
    gp = make_surrogate("GP", ard=True, max_exact=100)
    assert isinstance(gp, GPSurrogate) and gp.ard and gp.max_exact == 100
    assert isinstance(make_surrogate(), GPSurrogate)
    register_surrogate("flat-test", ConstantSurrogate, overwrite=True)
    assert "flat-test" in available_surrogates()
    built = make_surrogate("flat-test", std=3.0).fit(np.zeros((3, 1)), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(built.predict(np.zeros((2, 1)))[0], [2.0, 2.0])
    with pytest.raises(InputError, match="unknown surrogate 'kriging'"):
        make_surrogate("kriging")
    with pytest.raises(InputError, match="not a surrogate"):
        make_surrogate(42)
    with pytest.raises(InputError, match="cannot be applied"):
        make_surrogate(custom, std=2.0)
    with pytest.raises(InputError, match="bad options"):
        make_surrogate("gp", kernel="matern")
    with pytest.raises(InputError, match="already registered"):
        register_surrogate("gp", ConstantSurrogate)


# ------------------------------------------------------------------ validation


@pytest.fixture(scope="module")
def fitted() -> GPSurrogate:
    X, y = noisy_data(20, seed=28)
    return GPSurrogate(optimize=False, hyperparameters=FIXED).fit(X, y)


def test_fit_validation_messages() -> None:
    X, y = noisy_data(10, seed=29)
    model = GPSurrogate()
    with pytest.raises(InputError, match="X has 10 rows but y has 9 values"):
        model.fit(X, y[:9])
    with pytest.raises(InputError, match="2-D array"):
        model.fit(X[:, 0], y)
    with pytest.raises(InputError, match="y must be 1-D"):
        model.fit(X, np.c_[y, y])
    bad = X.copy()
    bad[[3, 7], 1] = np.nan
    with pytest.raises(InputError, match=r"2 row\(s\) \(positions 3, 7\), feature column\(s\) \['1'\]"):
        model.fit(bad, y)
    bad_y = y.copy()
    bad_y[4] = np.inf
    with pytest.raises(InputError, match=r"y contains NaN or infinite values in 1 row\(s\) \(positions 4\)"):
        model.fit(X, bad_y)
    with pytest.raises(InputError, match="at least 2 labelled rows, got 1"):
        model.fit(X[:1], y[:1])
    with pytest.raises(InputError, match="must be numeric"):
        model.fit(np.array([["a", "b"], ["c", "d"]]), [1.0, 2.0])
    with pytest.raises(InputError, match="no feature columns"):
        model.fit(np.empty((5, 0)), np.arange(5.0))
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X, columns=["volume", "natoms", "bandgap"])
    frame.loc[2, "bandgap"] = np.nan
    with pytest.raises(InputError, match=r"\['bandgap'\]"):
        model.fit(frame, y)


def test_predict_validation_messages(fitted: GPSurrogate) -> None:
    with pytest.raises(InputError, match="before fit"):
        GPSurrogate().predict(np.zeros((2, 3)))
    with pytest.raises(InputError, match="X has 2 feature column\\(s\\) but the surrogate was fitted with 3"):
        fitted.predict(np.zeros((4, 2)))
    with pytest.raises(InputError, match="NaN or infinite"):
        fitted.predict(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(InputError, match="chunk_size must be an integer >= 1"):
        fitted.predict(np.zeros((4, 3)), chunk_size=0)
    loaded = GPSurrogate()
    loaded.load_state_dict(fitted.state_dict())
    with pytest.raises(InputError, match="fitted or loaded with 3"):
        loaded.fit(np.zeros((5, 2)) + np.arange(5)[:, None], np.arange(5.0))


def test_constructor_and_state_validation() -> None:
    with pytest.raises(InputError, match="large must be one of"):
        GPSurrogate(large="nystroem")
    with pytest.raises(InputError, match="max_exact must be an integer >= 2"):
        GPSurrogate(max_exact=1)
    with pytest.raises(InputError, match="outside the bounds"):
        GPSurrogate(hyperparameters={"constant": 1.0, "length_scale": 1e-5, "noise_level": 0.1})
    with pytest.raises(InputError, match="needs ard=True"):
        GPSurrogate(hyperparameters={"constant": 1.0, "length_scale": [1.0, 2.0], "noise_level": 0.1}).fit(
            *noisy_data(5, seed=30)
        )
    model = GPSurrogate()
    with pytest.raises(CheckpointError, match="not written by GPSurrogate"):
        model.load_state_dict({"level": 1.0})
    state = GPSurrogate(optimize=False, hyperparameters=FIXED).state_dict()
    with pytest.raises(CheckpointError, match="format"):
        model.load_state_dict({**state, "format": 99})
    with pytest.raises(CheckpointError, match="config"):
        model.load_state_dict({**state, "config": {**state["config"], "large": "bogus"}})
    with pytest.raises(CheckpointError, match="noise_level"):
        model.load_state_dict({**state, "hyperparameters": {**FIXED, "noise_level": -1.0}})
    json.dumps(state)
