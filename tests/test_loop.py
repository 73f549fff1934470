"""The ET-AL loop: stop rules, small groups, batches, determinism, ask/tell, no label leaks,
strategies against independent re-computations, oracles and input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from etal.entropy import estimate_entropy
from etal.errors import InputError
from etal.engine import ETAL, HISTORY_COLUMNS
from _loop_fixtures import group_tables
from etal.oracles import CallableOracle, LookupOracle, OracleError, check_oracle_values
from etal.strategies import (
    BalancedStrategy,
    ETALStrategy,
    Pick,
    RandomStrategy,
    UncertaintyStrategy,
    make_strategy,
)

FEATURES = ["x0", "x1"]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Small GP matrices: threaded BLAS only adds overhead on a busy CI machine.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def synthetic(sizes=None, n_labelled=None, seed=0, spread=None):
    """Groups with different target spreads; returns (labelled, pool without target, labels)."""
    sizes = sizes or {"a": 40, "b": 40, "c": 40}
    n_labelled = n_labelled or {g: 20 for g in sizes}
    spread = spread or {"a": 0.2, "b": 1.0, "c": 3.0}
    return group_tables([(g, n, n_labelled[g], spread.get(g, 1.0)) for g, n in sizes.items()], seed=seed)


def make(**kw) -> ETAL:
    kw.setdefault("progress", False)
    return ETAL(group_col="grp", target_col="y", feature_cols=FEATURES, **kw)


def oracle_for(labels: pd.DataFrame) -> LookupOracle:
    return LookupOracle(labels, id_col="id", target_col="y")


# ---------------------------------------------------------------------------- stop rules


def test_budget_stop_and_history_shape():
    labelled, pool, labels = synthetic()
    loop = make(budget=4)
    result = loop.run(labelled, pool, oracle_for(labels))
    assert result.stop_reason == "budget reached (4 acquisitions)"
    assert len(result.selected) == 4 == len(set(result.selected))
    assert list(result.history.columns) == list(HISTORY_COLUMNS)
    assert result.history["iteration"].tolist() == [1, 2, 3, 4]
    assert list(result.entropies.index) == [0, 1, 2, 3, 4]
    # the acquired values are the oracle's, and the entropies follow from them
    truth = labels.set_index("id")["y"]
    np.testing.assert_array_equal(result.history["value"], truth.loc[result.selected].to_numpy())
    for g in ("a", "b", "c"):
        values = result.labelled_final.loc[result.labelled_final["grp"] == g, "y"]
        assert result.entropies[g].iloc[-1] == estimate_entropy(values).entropy
    # entropy_after of a row equals the entropies table at that iteration
    for row in result.history.itertuples():
        assert result.entropies.loc[row.iteration, row.group] == row.entropy_after


def test_pool_exhausted():
    labelled, pool, labels = synthetic(sizes={"a": 23, "b": 20}, n_labelled={"a": 20, "b": 20})
    result = make(patience=None).run(labelled, pool, oracle_for(labels))
    assert result.stop_reason == "pool exhausted"
    assert sorted(result.selected) == sorted(pool["id"])


def test_patience_excludes_a_group_whose_entropy_does_not_rise():
    labelled, pool, labels = synthetic(sizes={"a": 40, "b": 20}, n_labelled={"a": 20, "b": 20})
    # Labels equal to a value already present: ties lower the spacing-based entropy.
    tie = float(labelled.loc[labelled["grp"] == "a", "y"].iloc[0])
    oracle = CallableOracle(lambda rows: np.full(len(rows), tie))
    result = make(patience=3, budget=50).run(labelled, pool, oracle)
    history = result.history
    assert result.stop_reason.startswith("all groups excluded")
    assert len(history) == 3 and (history["group"] == "a").all()
    assert (history["entropy_after"] <= history["entropy_before"]).all()  # the construction holds
    assert history["excluded"].tolist() == [False, False, True]


def test_fairness_stop_when_the_last_eligible_group_is_highest():
    # Only group a has a pool; its labels are far apart, so its entropy climbs past b's.
    labelled, pool, labels = synthetic(sizes={"a": 40, "b": 20}, n_labelled={"a": 20, "b": 20})
    wide = labels.assign(y=np.linspace(-4, 4, len(labels)))
    result = make(budget=10).run(labelled, pool, oracle_for(wide))
    ent = result.entropies
    assert result.stop_reason.startswith("fairness: 'a' is the only eligible group")
    assert ent["a"].iloc[0] < ent["b"].iloc[0]
    crossed = ent.index[ent["a"] >= ent["b"]]
    assert len(crossed) and result.history["iteration"].max() == crossed[0]  # stopped right then
    assert len(result.selected) < 10
    # the same run without the fairness rule goes on to the budget
    assert len(make(budget=10, fairness_stop=False).run(labelled, pool, oracle_for(wide)).selected) == 10


def test_fairness_stop_at_start_and_baselines_default_off():
    labelled, pool, labels = synthetic(sizes={"c": 25, "a": 20}, n_labelled={"c": 20, "a": 20})
    result = make(budget=5).run(labelled, pool, oracle_for(labels))
    assert result.stop_reason.startswith("fairness") and result.selected == []
    assert len(make(budget=5, strategy="random").run(labelled, pool, oracle_for(labels)).selected) == 5


# ---------------------------------------------------------------------------- small groups


def test_groups_without_entropy_come_first_fewest_labelled_first():
    labelled, pool, labels = synthetic(
        sizes={"a": 40, "b": 40, "s": 8, "t": 5}, n_labelled={"a": 20, "b": 20, "s": 3, "t": 1},
        spread={"a": 0.2, "b": 1.0, "s": 1.0, "t": 1.0},
    )
    # the paper's rule (etal); the default etal-deficit fills such groups last (test_benchmark_strategies)
    result = make(budget=6, strategy="etal").run(labelled, pool, oracle_for(labels))
    history = result.history
    # t (1 labelled) first: random picks until it has 2 rows for a GP, then GP std; then s.
    assert history["group"].tolist()[:2] == ["t", "t"]
    assert "seeded random pick" in history["reason"].iloc[0]
    assert "fewer than the 5 an entropy needs" in history["reason"].iloc[0]
    assert "largest GP posterior std" in history["reason"].iloc[1]
    # after two picks t has 3 rows like s; ties go to the group that sorts first (s)
    assert history["group"].tolist() == ["t", "t", "s", "t", "s", "t"]
    assert np.isnan(history["ei"].iloc[0])
    status = result.entropy_status
    assert status.loc[0, "t"] == "too_few" and status.loc[5, "t"] == "too_few" and status.loc[6, "t"] == "ok"
    assert np.isnan(result.entropies.loc[5, "t"]) and np.isfinite(result.entropies.loc[6, "t"])


def test_undefined_group_pick_is_largest_std_of_its_gp():
    from etal.surrogate import GPSurrogate

    labelled, pool, labels = synthetic(sizes={"a": 30, "s": 12}, n_labelled={"a": 20, "s": 3})
    loop = make(strategy="etal").start(labelled, pool)  # the paper's rule fills s first
    (pick,) = loop.suggest(1)
    s_lab = labelled[labelled["grp"] == "s"]
    s_pool = pool[pool["grp"] == "s"]
    _, std = GPSurrogate().fit(s_lab[FEATURES].to_numpy(), s_lab["y"].to_numpy()).predict(s_pool[FEATURES].to_numpy())
    assert pick == s_pool["id"].iloc[int(np.argmax(std))]


# ---------------------------------------------------------------------------- ETAL wiring


def test_etal_pick_is_argmax_expected_improvement_in_lowest_entropy_group():
    from etal.acquisition import expected_entropy, expected_improvement
    from etal.surrogate import GPSurrogate

    labelled, pool, labels = synthetic()
    loop = make(strategy="etal").start(labelled, pool)  # the paper's rule, not the default
    entropies = {g: estimate_entropy(labelled.loc[labelled["grp"] == g, "y"]).entropy for g in "abc"}
    target = min(entropies, key=entropies.get)
    assert target == "a"
    (pick,) = loop.suggest(1)
    lab = labelled[labelled["grp"] == target]
    cand = pool[pool["grp"] == target]
    mu, sd = GPSurrogate().fit(lab[FEATURES].to_numpy(), lab["y"].to_numpy()).predict(cand[FEATURES].to_numpy())
    mean, std = expected_entropy(lab["y"].to_numpy(), mu, sd)
    ei = expected_improvement(mean, std, entropies[target])
    assert pick == cand["id"].iloc[int(np.argmax(ei))]
    (detail,) = loop.pending
    assert detail.group == "a" and detail.ei == pytest.approx(float(np.max(ei)), rel=1e-9)
    assert f"h={entropies['a']:.4f}" in detail.reason


def test_batch_of_three_distinct_picks_with_fantasy_updates():
    labelled, pool, labels = synthetic()
    loop = make(batch_size=3, strategy="etal").start(labelled, pool)
    ids = loop.suggest()
    picks = loop.pending
    assert len(ids) == 3 == len(set(ids))
    assert "[batch pick 1/3]" in picks[0].reason and "after 2 fantasy label(s)" in picks[2].reason
    # the first pick equals the q = 1 pick
    assert ids[0] == make(strategy="etal").start(labelled, pool).suggest(1)[0]
    # pick 2 was scored against the entropy of a's values plus pick 1's posterior mean
    state = loop.state
    g = picks[0].group
    mu, _ = state.predict(g)
    fantasy = mu[state.candidate_ids(g).index(ids[0])]
    values = np.append(state.values(g), fantasy)
    if picks[1].group == g:
        assert f"h={estimate_entropy(values).entropy:.4f}" in picks[1].reason
    # telling the batch adds three rows in one iteration
    loop.tell(ids, labels.set_index("id").loc[ids, "y"].to_numpy())
    assert loop.history["iteration"].tolist() == [1, 1, 1]
    assert loop.iteration == 1 and len(loop.entropies) == 2


def test_batch_run_budget_truncates_last_batch():
    labelled, pool, labels = synthetic()
    result = make(batch_size=3, budget=7).run(labelled, pool, oracle_for(labels))
    assert len(result.selected) == 7 == len(set(result.selected))
    assert result.history["iteration"].tolist() == [1, 1, 1, 2, 2, 2, 3]


# ---------------------------------------------------------------------------- determinism, ask/tell


@pytest.mark.parametrize("strategy", ["etal", "random", "balanced", "uncertainty"])
def test_same_seed_same_selections(strategy):
    labelled, pool, labels = synthetic()
    runs = [make(strategy=strategy, budget=6, seed=7).run(labelled, pool, oracle_for(labels)) for _ in range(2)]
    assert runs[0].selected == runs[1].selected
    pd.testing.assert_frame_equal(runs[0].entropies, runs[1].entropies)


def test_random_strategy_depends_on_seed():
    labelled, pool, labels = synthetic()
    sel = [make(strategy="random", budget=6, seed=s).run(labelled, pool, oracle_for(labels)).selected for s in (1, 2)]
    assert sel[0] != sel[1]


def test_ask_tell_equals_run():
    labelled, pool, labels = synthetic()
    ran = make(budget=6, batch_size=2).run(labelled, pool, oracle_for(labels))
    loop = make(budget=6, batch_size=2).start(labelled, pool)
    truth = labels.set_index("id")["y"]
    while True:
        ids = loop.suggest()
        if not ids:
            break
        loop.tell(ids, truth.loc[ids].to_numpy())
    assert loop.selected == ran.selected
    assert loop.stop_reason == ran.stop_reason
    cols = [c for c in HISTORY_COLUMNS if c != "seconds"]
    pd.testing.assert_frame_equal(loop.history[cols], ran.history[cols])


def test_tell_without_suggest_and_tell_errors():
    labelled, pool, labels = synthetic()
    loop = make().start(labelled, pool)
    first = int(pool["id"].iloc[0])
    loop.tell([first], [0.5])
    assert loop.history["reason"].iloc[0] == "told without suggest()"
    with pytest.raises(InputError, match="already labelled"):
        loop.tell([first], [0.1])
    with pytest.raises(InputError, match="not in the pool"):
        loop.tell([10**6], [0.1])
    with pytest.raises(OracleError, match="non-finite"):
        loop.tell([int(pool["id"].iloc[1])], [np.nan])


# ---------------------------------------------------------------------------- no label leaks


def test_strategies_never_see_pool_labels():
    labelled, pool, labels = synthetic()
    # pool frames WITH a (wrong) target column: the loop must drop it, not use it
    poisoned = pool.assign(y=np.where(np.arange(len(pool)) % 2, 1e6, -1e6))
    oracle_a, oracle_b = oracle_for(labels), oracle_for(labels)
    clean = make(budget=5).run(labelled, pool, oracle_a)
    dirty_loop = make(budget=5)
    dirty = dirty_loop.run(labelled, poisoned, oracle_b)
    assert clean.selected == dirty.selected
    assert "y" not in dirty_loop.pool_rows(dirty.selected[:1]).columns
    # every label came through the oracle: one call per iteration, one label per pick
    assert oracle_b.n_calls == 5 and oracle_b.n_revealed == 5
    # and the state a strategy sees offers no target for candidates
    state = dirty_loop.state
    assert not any("target" in name or name == "y" for name in dir(state) if not name.startswith("_"))


@pytest.mark.parametrize("cls", [ETALStrategy, RandomStrategy, BalancedStrategy, UncertaintyStrategy])
def test_strategy_reads_only_the_state(cls):
    labelled, pool, labels = synthetic()
    loop = make(strategy=cls()).start(labelled, pool)
    picks = cls().select(loop.state, 2, np.random.default_rng(0))
    assert len(picks) == 2 and all(isinstance(p, Pick) for p in picks)
    assert all(p.id in set(pool["id"]) for p in picks)


# ---------------------------------------------------------------------------- baselines


def test_random_strategy_is_a_uniform_draw_over_the_pool():
    labelled, pool, labels = synthetic()
    loop = make(strategy="random", seed=11).start(labelled, pool)
    (pick,) = loop.suggest(1)
    assert pick == pool["id"].iloc[int(np.random.default_rng(11).integers(len(pool)))]


def test_balanced_strategy_targets_fewest_labelled():
    labelled, pool, labels = synthetic(sizes={"a": 40, "b": 40, "c": 40}, n_labelled={"a": 20, "b": 8, "c": 30})
    loop = make(strategy="balanced", budget=12, patience=None).run(labelled, pool, oracle_for(labels))
    groups = loop.history["group"].tolist()
    assert groups == ["b"] * 12  # b stays the smallest (8 -> 20) throughout


def test_uncertainty_strategy_picks_largest_std_in_lowest_entropy_group():
    from etal.surrogate import GPSurrogate

    labelled, pool, labels = synthetic()
    (pick,) = make(strategy="uncertainty").start(labelled, pool).suggest(1)
    lab, cand = labelled[labelled["grp"] == "a"], pool[pool["grp"] == "a"]
    _, sd = GPSurrogate().fit(lab[FEATURES].to_numpy(), lab["y"].to_numpy()).predict(cand[FEATURES].to_numpy())
    assert pick == cand["id"].iloc[int(np.argmax(sd))]


def test_make_strategy():
    assert isinstance(make_strategy("ETAL"), ETALStrategy)
    with pytest.raises(InputError, match="unknown strategy"):
        make_strategy("greedy")
    with pytest.raises(InputError, match="select"):
        make_strategy(object())


# ---------------------------------------------------------------------------- oracles


def test_lookup_oracle():
    oracle = LookupOracle(pd.DataFrame({"id": [1, 2, 3], "e": [0.1, 0.2, 0.3]}))
    rows = pd.DataFrame({"id": [3, 1]})
    np.testing.assert_array_equal(oracle(rows), [0.3, 0.1])
    assert oracle.n_calls == 1 and oracle.n_revealed == 2
    with pytest.raises(OracleError, match=r"no label for id\(s\) \[7\]"):
        oracle(pd.DataFrame({"id": [1, 7]}))
    assert LookupOracle({"a": 1.0, "b": 2.0})(pd.DataFrame({"id": ["b"]})).tolist() == [2.0]
    with pytest.raises(InputError, match="non-finite"):
        LookupOracle({"a": np.nan})
    with pytest.raises(InputError, match="twice"):
        LookupOracle(pd.DataFrame({"id": [1, 1], "y": [0.0, 1.0]}))
    with pytest.raises(InputError, match="which column"):
        LookupOracle(pd.DataFrame({"id": [1], "p": [0.0], "q": [1.0]}))


def test_callable_oracle_validation_names_ids():
    rows = pd.DataFrame({"id": ["m1", "m2"]})
    rows.attrs["id_col"] = "id"
    assert CallableOracle(lambda r: [1, 2])(rows).tolist() == [1.0, 2.0]
    with pytest.raises(OracleError, match="1 value\\(s\\) for 2 requested"):
        CallableOracle(lambda r: [1.0])(rows)
    with pytest.raises(OracleError, match=r"id\(s\) \['m2'\]"):
        CallableOracle(lambda r: [1.0, np.inf])(rows)
    with pytest.raises(OracleError, match="non-numeric"):
        CallableOracle(lambda r: ["a", "b"])(rows)
    with pytest.raises(OracleError, match="RuntimeError: DFT crashed"):
        CallableOracle(lambda r: (_ for _ in ()).throw(RuntimeError("DFT crashed")))(rows)
    with pytest.raises(OracleError, match="2 value"):
        check_oracle_values([1, 2], ["only-one"])


def test_plain_callable_oracle_in_run():
    labelled, pool, labels = synthetic()
    truth = labels.set_index("id")["y"]
    seen = []

    def dft(rows: pd.DataFrame):
        seen.append(set(rows.columns))
        return truth.loc[rows["id"]].to_numpy()

    result = make(budget=3).run(labelled, pool, dft)
    assert len(result.selected) == 3 and all({"id", "grp", "x0", "x1"} <= c and "y" not in c for c in seen)
    with pytest.raises(OracleError, match="non-finite"):
        make(budget=3).run(labelled, pool, lambda rows: np.full(len(rows), np.nan))


# ---------------------------------------------------------------------------- input checks


def test_input_validation_messages():
    labelled, pool, labels = synthetic()
    with pytest.raises(InputError, match=r"labelled table lacks column\(s\) \['x1'\]"):
        make().start(labelled.drop(columns="x1"), pool)
    with pytest.raises(InputError, match="missing or non-numeric for ids \\[3\\]"):
        make().start(labelled.assign(y=labelled["y"].where(labelled["id"] != 3)), pool)
    with pytest.raises(InputError, match="unique"):
        make().start(labelled, pd.concat([pool, pool.iloc[:1]]))
    with pytest.raises(InputError, match="feature column 'x0'"):
        make().start(labelled, pool.assign(x0=np.where(pool["id"] == pool["id"].iloc[2], np.nan, pool["x0"])))
    for bad in (dict(batch_size=0), dict(patience=0), dict(budget=-1), dict(estimator="exact"),
                dict(ties="ignore"), dict(method="nope"), dict(seed=-3)):
        with pytest.raises(InputError):
            make(**bad)
    with pytest.raises(InputError, match="oracle"):
        make(budget=2).run(labelled, pool)
    loop = make()
    with pytest.raises(InputError, match="start"):
        loop.suggest()


def test_from_dataset_runs_on_the_dataset_pool():
    from etal.data import from_frame

    labelled, pool, labels = synthetic()
    frame = pd.concat([labelled, pool.assign(y=np.nan)], ignore_index=True)
    ds = from_frame(frame, group_col="grp", target_col="y", id_col="id", feature_cols=FEATURES)
    result = ETAL.from_dataset(ds, budget=3, progress=False).run(oracle=oracle_for(labels))
    direct = make(budget=3).run(labelled, pool, oracle_for(labels))
    assert result.selected == direct.selected



class FeatureIsMean:
    """A surrogate whose posterior is exact: mean = feature x0, std = 0."""

    def fit(self, X, y):
        return self

    def predict(self, X, *, include_noise=None, chunk_size=None):
        X = np.asarray(X, dtype=float)
        return X[:, 0].copy(), np.zeros(len(X))

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_equal_ei_is_broken_by_expected_entropy():
    # Every candidate's (certain) value duplicates a labelled value: no candidate can raise
    # the entropy, all EI are 0, and the pick is the one whose entropy after adding is largest.
    values = np.linspace(0.0, 1.0, 20) ** 2
    labelled = pd.DataFrame({"id": range(20), "grp": "a", "x0": values, "x1": 0.0, "y": values})
    wide = np.linspace(-5.0, 5.0, 20)  # a more diverse group b without pool: no fairness stop
    labelled = pd.concat([labelled, pd.DataFrame({"id": range(20, 40), "grp": "b", "x0": wide, "x1": 0.0, "y": wide})])
    cand = values[[2, 0, 6, 5, 3]]  # duplicates that lower the entropy (checked below)
    pool = pd.DataFrame({"id": range(100, 105), "grp": "a", "x0": cand, "x1": 0.0})
    loop = ETAL(group_col="grp", target_col="y", feature_cols=FEATURES, surrogate=FeatureIsMean(),
                progress=False, strategy="etal").start(labelled, pool)
    (pick,) = loop.suggest(1)
    after = [estimate_entropy(np.append(values, c)).entropy for c in cand]
    assert max(after) < estimate_entropy(values).entropy
    assert loop.pending[0].ei == 0.0
    assert pick == 100 + int(np.argmax(after))
    assert loop.pending[0].expected_entropy == pytest.approx(max(after), abs=1e-9)
