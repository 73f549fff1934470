"""Trimming: the greedy's constraints and choices, the API's result and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import etal
from etal.bias import bias_report
from etal.bias.scores import entropy_deficit
from etal.entropy import data_resolution, entropy_of_sorted, window_length
from etal.errors import InputError
from etal.trimming.api import REMOVED_COLUMNS, resolve_keep, trim
from etal.trimming.greedy import capacity, greedy_trim
from etal.trimming.objective import estimator_at


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return etal.synthetic(1500, groups=4, seed=3)


def _codes(frame):
    labels, codes = np.unique(frame["group"].astype(str), return_inverse=True)
    return labels, codes


def _deficit_of(frame) -> float:
    t = bias_report(frame, "group", "target", n_bootstrap=0).table
    return entropy_deficit(t.loc[t["status"] == "ok", "entropy"])


def test_trim_keeps_the_size_the_ranges_and_lowers_d_below_random_subsets(table):
    result = trim(table, 0.3)
    assert len(result.kept) == round(0.3 * len(table))
    assert len(result.kept) + len(result.removed) == len(table)
    assert set(result.kept["id"]).isdisjoint(result.removed["id"])
    # every group keeps its smallest and largest target value
    for _, part in table.groupby("group"):
        kept = result.kept[result.kept["group"] == part["group"].iloc[0]]["target"]
        assert kept.min() == part["target"].min() and kept.max() == part["target"].max()
    # D from an independent bias report of the kept rows, against 20 random subsets
    d_trim = _deficit_of(result.kept)
    assert result.scores["entropy_deficit_after"] == pytest.approx(d_trim)
    rng = np.random.default_rng(0)
    d_random = [_deficit_of(table.iloc[rng.choice(len(table), len(result.kept), replace=False)]) for _ in range(20)]
    assert d_trim < min(d_random)
    assert d_trim < 0.25 * result.scores["entropy_deficit_before"]
    assert list(result.removed.columns[-4:]) == list(REMOVED_COLUMNS)
    assert (result.removed["step"] >= 1).all()
    assert sorted(result.removed["order"]) == list(range(len(result.removed)))


def test_greedy_entropies_are_exact(table):
    labels, codes = _codes(table)
    y = table["target"].to_numpy()
    plan = greedy_trim(y, codes, 600)
    kept = plan.step == 0
    for g in range(len(labels)):
        x = np.sort(y[kept & (codes == g)])
        name, m = estimator_at("auto", x.size)
        assert plan.entropy_after[g] == pytest.approx(entropy_of_sorted(x, name, m, plan.resolution[g]), abs=1e-12)
    last = plan.history[-1]
    assert last["deficit"] == pytest.approx(entropy_deficit(plan.entropy_after), abs=1e-12)


def test_plain_greedy_first_step_is_the_best_single_removal():
    # Independent truth: remove each removable row in turn and re-estimate from scratch.
    frame = etal.synthetic(120, groups=3, seed=5)
    labels, codes = _codes(frame)
    y = frame["target"].to_numpy()
    plan = greedy_trim(y, codes, len(y) - 1, batch=False)
    removed = int(np.flatnonzero(plan.step == 1)[0])
    h = []
    for g in range(len(labels)):
        x = np.sort(y[codes == g])
        h.append(entropy_of_sorted(x, estimator_at("auto", x.size)[0], window_length(x.size), data_resolution(x)))
    best = np.inf
    for j in range(len(y)):
        g = codes[j]
        x = np.sort(y[codes == g])
        if y[j] in (x[0], x[-1]):
            continue
        rest = np.sort(np.delete(y, j)[np.delete(codes, j) == g])
        after = list(h)
        after[g] = entropy_of_sorted(rest, estimator_at("auto", rest.size)[0], window_length(rest.size), data_resolution(x))
        best = min(best, entropy_deficit(after))
    chosen = list(h)
    g = codes[removed]
    rest = np.sort(np.delete(y, removed)[np.delete(codes, removed) == g])
    chosen[g] = entropy_of_sorted(rest, estimator_at("auto", rest.size)[0], window_length(rest.size), plan.resolution[g])
    assert entropy_deficit(chosen) == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_batches_and_plain_greedy_both_even_out_the_groups(seed):
    frame = etal.synthetic(900, groups=4, seed=seed)
    _labels, codes = _codes(frame)
    y = frame["target"].to_numpy()
    before = None
    for batch in (True, False):
        plan = greedy_trim(y, codes, 300, batch=batch)
        before = entropy_deficit(plan.entropy_before)
        assert entropy_deficit(plan.entropy_after) < 0.3 * before
        assert (plan.step == 0).sum() == 300
    steps_batched = len(greedy_trim(y, codes, 300).history)
    assert steps_batched < 0.5 * len(greedy_trim(y, codes, 300, batch=False).history)


def test_minimum_counts_and_must_keep_rows(table):
    labels = sorted(table["group"].unique())
    must = table["id"].iloc[[0, 5, 17, 400]].tolist()
    result = trim(table, 200, min_per_group={labels[0]: 120}, keep_ids=[str(i) for i in must])
    counts = result.kept["group"].value_counts()
    assert counts[labels[0]] >= 120
    assert (counts >= 5).all() and len(counts) == len(labels)
    assert set(must) <= set(result.kept["id"])
    result = trim(table, 200, min_per_group=30)
    assert (result.kept["group"].value_counts() >= 30).all()


def test_capacity_counts_floor_extremes_and_protected_rows():
    codes = np.array([0] * 10 + [1] * 4 + [2] * 8)
    protected = np.zeros(codes.size, dtype=bool)
    protected[[0, 1, 14]] = True
    # group 0: 10 - max(5, 2 + 2) = 5; group 1: below 5, none; group 2: 8 - max(7, 3) = 1
    np.testing.assert_array_equal(capacity(codes, 3, protected, np.array([0, 0, 7])), [5, 0, 1])


def test_resolve_keep():
    assert resolve_keep(0.3, 1000) == 300
    assert resolve_keep(300, 1000) == 300
    assert resolve_keep(1.0, 1000) == 1000
    assert resolve_keep(300.0, 1000) == 300
    for bad in (0, -3, 1001, 1.5, 0.0, float("nan"), "10", True):
        with pytest.raises(InputError):
            resolve_keep(bad, 1000)


def test_bad_requests_raise_input_error(table):
    with pytest.raises(InputError, match="larger than the table"):
        trim(table, len(table) + 1)
    with pytest.raises(InputError, match="need at least"):
        trim(table, 10)
    with pytest.raises(InputError, match="need at least"):
        trim(table, 300, min_per_group=400)
    with pytest.raises(InputError, match="not ids"):
        trim(table, 300, keep_ids=["0", "1", "no-such-id"])
    with pytest.raises(InputError, match="unknown group"):
        trim(table, 300, min_per_group={"nope": 3})
    with pytest.raises(InputError, match="Correa"):
        trim(table, 300, method="correa")
    with pytest.raises(InputError, match="coverage_weight"):
        trim(table, 300, coverage_weight=-1)


def test_coverage_term_keeps_the_feature_space_covered(table):
    from scipy.spatial import cKDTree

    features = [c for c in table.columns if c.startswith("f")]
    z = (table[features] - table[features].mean()) / table[features].std(ddof=0)

    def worst_gap(kept_ids):
        # largest distance from a removed row to its nearest kept row (standardised)
        kept = table["id"].isin(kept_ids).to_numpy()
        dist, _ = cKDTree(z[kept].to_numpy()).query(z[~kept].to_numpy())
        return float(np.quantile(dist, 0.95))

    plain = trim(table, 0.2)
    covered = trim(table, 0.2, coverage_weight=1.0)
    assert worst_gap(covered.kept["id"]) < 0.9 * worst_gap(plain.kept["id"])
    # a trade-off: still below the full set's D, but above the plain trim's
    assert plain.scores["entropy_deficit_after"] < covered.scores["entropy_deficit_after"]
    assert covered.scores["entropy_deficit_after"] < 0.75 * covered.scores["entropy_deficit_before"]


def test_unlabelled_rows_are_listed_not_trimmed():
    frame = etal.synthetic(400, groups=3, pool_fraction=0.2, seed=1)
    result = trim(frame, 0.5)
    n_lab = int(frame["target"].notna().sum())
    assert len(result.kept) == round(0.5 * n_lab)
    pool = result.removed[result.removed["target"].isna()]
    assert len(pool) == int(frame["target"].isna().sum())
    assert (pool["step"] == 0).all() and pool["reason"].str.startswith("unlabelled").all()


def test_etal_trim_is_callable_from_the_package(table):
    result = etal.trim(table, 0.5)
    assert len(result.kept) == round(0.5 * len(table))
    assert etal.trimming.api.trim is trim


def test_etal_trim_is_the_same_callable_whichever_import_comes_first():
    import subprocess
    import sys

    code = (
        "import etal, etal.datasets as d\n"
        "t = etal.trim\n"  # the lazy export first, before any sub-module import
        "r = t(d.synthetic(300, groups=2, seed=0), 0.5)\n"
        "import etal.trimming.api\n"
        "assert etal.trim is t and etal.trimming.api.trim is t and len(r.kept) == 150\n"
        "from etal.trimming import trim\n"
        "assert trim is t\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_groups_too_small_for_an_estimate_are_kept_whole():
    frame = etal.synthetic(300, groups=2, seed=7)
    tiny = frame.iloc[:3].copy()
    tiny["group"], tiny["id"] = "tiny", [1001, 1002, 1003]
    result = trim(pd.concat([frame, tiny], ignore_index=True), 150)
    assert set(result.kept["id"]) >= {1001, 1002, 1003}
    assert np.isnan(result.comparison.set_index("group").loc["tiny", "entropy_after"])
