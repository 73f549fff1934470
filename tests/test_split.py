"""Biased split: rule parser (no eval), rule semantics, counts by hand, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from etal.errors import InputError
from etal.split import (
    PAPER_RULES,
    biased_split,
    default_rules,
    parse_condition,
    parse_rule_spec,
    parse_rule_specs,
)


def small_frame() -> pd.DataFrame:
    # group a: targets -2..7 (10 rows); group b: 10 rows, 4 of them > 0; group c: 6 rows.
    return pd.DataFrame(
        {
            "id": np.arange(26),
            "grp": ["a"] * 10 + ["b"] * 10 + ["c"] * 6,
            "y": list(np.arange(-2.0, 8.0)) + [-3, -2, -1, -0.5, -0.25, 0, 0.5, 1, 2, 3] + [1, 2, 3, 4, 5, 6],
            "x": np.linspace(0, 1, 26),
        }
    )


# ---------------------------------------------------------------------------- parser


@pytest.mark.parametrize(
    "text, values, expected",
    [
        ("target > 0", [-1, 0, 1], [False, False, True]),
        ("target >= 0", [-1, 0, 1], [False, True, True]),
        ("target <= -0.5", [-1, -0.5, 0], [True, True, False]),
        ("target == 1", [1, 2], [True, False]),
        ("target != 1", [1, 2], [False, True]),
        ("0 < target", [-1, 1], [False, True]),  # mirrored
        ("-1e-1 >= target", [-0.2, 0.0], [True, False]),
        ("target < -1 or target > 1", [-2, 0, 2], [True, False, True]),
        ("target > 0 and target < 1", [-1, 0.5, 2], [False, True, False]),
        # and binds tighter than or: a or (b and c)
        ("target < -1 or target > 0 and target < 1", [-2, 0.5, 2], [True, True, False]),
        ("(target < -1 or target > 0) and target < 1", [-2, 0.5, 2], [True, True, False]),
        ("TARGET > 0 AND Target < 2", [1, 3], [True, False]),
        ("energy > 0", [1, -1], [True, False]),  # the target column's own name
    ],
)
def test_condition_semantics(text, values, expected):
    cond = parse_condition(text, ("energy",))
    assert cond(np.array(values, dtype=float)).tolist() == expected


def test_nan_never_matches():
    assert parse_condition("target != 0")(np.array([np.nan, 1.0])).tolist() == [False, True]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "target",
        "target >",
        "> 0",
        "target > 0 0",
        "target > 0 and",
        "target >> 0",
        "x > 0",
        "(target > 0",
        "target > 0)",
        "target > 1e400",
        "__import__('os').system('echo hacked')",
        "target > 0; import os",
        "target > (lambda: 0)()",
        "target.__class__ > 0",
    ],
)
def test_invalid_conditions_raise_input_error(text):
    with pytest.raises(InputError):
        parse_condition(text)


def test_parser_never_evaluates(monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be used")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert parse_condition("target > 0 or target < -1")(np.array([2.0, -2.0, 0.0])).tolist() == [True, True, False]
    with pytest.raises(InputError):
        parse_condition("__import__('os')")


def test_rule_specs():
    assert parse_rule_spec("tetragonal: target > 0") == ("tetragonal", "target > 0")
    assert parse_rule_spec("  odd:name : target<0 ") == ("odd:name", "target<0")
    assert parse_rule_specs(["a: target > 1", "b: target < 0", "a: target < -1"]) == {
        "a": "(target > 1) or (target < -1)",
        "b": "target < 0",
    }
    for bad in ("tetragonal target > 0", ": target > 0", "tetragonal:", "t: target >"):
        with pytest.raises(InputError):
            parse_rule_spec(bad)


def test_default_rules():
    systems = ["cubic", "tetragonal", "orthorhombic", "trigonal", "hexagonal"]
    assert default_rules(systems) == PAPER_RULES
    assert default_rules(["cubic", "Tetragonal"]) == {"Tetragonal": "target > 0"}
    assert default_rules(["cubic", "perovskite"]) == {}
    assert default_rules(["a", "b"]) == {}


# ---------------------------------------------------------------------------- split


def test_counts_by_hand_without_test_set():
    frame = small_frame()
    s = biased_split(frame, group_col="grp", target_col="y", rules={"a": "target > 3"},
                     test_fraction=0.0, pool_size=6, seed=1)
    # a has targets 4, 5, 6, 7 above 3: those 4 rows are depleted; 2 more fill the pool.
    assert len(s.test) == 0
    assert len(s.pool) == 6 and len(s.labelled) == 20
    assert sorted(s.pool.loc[s.pool["grp"] == "a", "y"].tolist())[-4:] == [4.0, 5.0, 6.0, 7.0]
    assert not (s.labelled.loc[s.labelled["grp"] == "a", "y"] > 3).any()
    summary = s.summary().set_index("group")
    assert summary.loc["a", "depleted"] == 4
    assert summary["depleted"].sum() == 4
    assert summary[["labelled", "pool", "test"]].sum().tolist() == [20, 6, 0]
    assert summary.loc["a", "rule"] == "target > 3" and summary.loc["b", "rule"] == ""
    assert (summary["total"] == [10, 10, 6]).all()


def test_partition_and_rule_with_test_set():
    frame = small_frame()
    s = biased_split(frame, group_col="grp", target_col="y", rules={"b": "target > 0 or target <= -2"},
                     test_fraction=0.25, pool_size=8, seed=3)
    ids = [set(part["id"]) for part in (s.labelled, s.pool, s.test)]
    assert sum(map(len, ids)) == 26 and len(set.union(*ids)) == 26  # disjoint and complete
    assert len(s.test) == round(0.25 * 26)
    # every non-test row of b matching the rule is in the pool; none is left labelled
    b = frame[frame["grp"] == "b"]
    matching = set(b.loc[(b["y"] > 0) | (b["y"] <= -2), "id"]) - ids[2]
    assert matching <= ids[1]
    lab_b = s.labelled[s.labelled["grp"] == "b"]["y"]
    assert ((lab_b <= 0) & (lab_b > -2)).all()
    assert s.summary().set_index("group").loc["b", "depleted"] == len(matching)
    # row order inside each part follows the input order
    for part in (s.labelled, s.pool, s.test):
        assert part["id"].is_monotonic_increasing


def test_deterministic_and_seed_dependent():
    frame = small_frame()
    kw = dict(group_col="grp", target_col="y", rules={"a": "target > 3"}, test_fraction=0.3, pool_size=8)
    one, two = biased_split(frame, seed=5, **kw), biased_split(frame, seed=5, **kw)
    for p, q in ((one.labelled, two.labelled), (one.pool, two.pool), (one.test, two.test)):
        pd.testing.assert_frame_equal(p, q)
    other = biased_split(frame, seed=6, **kw)
    assert set(other.test["id"]) != set(one.test["id"])


def test_depleted_rows_beyond_pool_size_are_kept_with_a_note():
    s = biased_split(small_frame(), group_col="grp", target_col="y", rules={"c": "target > 0"},
                     test_fraction=0.0, pool_size=3, seed=0)
    assert len(s.pool) == 6 and set(s.pool["grp"]) == {"c"}
    assert len(s.notes) == 1 and "6" in s.notes[0] and "pool_size=3" in s.notes[0]


def test_no_rules_pool_is_random_fill():
    s = biased_split(small_frame(), group_col="grp", target_col="y", rules={}, test_fraction=0.0, pool_size=5)
    assert len(s.pool) == 5 and s.rules == {} and s.summary()["depleted"].sum() == 0


def test_unknown_group_lists_groups():
    with pytest.raises(InputError, match=r"'tetragonal'.*groups are: 'a', 'b', 'c'"):
        biased_split(small_frame(), group_col="grp", target_col="y", rules={"tetragonal": "target > 0"})


def test_bad_inputs():
    frame = small_frame()
    with pytest.raises(InputError, match="target column 'nope'"):
        biased_split(frame, group_col="grp", target_col="nope")
    with pytest.raises(InputError, match="test_fraction"):
        biased_split(frame, group_col="grp", target_col="y", test_fraction=1.0)
    with pytest.raises(InputError, match="no labelled rows"):
        biased_split(frame, group_col="grp", target_col="y", rules={}, test_fraction=0.5, pool_size=13)
    missing = frame.assign(y=frame["y"].where(frame["id"] != 4))
    with pytest.raises(InputError, match="every row labelled"):
        biased_split(missing, group_col="grp", target_col="y")
    with pytest.raises(InputError, match="cannot parse"):
        biased_split(frame, group_col="grp", target_col="y", rules={"a": "y >> 0"})


def test_paper_split_on_oqmd8(tmp_path):
    from etal.data import load_data

    ds = load_data("oqmd8")
    s = biased_split(ds, seed=0)  # crystal systems: the paper's rules by default
    assert s.rules == PAPER_RULES
    frame, target = ds.frame, ds.target_col
    assert len(s.test) == round(0.3 * len(frame))
    assert len(s.pool) == 1000 and len(s.labelled) == len(frame) - len(s.test) - 1000
    lab = s.labelled
    for group, cond in (("tetragonal", lab[target] > 0), ("orthorhombic", lab[target] < 0), ("trigonal", lab[target] > 0)):
        assert not (cond & (lab["crystal_system"] == group)).any()
    # every depleted row not in the test set is in the pool (independent pandas count)
    rest = frame[~frame["id"].isin(s.test["id"])]
    depleted = rest[
        ((rest["crystal_system"] == "tetragonal") & (rest[target] > 0))
        | ((rest["crystal_system"] == "orthorhombic") & (rest[target] < 0))
        | ((rest["crystal_system"] == "trigonal") & (rest[target] > 0))
    ]
    assert set(depleted["id"]) <= set(s.pool["id"])
    assert s.summary()["depleted"].sum() == len(depleted)
    paths = s.save(tmp_path)
    assert {p.name for p in paths} == {"labelled.csv", "pool.csv", "test.csv", "split_summary.csv", "split.json"}
    assert len(pd.read_csv(tmp_path / "pool.csv")) == 1000


def test_plain_frames_are_checked_by_the_data_layer_but_split_as_given():
    from etal.data import from_frame

    frame = small_frame()
    # the same messages as etal.data (file/column/rows named), not a split-only wording
    bad = frame.assign(y=frame["y"].astype(object).where(frame["id"] != 3, "n/a"))
    with pytest.raises(InputError, match=r"target column 'y' has non-numeric values at .*row 4.*'n/a'"):
        biased_split(bad, group_col="grp", target_col="y")
    with pytest.raises(InputError, match=r"group column 'grp' is empty at .*row 2"):
        biased_split(frame.assign(grp=frame["grp"].where(frame["id"] != 1, " ")), group_col="grp", target_col="y")
    with pytest.raises(InputError, match="duplicate"):
        biased_split(frame.assign(id=0), group_col="grp", target_col="y")
    # outputs unchanged: the caller's columns, labels (ints stay ints) and row order
    ints = frame.assign(grp=frame["grp"].map({"a": 1, "b": 2, "c": 3}), note="text")
    s = biased_split(ints, group_col="grp", target_col="y", rules={"1": "target > 3"}, test_fraction=0.0, pool_size=6)
    assert list(s.labelled.columns) == list(ints.columns) and set(s.pool["grp"]) <= {1, 2, 3}
    assert s.rules == {1: "target > 3"} and sorted(s.pool.loc[s.pool["grp"] == 1, "y"])[-4:] == [4, 5, 6, 7]
    # a Dataset of the same rows gives the same split (its validated frame)
    ds = from_frame(frame, group_col="grp", target_col="y", id_col="id", feature_cols=["x"])
    kw = {"rules": {"a": "target > 3"}, "test_fraction": 0.25, "pool_size": 8, "seed": 2}
    a, b = biased_split(frame, group_col="grp", target_col="y", **kw), biased_split(ds, **kw)
    for p, q in ((a.labelled, b.labelled), (a.pool, b.pool), (a.test, b.test)):
        assert p["id"].tolist() == q["id"].tolist()
