"""Downstream evaluation, paired comparison and bias-trajectory summaries.

Truth comes from direct scikit-learn fits, direct SciPy calls and hand-computed gaps.
Data are tiny so the whole file runs in seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from sklearn.metrics import mean_absolute_error, r2_score

from etal.errors import InputError
from etal.evaluation import (
    DOWNSTREAM_COLUMNS,
    MODEL_NAMES,
    SUMMARY_COLUMNS,
    downstream_models,
    evaluate_downstream,
    features_for_target,
    group_score_trajectory,
    paired_by_split,
    paired_comparison,
    paired_final_difference,
    summarise_bias_trajectory,
)

FEATURES = ["x0", "x1", "x2"]
FAST = ["adaboost", "svr"]  # the two quickest models, for plumbing tests


def make_frame(n: int, seed: int, groups=("A", "B", "C")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["y"] = 2 * x[:, 0] - x[:, 1] ** 2 + 0.1 * rng.normal(size=n)
    frame["z"] = np.sin(x[:, 2]) + x[:, 0] * x[:, 1] + 0.1 * rng.normal(size=n)
    frame["group"] = [groups[i % len(groups)] for i in range(n)]
    return frame


@pytest.fixture(scope="module")
def data():
    train_a = make_frame(60, 1)
    train_b = make_frame(60, 2)
    test = make_frame(40, 3)
    # Group "D": a single test row -> no score; group "E": constant target -> no score.
    extra = make_frame(3, 4)
    extra["group"] = ["D", "E", "E"]
    extra.loc[extra.index[1:], "y"] = 0.5
    extra.loc[extra.index[1:], "z"] = 0.25
    test = pd.concat([test, extra], ignore_index=True)
    return {"etal": train_a, "random": train_b}, test


# --------------------------------------------------------------------------- models


def test_downstream_models_names_and_seeding() -> None:
    models = downstream_models(7)
    assert tuple(models) == MODEL_NAMES
    assert models["gradient_boosting"].random_state == 7
    assert models["random_forest"].random_state == 7
    assert models["adaboost"].random_state == 7
    assert models["mlp"].regressor.named_steps["mlp"].random_state == 7
    assert models["mlp"].regressor.named_steps["mlp"].early_stopping
    assert [name for name, _ in models["svr"].regressor.steps] == ["scale", "pca", "svr"]


def test_features_for_target_drops_only_the_target() -> None:
    assert features_for_target(["a", "y", "b"], "y") == ["a", "b"]
    assert features_for_target(["a", "b"], "y") == ["a", "b"]


# --------------------------------------------------------------------------- evaluate_downstream


def test_schema_scopes_and_row_count(data) -> None:
    training_sets, test = data
    out = evaluate_downstream(
        training_sets, test, features=FEATURES, targets=["y", "z"], group_col="group",
        models=FAST, seeds=[0, 5], n_jobs=1, progress=False,
    )
    assert tuple(out.columns) == DOWNSTREAM_COLUMNS
    # Groups D (1 row) and E (constant target) are skipped; A, B, C are scored.
    assert set(out["scope"]) == {"all", "A", "B", "C"}
    assert len(out) == 2 * 2 * 2 * 2 * 4  # strategies x models x targets x seeds x scopes
    assert set(out["seed"]) == {0, 5}
    assert out["seed"].dtype == np.int64
    assert np.isfinite(out[["r2", "mae"]].to_numpy()).all()
    assert not out.duplicated(["strategy", "model", "target", "seed", "scope"]).any()


def test_scores_equal_a_direct_sklearn_fit(data) -> None:
    training_sets, test = data
    out = evaluate_downstream(
        training_sets, test, features=FEATURES, targets=["y"], group_col="group",
        models=["random_forest"], seeds=[3], n_jobs=1, progress=False,
    )
    model = downstream_models(3)["random_forest"].fit(training_sets["random"][FEATURES], training_sets["random"]["y"])
    predicted = model.predict(test[FEATURES])
    got = out[out["strategy"] == "random"].set_index("scope")
    assert got.loc["all", "r2"] == pytest.approx(r2_score(test["y"], predicted), abs=1e-12)
    assert got.loc["all", "mae"] == pytest.approx(mean_absolute_error(test["y"], predicted), abs=1e-12)
    in_b = (test["group"] == "B").to_numpy()
    assert got.loc["B", "r2"] == pytest.approx(r2_score(test["y"][in_b], predicted[in_b]), abs=1e-12)


def test_target_that_is_a_feature_is_dropped(data) -> None:
    training_sets, test = data
    # Target "x0" is also listed as a feature: it must be predicted from x1, x2 only.
    kwargs = dict(targets=["x0"], models=["random_forest"], seeds=[0], n_jobs=1, progress=False)
    leaky = evaluate_downstream(training_sets, test, features=FEATURES, **kwargs)
    clean = evaluate_downstream(training_sets, test, features=["x1", "x2"], **kwargs)
    pd.testing.assert_frame_equal(leaky, clean)
    # x0 is independent noise of x1, x2, so R² is far from the 1.0 a leak would give.
    assert (leaky["r2"] < 0.5).all()


def test_nan_targets_are_dropped_from_training(data) -> None:
    training_sets, test = data
    holey = training_sets["etal"].copy()
    holey.loc[holey.index[:7], "y"] = np.nan
    kwargs = dict(features=FEATURES, targets=["y"], models=FAST, seeds=[1], n_jobs=1, progress=False)
    with_nan = evaluate_downstream({"etal": holey}, test, **kwargs)
    dropped = evaluate_downstream({"etal": holey.dropna(subset=["y"])}, test, **kwargs)
    pd.testing.assert_frame_equal(with_nan, dropped)


def test_result_does_not_depend_on_n_jobs(data) -> None:
    training_sets, test = data
    kwargs = dict(
        features=FEATURES, targets=["y", "z"], group_col="group",
        models=["mlp", "gradient_boosting", "adaboost"], seeds=2, progress=False,
    )
    serial = evaluate_downstream(training_sets, test, n_jobs=1, **kwargs)
    parallel = evaluate_downstream(training_sets, test, n_jobs=2, **kwargs)
    pd.testing.assert_frame_equal(serial, parallel, check_exact=True)
    # Different seeds give different fits (the seed reaches the model).
    mlp = serial[(serial["model"] == "mlp") & (serial["scope"] == "all")]
    assert mlp.groupby(["strategy", "target"])["r2"].nunique().min() == 2


def test_per_seed_training_sets(data) -> None:
    training_sets, test = data
    per_seed = {0: training_sets["etal"], 1: training_sets["random"]}
    kwargs = dict(features=FEATURES, targets=["y"], models=["svr"], n_jobs=1, progress=False)
    out = evaluate_downstream({"random": per_seed}, test, seeds=[0, 1], **kwargs).set_index("seed")
    ref = evaluate_downstream(training_sets, test, seeds=[0], **kwargs).set_index("strategy")
    # SVR ignores its seed, so seed s reproduces the fit on the frame given for seed s.
    assert out.loc[0, "r2"] == ref.loc["etal", "r2"]
    assert out.loc[1, "r2"] == ref.loc["random", "r2"]
    with pytest.raises(InputError, match="lacks seed"):
        evaluate_downstream({"random": per_seed}, test, seeds=[0, 2], **kwargs)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(models=["xgboost"]), "unknown model"),
        (dict(targets=["nope"]), "no column"),
        (dict(group_col="nope"), "no column"),
        (dict(seeds=0), "seeds must be an integer >= 1, got 0"),
    ],
)
def test_bad_arguments_raise_input_error(data, change, match) -> None:
    training_sets, test = data
    kwargs = dict(features=FEATURES, targets=["y"], models=FAST, seeds=1, n_jobs=1, progress=False)
    kwargs.update(change)
    with pytest.raises(InputError, match=match):
        evaluate_downstream(training_sets, test, **kwargs)


def test_bad_tables_raise_input_error(data) -> None:
    training_sets, test = data
    kwargs = dict(features=FEATURES, targets=["y"], models=FAST, seeds=1, n_jobs=1, progress=False)
    holey = training_sets["etal"].copy()
    holey.loc[holey.index[4], "x1"] = np.nan
    with pytest.raises(InputError, match=r"'x1'.*rows 4"):
        evaluate_downstream({"etal": holey}, test, **kwargs)
    with pytest.raises(InputError, match="at least 20"):
        evaluate_downstream({"etal": training_sets["etal"].iloc[:10]}, test, **kwargs)
    flat = test.assign(y=1.0)
    with pytest.raises(InputError, match="all equal"):
        evaluate_downstream(training_sets, flat, **kwargs)


# --------------------------------------------------------------------------- paired_comparison


def downstream_table(values: dict[tuple[str, str, str], list[float]], metric: str = "r2") -> pd.DataFrame:
    rows = []
    for (strategy, model, target), vals in values.items():
        for seed, v in enumerate(vals):
            rows.append({"strategy": strategy, "model": model, "target": target, "seed": seed, "scope": "all",
                         "r2": v if metric == "r2" else np.nan, "mae": v if metric == "mae" else np.nan})
    return pd.DataFrame(rows)


def test_paired_comparison_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    b = rng.uniform(0.6, 0.8, 12)
    a = b + rng.normal(0.01, 0.02, 12)
    table = downstream_table({("etal", "gb", "B"): list(a), ("random", "gb", "B"): list(b)})
    table = table.sample(frac=1, random_state=1)  # pairing must follow the seed, not the row order
    row = paired_comparison(table, confidence=0.9).iloc[0]
    d = a - b
    ci = st.ttest_rel(a, b).confidence_interval(0.9)
    assert row["n_pairs"] == 12
    assert row["mean_a"] == pytest.approx(a.mean(), abs=1e-12)
    assert row["mean_b"] == pytest.approx(b.mean(), abs=1e-12)
    assert row["mean_diff"] == pytest.approx(d.mean(), abs=1e-12)
    assert row["ci_low"] == pytest.approx(ci.low, abs=1e-12)
    assert row["ci_high"] == pytest.approx(ci.high, abs=1e-12)
    assert row["p_value"] == pytest.approx(st.wilcoxon(a, b).pvalue, abs=1e-12)
    assert row["p_value_t"] == pytest.approx(st.ttest_rel(a, b).pvalue, abs=1e-12)
    assert row["a_better"] == pytest.approx(np.mean(d > 0))
    assert row["note"] == ""


def test_paired_comparison_mae_direction_and_unpaired_seeds() -> None:
    a = [0.10, 0.12, 0.09, 0.20]  # lower MAE is better
    b = [0.11, 0.11, 0.10, 0.15, 0.30]  # seed 4 has no partner in a
    table = downstream_table({("etal", "m", "t"): a, ("random", "m", "t"): b}, metric="mae")
    row = paired_comparison(table, metric="mae").iloc[0]
    assert row["n_pairs"] == 4
    assert row["a_better"] == pytest.approx(0.5)  # seeds 0 and 2
    assert row["mean_b"] == pytest.approx(np.mean(b[:4]))


def test_paired_comparison_edge_cases_do_not_crash() -> None:
    table = downstream_table(
        {
            ("etal", "one", "t"): [0.5],
            ("random", "one", "t"): [0.4],
            ("etal", "zero", "t"): [0.5, 0.6, 0.7],
            ("random", "zero", "t"): [0.5, 0.6, 0.7],
            ("etal", "const", "t"): [0.5, 0.6, 0.7],
            ("random", "const", "t"): [0.4, 0.5, 0.6],
            ("etal", "alone", "t"): [0.5, 0.6],
            ("etal", "nan", "t"): [0.5, np.nan, 0.7],
            ("random", "nan", "t"): [0.4, 0.5, 0.6],
        }
    )
    out = paired_comparison(table).set_index("model")
    assert out.loc["one", "n_pairs"] == 1 and math.isnan(out.loc["one", "ci_low"])
    assert math.isnan(out.loc["one", "p_value"]) and "1 paired seed" in out.loc["one", "note"]
    assert out.loc["zero", "ci_low"] == 0 == out.loc["zero", "ci_high"]
    assert math.isnan(out.loc["zero", "p_value"]) and "zero" in out.loc["zero", "note"]
    assert math.isnan(out.loc["const", "p_value_t"]) and "constant" in out.loc["const", "note"]
    assert out.loc["const", "p_value"] == pytest.approx(st.wilcoxon([0.1, 0.1, 0.1]).pvalue)
    assert out.loc["alone", "n_pairs"] == 0 and math.isnan(out.loc["alone", "mean_diff"])
    assert out.loc["nan", "n_pairs"] == 2
    with pytest.raises(InputError, match="'greedy'"):
        paired_comparison(table, a="greedy")


# --------------------------------------------------------------------------- bias trajectory


def test_summarise_bias_trajectory_against_hand_computed_gaps() -> None:
    rows = [
        # strategy, seed, iteration, group, entropy
        ("etal", 0, 0, "A", -1.0), ("etal", 0, 0, "B", 0.5), ("etal", 0, 0, "C", 0.2),
        ("etal", 0, 1, "A", -0.4), ("etal", 0, 1, "B", 0.5), ("etal", 0, 1, "C", np.nan),
        ("etal", 0, 2, "A", -np.inf), ("etal", 0, 2, "B", 0.3), ("etal", 0, 2, "C", np.nan),
        ("etal", 0, 3, "A", np.nan), ("etal", 0, 3, "B", np.nan), ("etal", 0, 3, "C", np.nan),
        ("random", 1, 0, "A", 0.0), ("random", 1, 0, "B", 2.0),
    ]
    traj = pd.DataFrame(rows, columns=["strategy", "seed", "iteration", "group", "entropy"])
    out = summarise_bias_trajectory(traj.sample(frac=1, random_state=0)).set_index(["strategy", "seed", "iteration"])
    assert out.loc[("etal", 0, 0), "entropy_gap"] == pytest.approx(1.5)
    # D = mean over groups of (max - h_g): (1.5 + 0 + 0.3) / 3
    assert out.loc[("etal", 0, 0), "entropy_deficit"] == pytest.approx((1.5 + 0.0 + 0.3) / 3)
    assert list(out.reset_index().columns) == list(SUMMARY_COLUMNS)
    assert out.loc[("etal", 0, 0), "entropy_min"] == pytest.approx(-1.0)
    assert out.loc[("etal", 0, 0), "entropy_std"] == pytest.approx(np.std([-1.0, 0.5, 0.2]))
    assert out.loc[("etal", 0, 1), "entropy_gap"] == pytest.approx(0.9)  # NaN group C left out
    assert out.loc[("etal", 0, 1), "entropy_deficit"] == pytest.approx(0.45)
    assert out.loc[("etal", 0, 1), "n_groups"] == 2
    # One finite group: no spread to measure.
    assert out.loc[("etal", 0, 2), "n_groups"] == 1
    assert math.isnan(out.loc[("etal", 0, 2), "entropy_gap"])
    assert math.isnan(out.loc[("etal", 0, 2), "entropy_deficit"])
    assert out.loc[("etal", 0, 2), "entropy_min"] == pytest.approx(0.3)
    assert out.loc[("etal", 0, 3), "n_groups"] == 0
    assert out.loc[("random", 1, 0), "entropy_gap"] == pytest.approx(2.0)
    with pytest.raises(InputError, match="several entropies"):
        summarise_bias_trajectory(pd.concat([traj, traj.iloc[:1]]))


def test_paired_by_split_matches_scipy_and_averages_repeated_runs() -> None:
    # Three splits; random ran twice on split 1 (two loop seeds): it counts once, with its mean.
    runs = pd.DataFrame(
        [("etal", 0, 0.30), ("etal", 1, 0.25), ("etal", 2, 0.40), ("random", 0, 0.35), ("random", 1, 0.20),
         ("random", 1, 0.40), ("random", 2, 0.50), ("uncertainty", 0, 0.31)],
        columns=["strategy", "split_seed", "final_D"],
    )  # fmt: skip
    out = paired_by_split(runs, "final_D", "etal", "random")
    a, b = np.array([0.30, 0.25, 0.40]), np.array([0.35, 0.30, 0.50])
    d = a - b
    assert out["n_pairs"] == 3 and out["mean_diff"] == pytest.approx(d.mean())
    low, high = st.t.interval(0.95, 2, loc=d.mean(), scale=st.sem(d))
    assert (out["ci_low"], out["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert out["p_value_t"] == pytest.approx(st.ttest_rel(a, b).pvalue)
    assert out["a_better"] == pytest.approx(1.0)  # lower D is better: etal lower on every split
    # One split in common: no interval, and the note says why.
    one = paired_by_split(runs, "final_D", "etal", "uncertainty")
    assert one["n_pairs"] == 1 and math.isnan(one["ci_low"]) and "only 1" in one["note"]
    assert one["mean_diff"] == pytest.approx(0.30 - 0.31)
    with pytest.raises(InputError, match="'greedy'"):
        paired_by_split(runs, "final_D", "etal", "greedy")
    with pytest.raises(InputError, match="same strategy"):
        paired_by_split(runs, "final_D", "etal", "etal")


# --------------------------------------------------------------------------- depleted groups


def test_group_score_trajectory_against_hand_computed_scores() -> None:
    rows = [
        # strategy, seed, iteration, group, entropy; the chosen groups are A and B
        ("etal", 0, 0, "A", -1.0), ("etal", 0, 0, "B", 0.5), ("etal", 0, 0, "C", -3.0),
        ("etal", 0, 1, "A", -0.4), ("etal", 0, 1, "B", np.nan), ("etal", 0, 1, "C", -3.0),
        ("etal", 0, 2, "A", -np.inf), ("etal", 0, 2, "B", np.nan), ("etal", 0, 2, "C", 1.0),
        ("random", 3, 0, "A", 0.25), ("random", 3, 0, "B", 2.0), ("random", 3, 0, "C", 9.0),
    ]
    traj = pd.DataFrame(rows, columns=["strategy", "seed", "iteration", "group", "entropy"])
    out = group_score_trajectory(traj.sample(frac=1, random_state=0), ["A", "B"])
    assert list(out.columns) == [
        "strategy", "seed", "iteration", "depleted_entropy_min", "depleted_entropy_mean", "n_depleted_groups",
    ]  # fmt: skip
    out = out.set_index(["strategy", "seed", "iteration"])
    # C (lower than both at iteration 0) is not a chosen group: it must not pull the min down.
    assert out.loc[("etal", 0, 0), "depleted_entropy_min"] == pytest.approx(-1.0)
    assert out.loc[("etal", 0, 0), "depleted_entropy_mean"] == pytest.approx(-0.25)
    assert out.loc[("etal", 0, 0), "n_depleted_groups"] == 2
    assert out.loc[("etal", 0, 1), "depleted_entropy_min"] == pytest.approx(-0.4)  # NaN B left out
    assert out.loc[("etal", 0, 1), "depleted_entropy_mean"] == pytest.approx(-0.4)
    assert out.loc[("etal", 0, 1), "n_depleted_groups"] == 1
    # -inf (constant values) and NaN: nothing finite among the chosen groups -> NaN, count 0
    assert math.isnan(out.loc[("etal", 0, 2), "depleted_entropy_min"])
    assert math.isnan(out.loc[("etal", 0, 2), "depleted_entropy_mean"])
    assert out.loc[("etal", 0, 2), "n_depleted_groups"] == 0
    assert out.loc[("random", 3, 0), "depleted_entropy_mean"] == pytest.approx(1.125)
    # One chosen group: min == mean == its entropy.
    single = group_score_trajectory(traj, ["B"]).set_index(["strategy", "seed", "iteration"])
    assert single.loc[("random", 3, 0), "depleted_entropy_min"] == 2.0 == single.loc[("random", 3, 0), "depleted_entropy_mean"]
    with pytest.raises(InputError, match="groups is empty"):
        group_score_trajectory(traj, [])
    with pytest.raises(InputError, match=r"\['D'\].*not in the trajectory"):
        group_score_trajectory(traj, ["A", "D"])


def test_group_score_trajectory_matches_labels_as_text() -> None:
    traj = pd.DataFrame(
        {"strategy": "etal", "seed": 0, "iteration": 0, "group": [1, 2, 3], "entropy": [0.3, -0.2, -5.0]}
    )
    out = group_score_trajectory(traj, [1, "2"])
    assert out["depleted_entropy_min"].item() == pytest.approx(-0.2)
    assert out["depleted_entropy_mean"].item() == pytest.approx(0.05)


def score_runs(values: dict[tuple[str, int], list[float]], iterations: dict[tuple[str, int], list[int]] | None = None):
    """A score table: one run per (strategy, seed), values at iterations 0, 1, 2, ... (or the given ones)."""
    rows = []
    for (strategy, seed), vals in values.items():
        its = (iterations or {}).get((strategy, seed), list(range(len(vals))))
        rows += [(strategy, seed, it, v) for it, v in zip(its, vals)]
    return pd.DataFrame(rows, columns=["strategy", "seed", "iteration", "score"])


def test_paired_final_difference_matches_scipy_at_the_last_common_iteration() -> None:
    a_final = np.array([0.10, -0.05, 0.30, 0.02, 0.12])
    b_final = np.array([-0.20, -0.10, 0.05, -0.30, -0.01])
    values = {}
    for seed in range(5):
        # ET-AL stops at iteration 2; random goes on to 4 and gets much higher there,
        # which must not enter the comparison.
        values[("etal", seed)] = [-1.0, -0.5, a_final[seed]]
        values[("random", seed)] = [-1.0, -0.6, b_final[seed], 5.0, 6.0]
    values[("balanced", 0)] = [-1.0]  # another strategy, shorter: irrelevant to etal vs random
    table = score_runs(values).sample(frac=1, random_state=2)
    out = paired_final_difference(table, "score", confidence=0.9)
    ci = st.ttest_rel(a_final, b_final).confidence_interval(0.9)
    assert out["iteration"] == 2 and out["paired"] and out["n_pairs"] == 5
    assert out["n_a"] == 5 and out["n_b"] == 5
    assert out["mean_a"] == pytest.approx(a_final.mean(), abs=1e-12)
    assert out["mean_b"] == pytest.approx(b_final.mean(), abs=1e-12)
    assert out["mean_diff"] == pytest.approx((a_final - b_final).mean(), abs=1e-12)
    assert out["ci_low"] == pytest.approx(ci.low, abs=1e-12)
    assert out["ci_high"] == pytest.approx(ci.high, abs=1e-12)
    assert out["p_value"] == pytest.approx(st.wilcoxon(a_final, b_final).pvalue, abs=1e-12)
    assert out["p_value_t"] == pytest.approx(st.ttest_rel(a_final, b_final).pvalue, abs=1e-12)
    assert out["a_better"] == pytest.approx(1.0)
    assert "compared at 2" in out["note"] and out["confidence"] == 0.9


def test_paired_final_difference_reads_the_latest_iteration_up_to_the_common_one() -> None:
    """Batches: random records 0, 3, 5; ET-AL stopped at 4 -> random is read at 3."""
    values = {("etal", 0): [0.0, 0.5, 1.0], ("etal", 1): [0.0, 0.4, 0.9],
              ("random", 0): [0.0, 0.2, 7.0], ("random", 1): [0.0, 0.1, 7.0]}  # fmt: skip
    its = {("etal", 0): [0, 3, 4], ("etal", 1): [0, 3, 4], ("random", 0): [0, 3, 5], ("random", 1): [0, 3, 5]}
    out = paired_final_difference(score_runs(values, its), "score")
    assert out["iteration"] == 4
    assert out["mean_b"] == pytest.approx(0.15)
    assert out["mean_diff"] == pytest.approx(np.mean([1.0 - 0.2, 0.9 - 0.1]))


def test_paired_final_difference_one_etal_run_against_five_random_seeds() -> None:
    b = [0.1, 0.2, 0.3, 0.4, 0.6]
    values = {("etal", 0): [0.0, 0.9], **{("random", s): [0.0, v] for s, v in enumerate(b)}}
    out = paired_final_difference(score_runs(values), "score")
    # One seed in common: no paired statistics; means over all runs of each, and a note.
    assert out["n_pairs"] == 1 and not out["paired"]
    assert out["n_a"] == 1 and out["n_b"] == 5
    assert out["mean_a"] == pytest.approx(0.9)
    assert out["mean_b"] == pytest.approx(np.mean(b))
    assert out["mean_diff"] == pytest.approx(0.9 - np.mean(b))
    for key in ("ci_low", "ci_high", "p_value", "p_value_t"):
        assert math.isnan(out[key]), key
    assert "no paired interval" in out["note"] and "seeds 0, 1, 2, 3, 4" in out["note"]


def test_paired_final_difference_drops_non_finite_and_unpaired_runs() -> None:
    values = {("etal", 0): [0.5], ("etal", 1): [np.nan], ("etal", 2): [0.7], ("etal", 3): [0.8],
              ("random", 0): [0.1], ("random", 1): [0.2], ("random", 2): [0.2], ("random", 9): [0.0]}  # fmt: skip
    out = paired_final_difference(score_runs(values), "score")
    a, b = np.array([0.5, 0.7]), np.array([0.1, 0.2])  # seeds 0 and 2 pair; 1 is NaN, 3 and 9 alone
    assert out["n_pairs"] == 2 and out["paired"]
    assert out["mean_diff"] == pytest.approx((a - b).mean())
    assert out["ci_low"] == pytest.approx(st.ttest_rel(a, b).confidence_interval().low)
    assert "without a partner seed" in out["note"]
    with pytest.raises(InputError, match="'greedy'"):
        paired_final_difference(score_runs(values), "score", b="greedy")
    with pytest.raises(InputError, match="no column"):
        paired_final_difference(score_runs(values), "other")
