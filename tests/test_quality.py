"""Quality metrics of D curves (etal.evaluation.quality), checked against closed forms and SciPy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from scipy.integrate import trapezoid

from etal.bias.scores import entropy_deficit
from etal.errors import InputError
from etal.evaluation import quality as q


def test_schemas_are_the_documented_columns() -> None:
    assert q.BENCHMARK_RUN_COLUMNS == (
        "dataset", "split_seed", "strategy", "final_D", "auc_D", "picks_to_random", "share_of_bound",
    )  # fmt: skip
    assert q.BENCHMARK_CURVE_COLUMNS == (
        "dataset",
        "split_seed",
        "strategy",
        "acquisition",
        "entropy_deficit",
    )
    # Every per-run metric of the benchmark table is one run_metrics computes.
    assert set(q.BENCHMARK_RUN_COLUMNS[3:]) <= set(q.RUN_METRIC_COLUMNS)


def test_area_under_curve_closed_forms() -> None:
    # A line a + b t over 0..n: exact integral n a + b n^2 / 2 (trapezoid is exact on lines).
    t = np.arange(101)
    assert q.area_under_curve(2.0 - 0.01 * t) == pytest.approx(
        100 * 2.0 - 0.01 * 100**2 / 2
    )
    # A constant c over 0..n: c n.
    assert q.area_under_curve(np.full(51, 0.4)) == pytest.approx(0.4 * 50)
    assert q.area_under_curve([3.0]) == 0.0 and q.area_under_curve([]) == 0.0


@settings(max_examples=50, deadline=None)
@given(hst.lists(hst.floats(-10, 10, allow_nan=False), min_size=2, max_size=60))
def test_area_under_curve_matches_scipy(values) -> None:
    assert q.area_under_curve(values) == pytest.approx(trapezoid(values), abs=1e-9)


def test_picks_to_reach() -> None:
    curve = [1.0, 0.9, 0.7, 0.72, 0.5]
    assert q.picks_to_reach(curve, 0.7) == 2.0  # first t with curve[t] <= ref
    assert q.picks_to_reach(curve, 1.0) == 0.0  # already there at the start
    assert math.isnan(q.picks_to_reach(curve, 0.4))  # never
    assert math.isnan(q.picks_to_reach(curve, float("nan")))
    assert q.picks_to_reach(curve, 0.5 - 1e-13) == 4.0  # rounding error is not a miss


def test_share_of_bound_edge_cases() -> None:
    assert q.share_of_bound(1.0, 0.6, 0.2) == pytest.approx(0.5)
    assert q.share_of_bound(1.0, 0.2, 0.2) == pytest.approx(1.0)
    assert q.share_of_bound(1.0, 1.0, 0.2) == 0.0
    assert q.share_of_bound(1.0, 1.2, 0.2) == pytest.approx(-0.25)  # D rose
    assert math.isnan(q.share_of_bound(1.0, 0.6, 1.0))  # the bound reduced nothing
    assert math.isnan(q.share_of_bound(1.0, 0.6, 1.3))  # ... or made it worse
    assert math.isnan(q.share_of_bound(1.0, float("nan"), 0.2))


def test_pad_and_curve_on_acquisitions() -> None:
    np.testing.assert_array_equal(q.pad_curve([3, 2, 1], 5), [3, 2, 1, 1, 1, 1])
    np.testing.assert_array_equal(q.pad_curve([3, 2, 1], 1), [3, 2])
    with pytest.raises(ValueError):
        q.pad_curve([], 3)
    # Batches of 2: the value stays until the next batch's labels arrive; after the end it stays.
    got = q.curve_on_acquisitions([4, 0, 2], [0.5, 1.0, 0.8], 6)
    np.testing.assert_array_equal(got, [1.0, 1.0, 0.8, 0.8, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="after 0"):
        q.curve_on_acquisitions([1, 2], [1.0, 0.5], 3)
    with pytest.raises(ValueError, match="same acquisition"):
        q.curve_on_acquisitions([0, 1, 1], [1.0, 0.5, 0.4], 3)


def test_deficit_curve_is_entropy_deficit_per_row() -> None:
    ent = pd.DataFrame(
        {"a": [0.0, 0.5, 0.9], "b": [1.0, 1.0, 1.0], "c": [np.nan, 0.2, 0.4]}
    )
    expected = [entropy_deficit(r) for r in ent.to_numpy()]
    np.testing.assert_allclose(q.deficit_curve(ent), expected)
    assert expected[0] == pytest.approx(0.5)  # c left out: (1 + 0) / 2
    np.testing.assert_allclose(
        q.deficit_curve(ent, budget=4), [*expected, expected[-1], expected[-1]]
    )


def _line(dataset, seed, strategy, start, slope, last):
    t = np.arange(last + 1)
    return pd.DataFrame(
        {
            "dataset": dataset,
            "split_seed": seed,
            "strategy": strategy,
            "acquisition": t,
            "entropy_deficit": start + slope * t,
        }
    )


def test_run_metrics_against_closed_forms() -> None:
    curves = pd.concat(
        [
            _line("d", 0, "random", 1.0, -0.002, 100),  # final 0.8
            _line("d", 0, "etal", 1.0, -0.004, 100),  # reaches 0.8 at t = 50, final 0.6
            _line("d", 0, "oracle", 1.0, -0.006, 100),  # final 0.4
            _line(
                "d", 0, "balanced", 1.0, -0.001, 40
            ),  # stopped at 40: keeps 0.96, never reaches 0.8
            _line(
                "d", 1, "etal", 2.0, -0.01, 100
            ),  # split 1 has no random and no bound
        ],
        ignore_index=True,
    )
    table = q.run_metrics(curves.sample(frac=1, random_state=0))
    assert list(table.columns) == [
        "dataset",
        "split_seed",
        "strategy",
        *q.RUN_METRIC_COLUMNS,
    ]
    out = table.set_index(["split_seed", "strategy"])
    etal = out.loc[(0, "etal")]
    assert etal["D_start"] == pytest.approx(1.0) and etal["final_D"] == pytest.approx(
        0.6
    )
    assert etal["auc_D"] == pytest.approx(100 * 1.0 - 0.004 * 100**2 / 2)
    assert etal["picks_to_random"] == 50.0
    assert etal["share_of_bound"] == pytest.approx(0.4 / 0.6)
    assert out.loc[(0, "random"), "picks_to_random"] == 100.0
    assert out.loc[(0, "oracle"), "share_of_bound"] == pytest.approx(1.0)
    bal = out.loc[(0, "balanced")]
    assert bal["final_D"] == pytest.approx(0.96)
    assert bal["auc_D"] == pytest.approx((40 * 1.0 - 0.001 * 40**2 / 2) + 60 * 0.96)
    assert math.isnan(bal["picks_to_random"])
    alone = out.loc[(1, "etal")]
    assert math.isnan(alone["picks_to_random"]) and math.isnan(alone["share_of_bound"])
    # The benchmark's table is a column selection of it.
    assert list(q.run_metrics(curves)[list(q.BENCHMARK_RUN_COLUMNS)].columns) == list(
        q.BENCHMARK_RUN_COLUMNS
    )


def test_run_metrics_reference_is_the_mean_of_repeated_runs_on_a_split() -> None:
    # One split, random run with two loop seeds (finals 0.8 and 0.6: reference 0.7).
    curves = pd.concat(
        [
            _line("d", 0, "random", 1.0, -0.002, 100).assign(seed=0),
            _line("d", 0, "random", 1.0, -0.004, 100).assign(seed=1),
            _line("d", 0, "etal", 1.0, -0.005, 100).assign(seed=0),
        ],
        ignore_index=True,
    )
    out = q.run_metrics(
        curves,
        run=("strategy", "seed", "split_seed"),
        split=("split_seed",),
        budget=100,
    )
    etal = out[out["strategy"] == "etal"].iloc[0]
    assert etal["picks_to_random"] == 60.0  # 1 - 0.005 t <= 0.7


def test_run_metrics_bad_tables() -> None:
    curves = _line("d", 0, "etal", 1.0, -0.01, 10)
    with pytest.raises(InputError, match="no column"):
        q.run_metrics(curves.drop(columns="entropy_deficit"))
    with pytest.raises(InputError, match="several"):
        q.run_metrics(pd.concat([curves, curves.iloc[:1]]))
    with pytest.raises(InputError, match="after 0 acquisitions"):
        q.run_metrics(curves[curves["acquisition"] > 0])
    with pytest.raises(InputError, match="not numeric"):
        q.run_metrics(curves.assign(entropy_deficit="x"))
    with pytest.raises(InputError, match="split keys"):
        q.run_metrics(curves, split=("dataset", "nope"))
