"""The downstream comparison of trimmed, random, stratified and full training sets."""

from __future__ import annotations

import numpy as np
import pytest

import etal
from etal.data import load_data
from etal.errors import InputError
from etal.trimming.evaluate import check_evaluation, compare_subsets, stratified_subset


def test_stratified_subset_keeps_each_groups_share():
    groups = np.array(["a"] * 500 + ["b"] * 300 + ["c"] * 200)
    picks = stratified_subset(groups, 101, np.random.default_rng(0))
    assert picks.size == np.unique(picks).size == 101
    counts = {g: int((groups[picks] == g).sum()) for g in "abc"}
    # shares 50.5, 30.3, 20.2: floors 50, 30, 20 and the one left over to the largest remainder
    assert counts == {"a": 51, "b": 30, "c": 20}


def test_compare_subsets_small():
    frame = etal.synthetic(700, groups=3, seed=4)
    result = compare_subsets(frame, 0.3, seeds=3, models=["svr"], n_jobs=1, progress=False)
    s = result.settings
    assert s["n_pool"] + s["n_test"] == 700 and s["n_keep"] == round(0.3 * s["n_pool"])
    bias = result.bias.set_index("subset")
    assert (bias.loc[["trimmed", "random", "stratified"], "n"] == s["n_keep"]).all()
    # the trimmed set's D is below every seed's random and stratified subsets'
    by_seed = result.bias_by_seed
    d_trim = bias.loc["trimmed", "deficit_mean"]
    assert (by_seed[by_seed["subset"].isin(["random", "stratified"])]["deficit"] > d_trim).all()
    fits = result.downstream[result.downstream["model"] == "svr"]
    assert len(fits) == 4 * 3 and fits["r2"].between(-5, 1).all()
    mean = result.summary[result.summary["model"] == "mean of models"]
    assert (mean["r2_ci_low"] <= mean["r2_mean"]).all() and (mean["r2_mean"] <= mean["r2_ci_high"]).all()
    assert any(line.startswith("R² trimmed - full") for line in result.verdict_lines())


def test_check_evaluation_refuses_bad_requests():
    ds = load_data(etal.synthetic(200, groups=2, seed=0))
    with pytest.raises(InputError, match="at least 2 seeds"):
        check_evaluation(ds, seeds=1, test_fraction=0.2, models=None)
    with pytest.raises(InputError, match="test fraction"):
        check_evaluation(ds, seeds=3, test_fraction=1.0, models=None)
    with pytest.raises(InputError, match="unknown downstream model"):
        check_evaluation(ds, seeds=3, test_fraction=0.2, models=["gp"])
