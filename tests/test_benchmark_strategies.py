"""Benchmark strategies: the clairvoyant bound, etal-paper, the default etal-deficit and its pooled GP, the runner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _loop_fixtures import group_tables

from etal.bias.scores import entropy_deficit
from etal.engine import ETAL
from etal.entropy import estimate_entropy

GROUPS = [("a", 60, 20, 1.0), ("b", 50, 12, 0.3), ("c", 40, 15, 0.6)]


def _loop(strategy, **kw):
    labelled, pool, labels = group_tables(GROUPS, seed=3)
    loop = ETAL(group_col="grp", target_col="y", feature_cols=["x0", "x1"], strategy=strategy,
                progress=False, patience=None, **kw)
    loop.start(labelled, pool)
    return loop, labelled, pool, labels


def test_clairvoyant_pick_is_the_brute_force_argmin_of_D():
    from etal.benchmark.oracle import ClairvoyantStrategy

    labelled, _, labels = group_tables(GROUPS, seed=3)
    truth = dict(zip(labels.id, labels.y))
    loop, *_ = _loop(ClairvoyantStrategy(truth))
    state = loop.state
    # brute force: re-estimate the group's entropy from scratch with each true label added
    best = None
    for g in state.groups:
        values = labelled.loc[labelled.grp == g, "y"].to_numpy()
        h = {k: estimate_entropy(labelled.loc[labelled.grp == k, "y"]).entropy for k in state.groups}
        for i in state.candidate_ids(g):
            h[g] = estimate_entropy(np.append(values, truth[i])).entropy
            d = entropy_deficit(h)
            if best is None or d < best[0] - 1e-12:
                best = (d, i)
    pick = ClairvoyantStrategy(truth).select(state, 1, np.random.default_rng(0))[0]
    assert pick.id == best[1]
    assert "CLAIRVOYANT" in pick.reason
    # greedy batch of 3: distinct rows, the first one the single pick
    batch = ClairvoyantStrategy(truth).select(state, 3, np.random.default_rng(0))
    assert len({p.id for p in batch}) == 3 and batch[0].id == best[1]


def test_paper_strategy_is_etal_with_1000_monte_carlo_draws():
    from etal.strategies import STRATEGIES, make_strategy

    assert "etal-paper" in STRATEGIES and "oracle" not in STRATEGIES  # the bound sees labels
    paper, *_ = _loop("etal-paper")  # the loop's estimator (quadrature) is overridden
    direct, *_ = _loop("etal", estimator="mc", n_samples=1000)
    a = paper.strategy.select(paper.state, 1, np.random.default_rng(5))[0]
    b = direct.strategy.select(direct.state, 1, np.random.default_rng(5))[0]
    assert a.id == b.id and a.ei == pytest.approx(b.ei)
    s = make_strategy("etal-paper")
    assert (s.patience, s.fairness_stop) == (5, True)


def test_pooled_gp_update_equals_a_fresh_posterior():
    from etal.surrogate import PooledGPSurrogate

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    P = rng.normal(size=(30, 3))
    f = lambda A: np.sin(A[:, 0]) + 0.5 * A[:, 1]
    gp = PooledGPSurrogate().fit(X, f(X), X_pool=P)
    gp.condition(P)
    y_pool = f(P)
    for j in (4, 17, 9):
        gp.add(j, y_pool[j])
    # independent: the textbook posterior with the same hyper-parameters on all 43 rows
    p = gp.params_
    Xall = np.vstack((X, P[[4, 17, 9]]))
    yall = np.concatenate((f(X), y_pool[[4, 17, 9]]))
    A = (Xall - p["x_mean"]) / np.asarray(p["x_std"]) / p["length"]
    B = (P - p["x_mean"]) / np.asarray(p["x_std"]) / p["length"]
    k = lambda U, W: p["c"] * np.exp(-0.5 * ((U[:, None, :] - W[None, :, :]) ** 2).sum(-1))
    K = k(A, A) + p["noise"] * np.eye(len(A))
    Ks = k(B, A)
    ys = (yall - p["y_mean"]) / p["y_std"]
    mean = Ks @ np.linalg.solve(K, ys) * p["y_std"] + p["y_mean"]
    var = (p["c"] - np.einsum("ij,ji->i", Ks, np.linalg.solve(K, Ks.T))) * p["y_std"] ** 2
    mu, sd = gp.predict_columns(np.arange(30), include_noise=False)
    assert mu == pytest.approx(mean, abs=1e-7)
    assert sd**2 == pytest.approx(np.maximum(var, 0), abs=1e-7)
    # the general predict() on the grown training set agrees with the rank-one path
    mu2, sd2 = gp.predict(P, include_noise=False)
    assert mu2 == pytest.approx(mu, abs=1e-9) and sd2 == pytest.approx(sd, abs=1e-9)
    _, sd_noisy = gp.predict(P, include_noise=True)
    assert sd_noisy**2 == pytest.approx(sd2**2 + p["noise"] * p["y_std"] ** 2)


def test_gauss_hermite_moments_agree_with_the_quadrature():
    from etal.acquisition import expected_entropy, gauss_hermite_entropy

    rng = np.random.default_rng(2)
    x = rng.normal(size=60)
    mu = np.linspace(-3, 3, 25)
    sigma = np.full(25, 0.8)
    m1, s1 = gauss_hermite_entropy(x, mu, sigma, 16)
    m2, s2 = expected_entropy(x, mu, sigma)
    assert m1 == pytest.approx(m2, abs=5e-3)
    assert s1 == pytest.approx(s2, abs=5e-3)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_default_strategy_runs_in_the_loop_with_batches(batch_size):
    from etal.oracles import LookupOracle
    from etal.strategies import DEFAULT_STRATEGY

    assert DEFAULT_STRATEGY == "etal-deficit"
    labelled, pool, labels = group_tables(GROUPS, seed=3)
    loop = ETAL(group_col="grp", target_col="y", feature_cols=["x0", "x1"], progress=False, budget=12,
                batch_size=batch_size)
    result = loop.run(labelled, pool, LookupOracle(labels, id_col="id", target_col="y"))
    assert len(result.history) == 12 and result.history.id.is_unique
    assert result.history.expected_entropy.notna().all()
    if batch_size > 1:  # greedy through the shared selector: later picks see fantasies
        assert result.history.reason.str.contains("fantasy").any()


def test_runner_oracle_has_full_share_and_random_reaches_its_own_end(monkeypatch):
    from etal.benchmark import runner

    def build(seed):
        labelled, pool, labels = group_tables(GROUPS, seed=seed)
        full = pool.merge(labels, on="id")
        return pd.concat([labelled, full], ignore_index=True)

    spec = runner.DatasetSpec("tiny", build, "grp", "y", ("x0", "x1"), rules=lambda f: {"b": "target > 0.2"},
                              pool_size=40)
    monkeypatch.setitem(runner.DATASETS, "tiny", spec)
    records = runner.run_grid(["tiny"], [0, 1], ["oracle", "random", "etal-deficit"], budget=8, random_repeats=2,
                              progress=False)
    table = runner.per_split_table(records)
    oracle = table[table.strategy == "oracle"]
    assert oracle.share.tolist() == pytest.approx([1.0, 1.0])
    rnd = table[table.strategy == "random"]
    assert (rnd.picks_to_random <= 8).all() and (rnd.runs == 2).all()
    # the clairvoyant bound is never counted as the best non-clairvoyant strategy
    assert not oracle.best_auc.any()
    summary = runner.summary_table(table)
    assert set(summary.strategy) == {"oracle", "random", "etal-deficit"}
    # the product tables: etal.evaluation.quality schemas, one curve per split and strategy
    from etal.evaluation.quality import BENCHMARK_CURVE_COLUMNS, BENCHMARK_RUN_COLUMNS

    runs, curves = runner.quality_tables(records)
    assert tuple(runs.columns) == BENCHMARK_RUN_COLUMNS and tuple(curves.columns) == BENCHMARK_CURVE_COLUMNS
    assert len(runs) == 6 and len(curves) == 6 * 9
    assert runs.loc[runs.strategy == "oracle", "share_of_bound"].tolist() == pytest.approx([1.0, 1.0])
    merged = runs.merge(table, on=["dataset", "split_seed", "strategy"])
    assert merged.auc_D.to_numpy() == pytest.approx(merged.auc.to_numpy())


def test_winner_scores_with_the_latent_posterior_and_the_closed_form():
    from etal.acquisition import expected_deficit_after, gauss_hermite_entropy

    loop, *_ = _loop("etal-deficit")
    strat, state = loop.strategy, loop.state
    pick = strat.select(state, 1, np.random.default_rng(0))[0]
    view = strat._view
    # brute force over every candidate of every group with the pooled GP's latent posterior
    h = {g: state.estimate(g).entropy for g in state.groups}
    best = None
    for g in state.groups:
        cols = np.array([view.columns[g][i] for i in state.candidate_ids(g)])
        mu, sd = view.model.predict_columns(cols, include_noise=False)
        m, s = gauss_hermite_entropy(np.asarray(state.values(g)), mu, sd, 16)
        others = np.array([h[k] for k in state.groups if k != g])
        e = expected_deficit_after(others, m, s)
        j = int(np.argmin(e))
        if best is None or e[j] < best[0]:
            best = (e[j], state.candidate_ids(g)[j])
    assert pick.id == best[1]
    assert "expected drop of the mean entropy deficit" in pick.reason
    # the latent std is below the label's (noise added)
    _, sd_latent = view.model.predict_columns(np.arange(5), include_noise=False)
    _, sd_label = view.model.predict_columns(np.arange(5), include_noise=True)
    assert (sd_latent < sd_label).all()


def test_default_strategy_follows_new_labels_by_id_and_rebuilds_for_another_loop():
    from etal.oracles import LookupOracle

    loop, labelled, _pool, labels = _loop("etal-deficit")
    oracle = LookupOracle(labels, id_col="id", target_col="y")
    ids = loop.suggest(2)
    loop.tell(ids, oracle.lookup(ids))
    strat = loop.strategy
    strat.select(loop.state, 1, np.random.default_rng(0))
    view = strat._view
    assert view.model._pool["n"] == len(labelled) + 2  # two rank-one updates, no refit
    assert all(i not in view.columns[g] for g in view.groups for i in ids)
    # the same object on a fresh loop (fewer labels) rebuilds its model
    other, *_ = _loop(strat)
    strat.select(other.state, 1, np.random.default_rng(0))
    assert strat._view is not view and strat._view.model._pool["n"] == len(labelled)


def test_default_strategy_leaves_groups_without_an_entropy_until_nothing_else_is_left():
    # group "s" has 3 labelled values (no entropy, not in D): adding one of its candidates
    # cannot lower D, so etal-deficit works in the groups with an entropy while it can
    labelled, pool, _labels = group_tables(GROUPS + [("s", 8, 3, 1.0)], seed=3)
    loop = ETAL(group_col="grp", target_col="y", feature_cols=["x0", "x1"], progress=False).start(labelled, pool)
    assert loop.state.estimate("s").status == "too_few"
    picks = loop.strategy.select(loop.state, 5, np.random.default_rng(0))
    assert all(p.group != "s" for p in picks)
    # only "s" has candidates left: it is filled
    only_s = pool[pool.grp == "s"]
    loop = ETAL(group_col="grp", target_col="y", feature_cols=["x0", "x1"], progress=False).start(labelled, only_s)
    assert loop.strategy.select(loop.state, 1, np.random.default_rng(0))[0].group == "s"
