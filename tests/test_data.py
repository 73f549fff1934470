"""Tests of etal.data (loading + validation) and etal.cli.common (shared CLI helpers)."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etal.cli.common import (
    add_data_arguments,
    add_output_argument,
    dataset_from_args,
    format_table,
    print_table,
)
from etal.data import ROWS_NOTE, Dataset, from_frame, load_data, load_table
from etal.datasets import dataset_info, list_datasets, load_dataset
from etal.errors import InputError, MissingExtraError

GOOD_CSV = """\
name,system,energy,f0,f1,label
a,cubic,-0.5,1.0,2.0,x
b,cubic,-0.25,1.5,2.5,y
c,hexagonal,0.1,2.0,3.0,z
d,hexagonal,,2.5,3.5,w
e,trigonal,0.3,3.0,4.5,v
f,trigonal,,3.5,5.0,u
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_with(tmp_path: Path, rows: list[str], header: str = "name,system,energy,f0,f1", name: str = "t.csv") -> Path:
    return write(tmp_path, name, "\n".join([header, *rows]) + "\n")


def good_rows(n: int = 8) -> list[str]:
    systems = ["cubic", "hexagonal"]
    return [f"r{i},{systems[i % 2]},{-0.1 * i:.2f},{i}.5,{2 * i}.0" for i in range(n)]


def error_of(func, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        func(*args, **kwargs)
    return str(info.value)


def load(path, **kwargs):
    kwargs.setdefault("group_col", "system")
    kwargs.setdefault("target_col", "energy")
    kwargs.setdefault("id_col", "name")
    return load_table(path, **kwargs)


# --------------------------------------------------------------------------- embedded


def test_load_data_default_is_oqmd8_with_info_defaults():
    info = dataset_info("oqmd8")
    ds = load_data()
    assert isinstance(ds, Dataset)
    assert len(ds.frame) == 2953
    assert (ds.group_col, ds.target_col, ds.id_col) == ("crystal_system", "formation_energy_per_atom", "id")
    assert ds.feature_cols == list(info.features)
    assert ds.source == "oqmd8" and ds.sha256 == info.sha256
    raw = load_dataset("oqmd8")
    assert ds.groups == sorted(raw["crystal_system"].astype(str).unique())
    assert len(ds.groups) == 7
    assert len(ds.labelled) == 2953 and len(ds.pool) == 0
    np.testing.assert_array_equal(ds.frame["formation_energy_per_atom"], raw["formation_energy_per_atom"])
    assert ds.features().shape == (2953, len(info.features))
    same = load_data("OQMD8")
    assert same.feature_cols == ds.feature_cols and len(same.frame) == 2953


def test_embedded_explicit_columns_override_defaults():
    ds = load_data("oqmd8", target_col="volume_per_atom")
    assert ds.target_col == "volume_per_atom"
    # the new target is dropped from the default features instead of leaking into them
    assert "volume_per_atom" not in ds.feature_cols
    assert ds.feature_cols == [c for c in dataset_info("oqmd8").features if c != "volume_per_atom"]
    ds = load_data("oqmd8", feature_cols="frac_*")
    assert ds.feature_cols == [f"frac_{el}" for el in ("Co", "Ni", "W", "Al", "Cr", "Fe", "Ti", "Cu")]


def test_unknown_path_lists_embedded_datasets(tmp_path):
    message = error_of(load_data, str(tmp_path / "nothing.csv"))
    assert "nothing.csv" in message and "neither an existing file" in message
    for name in list_datasets():
        assert name in message


# --------------------------------------------------------------------------- formats


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["a", "b", "c", "d", "e", "f"],
            "system": ["cubic", "cubic", "hexagonal", "hexagonal", "trigonal", "trigonal"],
            "energy": [-0.5, -0.25, 0.1, np.nan, 0.3, np.nan],
            "f0": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5],
            "f1": [2.0, 2.5, 3.0, 3.5, 4.5, 5.0],
            "label": list("xyzwvu"),
        }
    )


def check_sample(ds: Dataset, path: Path) -> None:
    expected = sample_frame()
    assert ds.source == str(path)
    assert ds.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ds.feature_cols == ["f0", "f1"]  # default: numeric columns only
    assert ds.groups == ["cubic", "hexagonal", "trigonal"]
    np.testing.assert_array_equal(ds.frame["energy"].to_numpy(), expected["energy"].to_numpy())
    np.testing.assert_array_equal(ds.features(), expected[["f0", "f1"]].to_numpy())
    assert ds.labelled["name"].tolist() == ["a", "b", "c", "e"]
    assert ds.pool["name"].tolist() == ["d", "f"]
    assert isinstance(ds.frame.index, pd.RangeIndex)


def test_csv_round_trip(tmp_path):
    path = write(tmp_path, "t.csv", GOOD_CSV)
    check_sample(load(path), path)
    sample_frame().to_csv(tmp_path / "w.csv", index=False)
    check_sample(load(tmp_path / "w.csv"), tmp_path / "w.csv")


def test_csv_gz_and_tsv(tmp_path):
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(GOOD_CSV.encode()))
    check_sample(load(gz), gz)
    tsv = write(tmp_path, "t.tsv", GOOD_CSV.replace(",", "\t"))
    check_sample(load(tsv), tsv)


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    for name in ("t.parquet", "t.pq"):
        sample_frame().to_parquet(tmp_path / name, index=False)
        check_sample(load(tmp_path / name), tmp_path / name)


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 not really")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(MissingExtraError, match=r"etal\[parquet\]"):
        load(path)


@pytest.mark.parametrize("name", ["t.jsonl", "t.ndjson", "t.json"])
def test_json_lines_round_trip(tmp_path, name):
    path = tmp_path / name
    sample_frame().to_json(path, orient="records", lines=True)
    check_sample(load(path), path)


def test_json_array_of_records_is_accepted(tmp_path):
    path = tmp_path / "t.json"
    sample_frame().to_json(path, orient="records")
    check_sample(load(path), path)


def test_json_keeps_strings_that_look_like_dates(tmp_path):
    path = write(
        tmp_path,
        "t.jsonl",
        '{"name": "a", "system": "2020-01-01", "energy": 1.0}\n'
        '{"name": "b", "system": "01", "energy": ""}\n',
    )
    ds = load(path)
    assert ds.frame["system"].tolist() == ["2020-01-01", "01"]
    assert ds.pool["name"].tolist() == ["b"]  # an empty-string target is the pool


def test_unknown_extension_lists_supported(tmp_path):
    path = write(tmp_path, "t.xlsx", "whatever")
    message = error_of(load, path)
    assert "t.xlsx" in message and "'.xlsx'" in message
    for suffix in (".csv", ".parquet", ".jsonl", ".ndjson", ".json"):
        assert suffix in message


# --------------------------------------------------------------------------- feature columns


def feature_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "system": ["a", "a", "b", "b", "b"],
            "formation": [0.1, 0.2, 0.3, 0.4, 0.5],
            "frac_Co": [0.5, 0.4, 0.3, 0.2, 0.1],
            "frac_Ni": [0.5, 0.6, 0.7, 0.8, 0.9],
            "f_extra": [1, 2, 3, 4, 5],
            "volume": [10.0, 11.0, 12.0, 13.0, 14.0],
            "text": list("vwxyz"),
            "flag": [True, False, True, False, True],
            "Unnamed: 0": [0, 1, 2, 3, 4],
        }
    )


@pytest.mark.parametrize(
    "spec, expected",
    [
        (None, ["frac_Co", "frac_Ni", "f_extra", "volume", "flag"]),
        ("frac_*", ["frac_Co", "frac_Ni"]),
        ("frac_Ni,volume", ["frac_Ni", "volume"]),
        (["volume", "frac_*"], ["volume", "frac_Co", "frac_Ni"]),
        (["frac_Co, frac_*", "volume"], ["frac_Co", "frac_Ni", "volume"]),  # duplicates dropped
        ("f*", ["frac_Co", "frac_Ni", "f_extra", "flag"]),  # the glob skips the target 'formation'
        ("frac_[C]?", ["frac_Co"]),
        ([], []),
    ],
)
def test_feature_specs(spec, expected):
    ds = from_frame(feature_frame(), group_col="system", target_col="formation", feature_cols=spec)
    assert ds.feature_cols == expected
    assert ds.features().shape == (5, len(expected))
    assert ds.features().dtype == np.float64
    np.testing.assert_array_equal(ds.features(), feature_frame()[expected].to_numpy(dtype=float))


def test_glob_matching_nothing_names_pattern_and_columns():
    message = error_of(from_frame, feature_frame(), group_col="system", target_col="formation", feature_cols="mag_*")
    assert "'mag_*'" in message and "matches no column" in message
    assert "frac_Co" in message and "volume" in message  # lists available columns


def test_naming_the_target_as_feature_is_an_error():
    message = error_of(
        from_frame, feature_frame(), group_col="system", target_col="formation", feature_cols=["formation"]
    )
    assert "'formation'" in message and "cannot also be a feature" in message


def test_unknown_feature_name_suggests_close_match():
    message = error_of(
        from_frame, feature_frame(), group_col="system", target_col="formation", feature_cols=["volum"]
    )
    assert "no feature column 'volum'" in message and "Did you mean 'volume'" in message


def test_explicit_non_numeric_feature_is_an_error():
    message = error_of(from_frame, feature_frame(), group_col="system", target_col="formation", feature_cols="text")
    assert "<DataFrame>" in message and "'text'" in message and "non-numeric" in message
    assert f"rows 1, 2, 3, 4, 5 ({ROWS_NOTE})" in message


# --------------------------------------------------------------------------- pool


def test_pool_rows_by_empty_target(tmp_path):
    path = csv_with(tmp_path, ["a,c,-1,1,2", "b,c,,1,2", "c,h,0.5,1,2", "d,h,  ,1,2", "e,h,NaN,1,2"])
    ds = load(path)
    assert ds.pool["name"].tolist() == ["b", "d", "e"]  # empty, blank and 'NaN' cells
    assert ds.labelled["name"].tolist() == ["a", "c"]
    assert ds.frame["energy"].dtype == np.float64
    summary = ds.describe()
    assert summary["rows"] == 5 and summary["labelled"] == 2 and summary["pool"] == 3
    assert summary["groups"] == {
        "c": {"rows": 2, "labelled": 1, "pool": 1},
        "h": {"rows": 3, "labelled": 1, "pool": 2},
    }
    assert summary["columns"] == {"group": "system", "target": "energy", "id": "name", "features": ["f0", "f1"]}
    assert summary["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_revealing_a_target_moves_the_row_to_labelled(tmp_path):
    ds = load(csv_with(tmp_path, ["a,c,-1,1,2", "b,c,,1,2"]))
    ds.frame.loc[ds.frame["name"] == "b", "energy"] = 0.25
    assert ds.pool.empty and ds.labelled["name"].tolist() == ["a", "b"]


@pytest.mark.parametrize(
    "pool_header, pool_rows",
    [
        ("name,system,f0,f1", ["p1,c,5,6", "p2,h,7,8"]),  # no target column
        ("name,system,energy,f0,f1", ["p1,c,,5,6", "p2,h,,7,8"]),  # empty target column
    ],
)
def test_pool_file_rows_are_appended(tmp_path, pool_header, pool_rows):
    main = csv_with(tmp_path, ["a,c,-1,1,2", "b,h,0.5,3,4"])
    pool = csv_with(tmp_path, pool_rows, header=pool_header, name="pool.csv")
    ds = load(main, pool_path=pool)
    assert ds.frame["name"].tolist() == ["a", "b", "p1", "p2"]
    assert ds.pool["name"].tolist() == ["p1", "p2"]
    np.testing.assert_array_equal(ds.features(ds.pool), [[5, 6], [7, 8]])
    assert ds.pool_source == str(pool)
    assert ds.pool_sha256 == hashlib.sha256(pool.read_bytes()).hexdigest()
    assert ds.describe()["pool_source"] == str(pool)


def test_pool_file_made_ids_continue(tmp_path):
    main = csv_with(tmp_path, ["c,-1,1", "h,0.5,3"], header="system,energy,f0")
    pool = csv_with(tmp_path, ["c,5"], header="system,f0", name="pool.csv")
    ds = load_table(main, group_col="system", target_col="energy", pool_path=pool)
    assert ds.id_col == "id" and ds.frame["id"].tolist() == [0, 1, 2]


def test_pool_file_with_targets_is_an_error(tmp_path):
    main = csv_with(tmp_path, ["a,c,-1,1,2", "b,h,0.5,3,4"])
    pool = csv_with(tmp_path, ["p1,c,,5,6", "p2,h,0.7,7,8", "p3,h,1.5,7,8"], name="pool.csv")
    message = error_of(load, main, pool_path=pool)
    assert "pool.csv" in message and "'energy'" in message
    assert f"pool.csv rows 2, 3 ({ROWS_NOTE})" in message
    assert "0.7" in message and "leave the target empty" in message


def test_pool_file_missing_feature_column(tmp_path):
    main = csv_with(tmp_path, ["a,c,-1,1,2", "b,h,0.5,3,4"])
    pool = csv_with(tmp_path, ["p1,c,5"], header="name,system,f0", name="pool.csv")
    message = error_of(load, main, pool_path=pool)
    assert "pool.csv" in message and "no feature column 'f1'" in message


def test_pool_file_bad_feature_row_is_located_in_the_pool_file(tmp_path):
    main = csv_with(tmp_path, ["a,c,-1,1,2", "b,h,0.5,3,4"])
    pool = csv_with(tmp_path, ["p1,c,,5,6", "p2,c,,,6"], name="pool.csv")
    message = error_of(load, main, pool_path=pool)
    assert f"pool.csv row 2 ({ROWS_NOTE})" in message and "'f0'" in message and "missing" in message


def test_pool_file_duplicate_id_across_files(tmp_path):
    main = csv_with(tmp_path, ["a,c,-1,1,2", "b,h,0.5,3,4"])
    pool = csv_with(tmp_path, ["b,c,,5,6"], name="pool.csv")
    message = error_of(load, main, pool_path=pool)
    assert "duplicate ids" in message and "'b'" in message
    assert "t.csv row 2; pool.csv row 1" in message


# --------------------------------------------------------------------------- validation errors


def test_missing_file(tmp_path):
    message = error_of(load, tmp_path / "absent.csv")
    assert "file not found" in message and "absent.csv" in message


def test_directory_is_not_a_file(tmp_path):
    assert "is a directory" in error_of(load, tmp_path)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("ragged.csv", b"a,b,c\n1,2,3\n4,5,6,7,8\n", r"cannot read .*ragged\.csv as CSV: .*Expected 3 fields"),
        ("latin.csv", "name,system\nM\xfcller,cubic\n".encode("latin-1"), r"latin\.csv .*not UTF-8"),
        ("empty.csv", b"", r"empty\.csv is empty"),
        ("fake.csv.gz", b"not gzip at all", r"cannot read .*fake\.csv\.gz as CSV"),
        ("fake.parquet", b"definitely not parquet", r"cannot read .*fake\.parquet as Parquet"),
        ("bad.jsonl", b'{"a": 1}\n{"a": 2\n', r"bad\.jsonl as JSON lines: line 2 is not valid JSON"),
    ],
)
def test_garbled_files(tmp_path, name, content, expected):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    path = tmp_path / name
    path.write_bytes(content)
    message = error_of(load, path)
    assert re.search(expected, message), message


@pytest.mark.parametrize(
    "kwargs, role, suggestion",
    [
        ({"group_col": "sytem"}, "group", "system"),
        ({"target_col": "Energy"}, "target", "energy"),
        ({"id_col": "nam"}, "id", "name"),
    ],
)
def test_missing_column_lists_available_and_suggests(tmp_path, kwargs, role, suggestion):
    path = write(tmp_path, "t.csv", GOOD_CSV)
    message = error_of(load, path, **kwargs)
    bad = next(iter(kwargs.values()))
    assert "t.csv" in message and f"no {role} column {bad!r}" in message
    assert f"Did you mean {suggestion!r}" in message
    assert "Available columns: name, system, energy, f0, f1, label" in message


def test_no_group_column_given_for_a_file(tmp_path):
    path = write(tmp_path, "t.csv", GOOD_CSV)
    message = error_of(load_data, path, target_col="energy")
    assert "t.csv" in message and "group_col=" in message and "--group-col" not in message and "system" in message


def test_non_numeric_target_names_rows_and_values(tmp_path):
    rows = good_rows(8)
    rows[2] = "r2,cubic,abc,1.0,2.0"
    rows[6] = "r6,cubic,1;5,1.0,2.0"
    message = error_of(load, csv_with(tmp_path, rows))
    assert "t.csv" in message and "'energy'" in message and "non-numeric" in message
    assert f"t.csv rows 3, 7 ({ROWS_NOTE})" in message
    assert "'abc'" in message and "'1;5'" in message


def test_boolean_target_is_not_a_number():
    frame = pd.DataFrame({"g": ["a", "b"], "t": [1.0, 2.0], "flag": [True, False]})
    message = error_of(from_frame, frame, group_col="g", target_col="flag")
    assert "'flag'" in message and "True/False" in message


def test_infinite_target(tmp_path):
    rows = good_rows(6)
    rows[4] = "r4,cubic,-inf,1.0,2.0"
    message = error_of(load, csv_with(tmp_path, rows))
    assert "t.csv" in message and "'energy'" in message and "infinite" in message
    assert f"t.csv row 5 ({ROWS_NOTE})" in message and "-inf" in message


def test_duplicate_ids_show_ids_and_rows(tmp_path):
    rows = good_rows(8)
    rows[4] = rows[4].replace("r4,", "r1,", 1)
    rows[7] = rows[7].replace("r7,", "r1,", 1)
    rows[5] = rows[5].replace("r5,", "r2,", 1)
    message = error_of(load, csv_with(tmp_path, rows))
    assert "t.csv" in message and "'name'" in message and "duplicate ids" in message
    assert "'r1' at t.csv rows 2, 5, 8" in message
    assert "'r2' at t.csv rows 3, 6" in message
    assert ROWS_NOTE in message


def test_missing_ids(tmp_path):
    rows = good_rows(4)
    rows[1] = rows[1].replace("r1,", ",", 1)
    message = error_of(load, csv_with(tmp_path, rows))
    assert "'name'" in message and f"t.csv row 2 ({ROWS_NOTE})" in message


def test_empty_table(tmp_path):
    message = error_of(load, csv_with(tmp_path, []))
    assert "t.csv" in message and "no rows" in message


def test_no_labelled_rows(tmp_path):
    message = error_of(load, csv_with(tmp_path, ["a,c,,1,2", "b,h,,3,4"]))
    assert "t.csv" in message and "no labelled rows" in message and "'energy'" in message


def test_group_with_missing_values(tmp_path):
    rows = good_rows(8)
    rows[3] = "r3,,0.1,1.0,2.0"
    rows[5] = "r5, ,0.1,1.0,2.0"
    message = error_of(load, csv_with(tmp_path, rows))
    assert "t.csv" in message and "'system'" in message and "empty" in message
    assert f"t.csv rows 4, 6 ({ROWS_NOTE})" in message


def test_non_numeric_feature(tmp_path):
    rows = good_rows(8)
    rows[1] = "r1,cubic,0.1,oops,2.0"
    message = error_of(load, csv_with(tmp_path, rows), feature_cols="f*")
    assert "t.csv" in message and "'f0'" in message and "non-numeric" in message
    assert f"t.csv row 2 ({ROWS_NOTE})" in message and "'oops'" in message


def test_nan_and_inf_features_name_rows_and_columns(tmp_path):
    rows = good_rows(10)
    rows[2] = "r2,cubic,0.1,,2.0"
    rows[8] = "r8,cubic,0.1,1.0,inf"
    message = error_of(load, csv_with(tmp_path, rows))
    assert "t.csv" in message
    assert f"'f0' has missing (NaN/empty) values at t.csv row 3 ({ROWS_NOTE})" in message
    assert f"'f1' has infinite values at t.csv row 9 ({ROWS_NOTE})" in message
    assert "chosen by default" in message  # tells the user how to choose other columns


def test_nan_feature_in_a_pool_row_is_an_error(tmp_path):
    rows = good_rows(4) + ["p,cubic,,,2.0"]
    message = error_of(load, csv_with(tmp_path, rows))
    assert f"'f0' has missing (NaN/empty) values at t.csv row 5 ({ROWS_NOTE})" in message


def test_more_than_five_bad_rows_are_counted():
    frame = pd.DataFrame({"g": ["a"] * 9, "t": ["x"] * 8 + ["1"], "f": np.arange(9.0)})
    message = error_of(from_frame, frame, group_col="g", target_col="t")
    assert "<DataFrame> rows 1, 2, 3, 4, 5 and 3 more" in message


def test_group_equal_to_target(tmp_path):
    message = error_of(load, write(tmp_path, "t.csv", GOOD_CSV), group_col="energy", target_col="energy")
    assert "t.csv" in message and "'energy'" in message and "group column and the target column" in message


def test_existing_unnamed_id_column_is_the_id(tmp_path):
    path = csv_with(tmp_path, ["7,c,1.0,2.0", "9,h,2.0,3.0"], header="id,system,energy,f0")
    ds = load_table(path, group_col="system", target_col="energy")
    assert ds.id_col == "id" and ds.frame["id"].tolist() == [7, 9] and ds.feature_cols == ["f0"]
    # ... and is still checked for duplicates, naming the rows
    dup = csv_with(tmp_path, ["7,c,1.0,2.0", "7,h,2.0,3.0"], header="id,system,energy,f0")
    message = error_of(load_table, dup, group_col="system", target_col="energy")
    assert "t.csv" in message and "duplicate" in message.lower() and "7" in message


# --------------------------------------------------------------------------- from_frame / ids / groups


def test_from_frame_copies_and_makes_ids():
    frame = pd.DataFrame(
        {"g": [3, 1, 2, 1, 10], "t": [0.5, 1.5, np.nan, 2.0, 1.0], "x": [1, 2, 3, 4, 5]},
        index=[10, 20, 30, 40, 50],
    )
    before = frame.copy()
    ds = from_frame(frame, group_col="g", target_col="t")
    pd.testing.assert_frame_equal(frame, before)  # input untouched
    assert ds.id_col == "id" and ds.frame["id"].tolist() == [0, 1, 2, 3, 4]
    assert isinstance(ds.frame.index, pd.RangeIndex)
    assert ds.groups == ["1", "10", "2", "3"]  # labels are strings, sorted as strings
    assert ds.frame["g"].tolist() == ["3", "1", "2", "1", "10"]
    assert ds.feature_cols == ["x"] and ds.source == "<DataFrame>"
    assert ds.pool.index.tolist() == [2]  # index = row position in ds.frame
    with pytest.raises(InputError, match="lack feature columns"):
        ds.features(ds.frame[["g"]])


def test_load_data_frame_uses_attrs_defaults():
    from etal.datasets import synthetic

    frame = synthetic(200, groups=3, n_features=3, pool_fraction=0.2, seed=1)
    ds = load_data(frame)
    assert (ds.group_col, ds.target_col, ds.id_col) == ("group", "target", "id")
    assert ds.feature_cols == ["f0", "f1", "f2"]
    assert len(ds.pool) == int(frame["target"].isna().sum()) > 0
    # the validated frame carries its roles, so it loads again unchanged
    again = load_data(ds.frame)
    assert again.feature_cols == ds.feature_cols and len(again.frame) == 200


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=2, max_value=30),
    data=st.data(),
)
def test_reported_rows_are_the_bad_rows(n, data):
    bad = sorted(data.draw(st.sets(st.integers(min_value=0, max_value=n - 1), min_size=1, max_size=n - 1)))
    target = [str(i) for i in range(n)]
    for i in bad:
        target[i] = f"bad{i}"
    frame = pd.DataFrame({"g": ["a"] * n, "t": target})
    message = error_of(from_frame, frame, group_col="g", target_col="t")
    shown = ", ".join(str(i + 1) for i in bad[:5])
    word = "row" if len(bad) == 1 else "rows"
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    assert f"<DataFrame> {word} {shown}{more} ({ROWS_NOTE})" in message


# --------------------------------------------------------------------------- CLI helpers


def make_parser(**kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etal test")
    add_data_arguments(parser, **kwargs)
    add_output_argument(parser, "etal-out")
    return parser


def test_cli_defaults_load_embedded_oqmd8():
    args = make_parser().parse_args([])
    assert args.data is None and args.out is None and args.etal_default_out == "etal-out"  # None: not chosen
    ds = dataset_from_args(args)
    assert ds.source == "oqmd8" and len(ds.frame) == 2953
    assert ds.feature_cols == list(dataset_info("oqmd8").features)


def test_cli_feature_cols_globs_commas_and_repeats():
    args = make_parser().parse_args(
        ["oqmd8", "--feature-cols", "frac_Co,frac_Ni", "natoms", "--feature-cols", "frac_*", "--out", "x"]
    )
    assert args.feature_cols == ["frac_Co,frac_Ni", "natoms", "frac_*"]
    ds = dataset_from_args(args)
    assert ds.feature_cols[:3] == ["frac_Co", "frac_Ni", "natoms"]
    assert len(ds.feature_cols) == 9 and args.out == Path("x")


def test_cli_file_and_pool_file(tmp_path):
    main = csv_with(tmp_path, ["a,c,-1,1,2", "b,h,0.5,3,4"])
    pool = csv_with(tmp_path, ["p1,c,5,6"], header="name,system,f0,f1", name="pool.csv")
    args = make_parser().parse_args(
        [str(main), "--group-col", "system", "--target-col", "energy", "--id-col", "name",
         "--feature-cols", "f1", "--pool-file", str(pool)]
    )  # fmt: skip
    ds = dataset_from_args(args)
    assert ds.feature_cols == ["f1"] and ds.pool["name"].tolist() == ["p1"]


def test_format_table_aligns_columns():
    frame = pd.DataFrame(
        {"group": ["cubic", "triclinic"], "n": [611, 5], "entropy": [0.123456, np.nan], "gap": [-np.inf, 2.0]}
    )
    text = format_table(frame, floatfmt=".3f")
    lines = text.splitlines()
    assert lines[0].split() == ["group", "n", "entropy", "gap"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["cubic", "611", "0.123", "-inf"]
    assert lines[3].split() == ["triclinic", "5", "NA", "2.000"]
    assert len({len(line) for line in lines[:2]}) == 1
    # numbers are right-aligned: their last characters line up with the header's
    assert lines[2].index("611") + 3 == lines[0].index("n") + 1
    # a meaningful index is shown as the first column
    indexed = format_table(frame.set_index("group"))
    assert indexed.splitlines()[0].split() == ["group", "n", "entropy", "gap"]
    assert indexed.splitlines()[2].startswith("cubic")


def test_print_table_writes_to_stdout(capsys):
    print_table(pd.DataFrame({"a": [1.5]}))
    assert capsys.readouterr().out == "     a\n------\n1.5000\n"
    buffer = io.StringIO()
    print_table(pd.DataFrame({"a": ["x"]}), file=buffer)
    assert buffer.getvalue() == "a\n-\nx\n"
