"""Scale code paths: the fast kernel, the huge-pool std and its exact re-scoring in the
strategies, lazy re-optimisation of large groups, posterior rebuilding on resume, and
the BLAS-thread rule. Small data; no timing asserts (timings live in benchmarks/)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.gaussian_process.kernels import RBF

import etal.surrogate as surrogate_module
import etal.surrogate.gp as gp_module
from etal.errors import CheckpointError, InputError
from etal.engine import ETAL
from etal.oracles import LookupOracle
from etal.surrogate import GPSurrogate, _blas_limited, _Posterior
from _loop_fixtures import Killed, KillingOracle, group_tables

FIXED = {"constant": 1.3, "length_scale": 0.9, "noise_level": 0.02}


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def data(n: int, seed: int, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.array([1.0, 20.0, 0.1])[:d] + np.array([0.0, 300.0, -2.0])[:d]
    u = (X - np.array([0.0, 300.0, -2.0])[:d]) / np.array([1.0, 20.0, 0.1])[:d]
    y = np.sin(1.5 * u[:, 0]) + 0.4 * np.cos(u[:, 1]) + 0.2 * u[:, -1] + 0.05 * rng.normal(size=n)
    return X, y


def standardised(model: GPSurrogate, X: np.ndarray) -> np.ndarray:
    return (X - model._scaler.mean_) / model._scaler.scale_


# ------------------------------------------------------------------ the kernel


@pytest.mark.parametrize("length_scale", [0.7, np.array([0.5, 2.0, 1.3])])
def test_gemm_kernel_equals_sklearn_rbf(length_scale) -> None:
    rng = np.random.default_rng(0)
    basis, X = rng.normal(size=(40, 3)), 3.0 * rng.normal(size=(25, 3))
    post = _Posterior(basis=basis, weights=np.zeros(40), chol=None, projection=None, constant=1.7,
                      length_scale=length_scale, noise_level=0.1)
    columns = post.kernel_columns(X)
    assert columns.shape == (40, 25) and columns.flags.f_contiguous
    np.testing.assert_allclose(columns, 1.7 * RBF(length_scale)(basis, X), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ the huge-pool std


def dtc_variance_by_hand(model: GPSurrogate, X_new: np.ndarray) -> np.ndarray:
    """k_xx - k_xm K_mm^-1 k_mx + k_xm (K_mm + K_mn K_nm / s2)^-1 k_mx at the screen's Z."""
    hyper = model.hyperparameters
    c, ls = hyper["constant"], hyper["length_scale"]
    X_train, _, s2 = model._training
    Z = model._screen.basis
    k = lambda A, B: c * RBF(ls)(A, B)  # noqa: E731
    K_mm = k(Z, Z) + 1e-8 * c * np.eye(len(Z))  # the first jitter tried
    K_mn, k_xm = k(Z, X_train), k(standardised(model, X_new), Z)
    S = np.linalg.inv(K_mm + K_mn @ K_mn.T / s2)
    return c - np.einsum("ij,ji->i", k_xm, np.linalg.solve(K_mm, k_xm.T)) + np.einsum("ij,ji->i", k_xm, S @ k_xm.T)


def test_huge_pool_std_is_the_dtc_formula_and_the_mean_stays_exact() -> None:
    X, y = data(120, seed=1)
    X_new = data(60, seed=2)[0]
    model = GPSurrogate(optimize=False, hyperparameters=FIXED, n_inducing_predict=15).fit(X, y)
    exact_mean, exact_std = model.predict(X_new, approximate=False)
    mean, std = model.predict(X_new, approximate=True)
    assert model.predict_info_["approximate"] and model.predict_info_["n_inducing_predict"] == 15
    np.testing.assert_allclose(mean, exact_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, np.sqrt(dtc_variance_by_hand(model, X_new)) * y.std(), rtol=1e-6)
    # with 15 of 120 rows the approximate std is wider on the whole (the screening is cautious)
    assert np.median(std / exact_std) > 1.0


def test_huge_pool_std_with_every_row_as_inducing_point_is_exact() -> None:
    X, y = data(50, seed=3)
    X_new = data(40, seed=4)[0]
    model = GPSurrogate(optimize=False, hyperparameters=FIXED, n_inducing_predict=500).fit(X, y)
    exact = model.predict(X_new, approximate=False, include_noise=False)
    approx = model.predict(X_new, approximate=True)
    assert model._screen.size == 50  # capped at the training rows: all of them
    np.testing.assert_allclose(approx[0], exact[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(approx[1], exact[1], rtol=1e-5, atol=1e-5 * y.std())


def test_threshold_switches_modes() -> None:
    X, y = data(40, seed=5)
    pool = data(80, seed=6)[0]
    model = GPSurrogate(optimize=False, hyperparameters=FIXED, max_exact_predict=50, n_inducing_predict=10).fit(X, y)
    model.predict(pool[:50])
    assert model.predict_info_["approximate"] is False and not model.approximates(50)
    model.predict(pool[:51])
    assert model.predict_info_["approximate"] is True and model.approximates(51)
    model.predict(pool[:51], approximate=False)
    assert model.predict_info_["approximate"] is False
    # the posterior must have >= 2 x n_inducing_predict basis rows to be worth approximating
    small = GPSurrogate(optimize=False, hyperparameters=FIXED, max_exact_predict=50, n_inducing_predict=21).fit(X, y)
    assert not small.approximates(1000)
    never = GPSurrogate(optimize=False, hyperparameters=FIXED, max_exact_predict=None, n_inducing_predict=10).fit(X, y)
    assert not never.approximates(10**9)


def test_huge_pool_chunks_and_threads_give_identical_results(monkeypatch) -> None:
    X, y = data(90, seed=7)
    pool = data(700, seed=8)[0]
    model = GPSurrogate(max_exact_predict=100, n_inducing_predict=20).fit(X, y)
    whole = model.predict(pool)
    assert model.predict_info_["approximate"]
    for chunk in (1, 7, 256, 10_000):
        part = model.predict(pool, chunk_size=chunk)
        np.testing.assert_allclose(part[0], whole[0], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(part[1], whole[1], rtol=1e-12, atol=1e-13)
    monkeypatch.setattr(gp_module, "_PREDICT_WORKERS", 1)
    serial = model.predict(pool, chunk_size=50)
    monkeypatch.setattr(gp_module, "_PREDICT_WORKERS", 3)
    threaded = model.predict(pool, chunk_size=50)
    np.testing.assert_array_equal(serial[0], threaded[0])
    np.testing.assert_array_equal(serial[1], threaded[1])


def test_inducing_mode_huge_pool_uses_its_own_mean() -> None:
    X, y = data(300, seed=9)
    pool = data(200, seed=10)[0]
    model = GPSurrogate(max_exact=100, n_inducing=60, n_inducing_predict=20, max_exact_predict=150).fit(X, y)
    assert model.mode_ == "inducing"
    own = model.predict(pool, approximate=False)
    approx = model.predict(pool)
    assert model.predict_info_["approximate"] and model.predict_info_["n_basis"] == 60
    np.testing.assert_allclose(approx[0], own[0], rtol=1e-12, atol=1e-12)
    assert not np.allclose(approx[1], own[1])


# ------------------------------------------------------------------ lazy re-optimisation


def test_large_group_refits_reuse_hyperparameters_until_the_rows_grow() -> None:
    X, y = data(60, seed=11)
    model = GPSurrogate(reoptimize_min_rows=40, reoptimize_growth=0.1)
    model.fit(X[:40], y[:40])
    assert model.fit_info_["optimized"]
    hyper = model.hyperparameters
    model.fit(X[:44], y[:44])  # 4 new rows <= 10 % of 40: posterior only
    assert not model.fit_info_["optimized"] and model.fit_info_["reused_hyperparameters"]
    assert model.hyperparameters == hyper
    fixed = GPSurrogate(optimize=False, hyperparameters=hyper).fit(X[:44], y[:44])
    for a, b in zip(model.predict(X[44:]), fixed.predict(X[44:])):
        np.testing.assert_array_equal(a, b)
    state = json.loads(json.dumps(model.state_dict()))
    model.fit(X[:45], y[:45])  # 5 > 4 new rows since the optimisation at 40: re-optimise
    assert model.fit_info_["optimized"]

    # a resumed object makes the same decision as the original
    resumed = GPSurrogate()
    resumed.load_state_dict(state)
    resumed.fit(X[:43], y[:43])
    assert not resumed.fit_info_["optimized"] and resumed.hyperparameters == hyper

    # changed earlier rows, a small group, or reoptimize_growth=None: always re-optimise
    changed = y[:42].copy()
    changed[3] += 1.0
    other = GPSurrogate(reoptimize_min_rows=40, reoptimize_growth=0.1).fit(X[:40], y[:40])
    other.fit(X[:42], changed)
    assert other.fit_info_["optimized"]
    small = GPSurrogate(reoptimize_min_rows=100, reoptimize_growth=0.1).fit(X[:40], y[:40])
    small.fit(X[:41], y[:41])
    assert small.fit_info_["optimized"]
    always = GPSurrogate(reoptimize_min_rows=40, reoptimize_growth=None).fit(X[:40], y[:40])
    always.fit(X[:41], y[:41])
    assert always.fit_info_["optimized"]


@pytest.mark.parametrize("options", [{}, {"max_exact": 50, "n_inducing": 30}])
def test_refit_posterior_after_load_rebuilds_the_saved_posterior(options: dict) -> None:
    X, y = data(80, seed=12)
    X_new = data(30, seed=13)[0]
    model = GPSurrogate(**options).fit(X[:70], y[:70]).fit(X, y)
    state = json.loads(json.dumps(model.state_dict()))
    loaded = GPSurrogate()
    loaded.load_state_dict(state)
    loaded.refit_posterior(X, y)
    for a, b in zip(model.predict(X_new), loaded.predict(X_new)):
        np.testing.assert_array_equal(a, b)
    assert loaded.hyperparameters == model.hyperparameters
    # and the next (warm) fit of both is identical too
    X2, y2 = data(95, seed=14)
    model.fit(X2, y2)
    loaded.fit(X2, y2)
    assert model.hyperparameters == loaded.hyperparameters


def test_new_option_validation() -> None:
    with pytest.raises(InputError, match="max_exact_predict"):
        GPSurrogate(max_exact_predict=0)
    with pytest.raises(InputError, match="n_inducing_predict"):
        GPSurrogate(n_inducing_predict=0)
    with pytest.raises(InputError, match="reoptimize_growth"):
        GPSurrogate(reoptimize_growth=-0.1)
    with pytest.raises(InputError, match="refit_posterior needs"):
        GPSurrogate().refit_posterior(*data(10, seed=0))
    state = GPSurrogate().fit(*data(20, seed=0)).state_dict()
    state["last_optimization"] = {"n_rows": "many"}
    with pytest.raises(CheckpointError, match="last_optimization"):
        GPSurrogate().load_state_dict(state)


def test_default_hyperparameter_rows_of_a_large_group() -> None:
    X, y = data(130, seed=15)
    model = GPSurrogate(max_exact=120, n_inducing=20, n_restarts_optimizer=0).fit(X, y)
    assert model.fit_info_["n_hyperparameter_rows"] == 120  # min(max_exact, 1000)
    assert surrogate_module.DEFAULT_HYPERPARAMETER_ROWS == 1000


# ------------------------------------------------------------------ BLAS threads


def test_small_fits_run_with_one_blas_thread() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        with _blas_limited(surrogate_module.SINGLE_THREAD_MAX_ROWS):
            assert blas_threads() == {1}
        with _blas_limited(surrogate_module.SINGLE_THREAD_MAX_ROWS + 1):
            assert blas_threads() == {2}
        assert blas_threads() == {2}


# ------------------------------------------------------------------ the loop


def loop_data(seed: int = 0):
    return group_tables((("a", 260, 60, 0.3), ("b", 60, 40, 3.0)), seed=seed, frequency=5.0)


def run_loop(labels_tables, options: dict, budget: int = 6, strategy="etal", **kw):
    labelled, pool, labels = labels_tables
    loop = ETAL(group_col="grp", target_col="y", feature_cols=["x0", "x1"], progress=False, budget=budget,
                strategy=strategy, surrogate_options=options, seed=1, **kw)
    return loop.run(labelled, pool, LookupOracle(labels, target_col="y"))


@pytest.mark.parametrize("strategy", ["etal", "uncertainty"])
def test_refined_picks_equal_exact_picks(strategy) -> None:
    tables = loop_data()
    exact = run_loop(tables, {"max_exact_predict": None}, strategy=strategy)
    # group "a" has 200 pool rows > 100: its std is approximated, then every candidate
    # (refine_top 1000 >= 200) is re-scored exactly -> the very same run
    approx = run_loop(tables, {"max_exact_predict": 100, "n_inducing_predict": 8}, strategy=strategy)
    assert exact.selected == approx.selected
    a_rows = approx.history["group"] == "a"
    assert a_rows.any() and approx.history.loc[a_rows, "reason"].str.contains("exact").all()
    for col in ("value", "ei", "expected_entropy", "expected_entropy_std"):
        np.testing.assert_array_equal(exact.history[col].to_numpy(), approx.history[col].to_numpy())


def test_small_shortlist_rescores_with_the_exact_posterior() -> None:
    from etal.strategies import ETALStrategy

    tables = loop_data()
    options = {"max_exact_predict": 100, "n_inducing_predict": 8}
    result = run_loop(tables, options, budget=3, strategy=ETALStrategy(refine_top=5))
    rows = result.history[result.history["group"] == "a"]
    assert len(rows) and rows["reason"].str.contains("top 5 of").all()
    # the recorded EI is that of the exact posterior: recompute it for the first pick
    from etal.acquisition import expected_entropy, expected_improvement
    from etal.entropy import estimate_entropy

    labelled, pool, _ = tables
    first = result.history.iloc[0]
    assert first["group"] == "a"
    values = labelled.loc[labelled["grp"] == "a", "y"].to_numpy()
    X = labelled.loc[labelled["grp"] == "a", ["x0", "x1"]].to_numpy()
    model = GPSurrogate(**options).fit(X, values)
    row = pool.loc[pool["id"] == first["id"], ["x0", "x1"]].to_numpy()
    incumbent = estimate_entropy(values).entropy

    def ei_of(approximate: bool) -> float:
        mu, sigma = model.predict(row, approximate=approximate)
        return float(expected_improvement(*expected_entropy(values, mu, sigma), incumbent)[0])

    # equal within the quadrature's accuracy (its grid depends on the other candidates'
    # sigmas), and far from the EI of the approximate std
    exact_ei, approx_ei = ei_of(False), ei_of(True)
    assert abs(first["ei"] - exact_ei) < 1e-6
    assert abs(approx_ei - exact_ei) > 1e3 * abs(first["ei"] - exact_ei)
    assert repr(ETALStrategy(refine_top=5)) == "ETALStrategy(refine_top=5)"
    with pytest.raises(InputError, match="refine_top"):
        ETALStrategy(refine_top=0)


def test_resume_with_an_approximate_prediction_continues_exactly(tmp_path) -> None:
    labelled, pool, labels = loop_data()
    # etal: the per-group GP's huge-pool approximation (etal-deficit uses a pooled GP instead)
    settings = dict(group_col="grp", target_col="y", feature_cols=["x0", "x1"], progress=False, budget=6,
                    surrogate_options={"max_exact_predict": 100, "n_inducing_predict": 8}, seed=1, strategy="etal")
    full = ETAL(**settings).run(labelled, pool, LookupOracle(labels, target_col="y"))
    with pytest.raises(Killed):
        ETAL(**settings, checkpoint_dir=tmp_path).run(labelled, pool, KillingOracle(labels, kill_after=3))
    resumed = ETAL.resume(tmp_path, progress=False)
    group = resumed._groups["a"]
    # the saved prediction was approximate; the surrogate holds hyper-parameters only
    assert group.approximate and not group.surrogate.is_fitted
    result = resumed.run()
    assert result.selected == full.selected
    np.testing.assert_array_equal(result.history["ei"].to_numpy(), full.history["ei"].to_numpy())
