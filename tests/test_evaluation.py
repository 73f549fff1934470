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
from scipy.integrate import trapezoid
from sklearn.metrics import mean_absolute_error, r2_score

from etal.errors import InputError
from etal.evaluation import (
    DOWNSTREAM_COLUMNS,
    MODEL_NAMES,
    downstream_models,
    evaluate_downstream,
    features_for_target,
    gap_reduction_rate,
    paired_comparison,
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
        (dict(seeds=0), "positive"),
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
    assert out.loc[("etal", 0, 0), "entropy_min"] == pytest.approx(-1.0)
    assert out.loc[("etal", 0, 0), "entropy_std"] == pytest.approx(np.std([-1.0, 0.5, 0.2]))
    assert out.loc[("etal", 0, 1), "entropy_gap"] == pytest.approx(0.9)  # NaN group C left out
    assert out.loc[("etal", 0, 1), "n_groups"] == 2
    # One finite group: no spread to measure.
    assert out.loc[("etal", 0, 2), "n_groups"] == 1
    assert math.isnan(out.loc[("etal", 0, 2), "entropy_gap"])
    assert out.loc[("etal", 0, 2), "entropy_min"] == pytest.approx(0.3)
    assert out.loc[("etal", 0, 3), "n_groups"] == 0
    assert out.loc[("random", 1, 0), "entropy_gap"] == pytest.approx(2.0)
    with pytest.raises(InputError, match="several entropies"):
        summarise_bias_trajectory(pd.concat([traj, traj.iloc[:1]]))


def linear_summary(strategy: str, seed: int, start: float, slope: float, last: int) -> pd.DataFrame:
    it = np.arange(last + 1)
    return pd.DataFrame({"strategy": strategy, "seed": seed, "iteration": it, "entropy_gap": start + slope * it})


def test_gap_reduction_rate_on_linear_gaps() -> None:
    summary = pd.concat(
        [
            linear_summary("etal", 0, 2.0, -0.01, 50),
            linear_summary("etal", 1, 2.0, -0.02, 50),
            linear_summary("etal", 2, 2.0, -0.03, 50),
            linear_summary("random", 0, 2.0, -0.005, 100),
            linear_summary("random", 1, 2.0, -0.005, 100),
        ]
    )
    out = gap_reduction_rate(summary).set_index("strategy")
    # upto=None: the common range, iterations 0..50 (ET-AL stopped at 50).
    assert out.loc["random", "last_iteration"] == 50
    drops = np.array([0.01, 0.02, 0.03])
    assert out.loc["etal", "gap_drop_per_acquisition"] == pytest.approx(drops.mean())
    low, high = st.t.interval(0.95, 2, loc=drops.mean(), scale=st.sem(drops))
    assert out.loc["etal", "drop_ci_low"] == pytest.approx(low)
    assert out.loc["etal", "drop_ci_high"] == pytest.approx(high)
    areas = [2.0 * 50 - d * 50**2 / 2 for d in drops]  # exact integral of a line
    assert out.loc["etal", "gap_area"] == pytest.approx(np.mean(areas))
    assert out.loc["etal", "gap_end"] == pytest.approx(np.mean(2.0 - drops * 50))
    assert out.loc["random", "gap_drop_per_acquisition"] == pytest.approx(0.005)
    assert out.loc["random", "drop_ci_low"] == pytest.approx(0.005)  # identical seeds: zero width
    # Explicit upto, one seed: no interval, a note says so.
    one = gap_reduction_rate(summary[summary["seed"] == 0], upto=100).set_index("strategy")
    assert one.loc["random", "gap_area"] == pytest.approx(trapezoid(2.0 - 0.005 * np.arange(101)))
    assert math.isnan(one.loc["etal", "drop_ci_low"]) and "one seed" in one.loc["etal", "note"]
    with pytest.raises(InputError, match="'greedy'"):
        gap_reduction_rate(summary, strategies=("etal", "greedy"))
