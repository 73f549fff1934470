"""What a new user tripped over in the data and bias layers (issue 9), one test each."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

from etal.bias import bias_report
from etal.bias.scores import dataset_resolution, entropy_deficit, entropy_gap
from etal.cli import build_parser, main
from etal.cli.common import cli_message
from etal.data import load_data, load_table, sniff_csv
from etal.errors import InputError, TiedValuesError
from etal.provenance import atomic_write_json, atomic_write_text

SRC = str(Path(__file__).resolve().parents[1] / "src")


def grouped(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = {"a": rng.normal(0, 1, 40), "b": rng.normal(0, 0.3, 30), "c": rng.uniform(0, 3, 25)}
    return pd.DataFrame(
        {
            "fam": np.concatenate([[k] * len(v) for k, v in parts.items()]),
            "y": np.concatenate(list(parts.values())),
        }
    )


# ------------------------------------------------------------------ one vocabulary


def test_old_argument_names_warn_and_give_the_same_report() -> None:
    frame = grouped()
    new = bias_report(frame, group_col="fam", target_col="y", n_bootstrap=0)
    with pytest.warns(DeprecationWarning, match=r"group=.*group_col="):
        old = bias_report(frame, group="fam", target_col="y", n_bootstrap=0)
    with pytest.warns(DeprecationWarning, match=r"target=.*target_col="):
        old_target = bias_report(frame, group_col="fam", target="y", n_bootstrap=0)
    pd.testing.assert_frame_equal(new.table, old.table)
    pd.testing.assert_frame_equal(new.table, old_target.table)
    assert new.group_col == "fam" and new.target_col == "y"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new spelling warns about nothing
        bias_report(frame, "fam", "y", n_bootstrap=0)
    with pytest.warns(DeprecationWarning), pytest.raises(InputError, match="both group_col='fam' and group='y'"):
        bias_report(frame, group_col="fam", group="y", target_col="y")


def test_library_errors_name_parameters_and_the_cli_names_flags(tmp_path, capsys) -> None:
    path = tmp_path / "t.csv"
    grouped().to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        load_data(path, target_col="y")
    assert info.value.param == "group_col"
    assert "group_col=" in str(info.value) and "--group-col" not in str(info.value)
    with pytest.raises(InputError) as info:
        load_table(path, group_col="famly", target_col="y")
    assert info.value.param == "group_col" and "--" not in str(info.value)

    assert main(["bias", str(path), "--target-col", "y", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "etal bias: error: " in err and "t.csv" in err
    assert "--group-col" in err and "group_col=" not in err


def test_cli_message_translates_parameters() -> None:
    assert cli_message("Use ties='floor' (the default)") == "Use --ties floor (the default)"
    assert cli_message("name it with group_col=. Or reference_group_col=.") == (
        "name it with --group-col. Or --reference-group-col."
    )
    error = InputError("n_bootstrap must be a whole number >= 0", param="n_bootstrap")
    assert cli_message(error) == "n_bootstrap must be a whole number >= 0 (option --bootstrap)"


def test_ties_error_names_source_group_column_and_the_flag(tmp_path, capsys) -> None:
    frame = grouped()
    frame.loc[frame.fam == "b", "y"] = np.round(frame.loc[frame.fam == "b", "y"], 1)  # ties
    with pytest.raises(TiedValuesError) as info:
        bias_report(frame, "fam", "y", ties="error", n_bootstrap=0)
    text = str(info.value)
    assert "<DataFrame>: group 'b' of column 'fam'" in text and "ties='floor'" in text
    assert info.value.param == "ties" and "--ties" not in text

    path = tmp_path / "tied.csv"
    frame.to_csv(path, index=False)
    code = main(["bias", str(path), "--group-col", "fam", "--target-col", "y", "--ties", "error",
                 "--bootstrap", "0", "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "tied.csv: group 'b' of column 'fam'" in err
    assert "--ties floor" in err and "ties='floor'" not in err


# ------------------------------------------------------------------ constant groups


def test_a_constant_group_counts_as_the_least_diverse() -> None:
    frame = grouped()
    frame = pd.concat([frame, pd.DataFrame({"fam": "flat", "y": [0.25] * 12})], ignore_index=True)
    report = bias_report(frame, "fam", "y", n_bootstrap=100, seed=0)
    table = report.table.set_index("group")
    r = dataset_resolution(frame["y"])
    # Every spacing of the flat group is floored at r: Ebrahimi's estimate by hand
    # (n=12, m=3) is mean(log(n r / (c_i m))).
    n, m = 12, 3
    i = np.arange(1, n + 1)
    c = np.where(i <= m, 1 + (i - 1) / m, np.where(i >= n - m + 1, 1 + (n - i) / m, 2.0))
    by_hand = np.mean(np.log(n * r / (c * m)))
    assert table.loc["flat", "status"] == "constant"
    assert table.loc["flat", "entropy"] == pytest.approx(by_hand, abs=1e-12)
    # tie-free groups: the dataset's resolution changes nothing (SciPy's values)
    for g in ("a", "b", "c"):
        assert table.loc[g, "entropy"] == pytest.approx(
            st.differential_entropy(frame.loc[frame.fam == g, "y"]), abs=1e-10
        )
    h = table["entropy"].to_numpy()
    s = report.scores
    assert s["entropy_gap"] == pytest.approx(entropy_gap(h)) == pytest.approx(h.max() - by_hand)
    assert s["entropy_deficit"] == pytest.approx(entropy_deficit(h))
    assert s["most_underrepresented"] == "flat" and s["n_groups_ok"] == 4
    assert s["entropy_gap_ci_low"] <= s["entropy_gap"] <= s["entropy_gap_ci_high"]
    assert "most under-represented: flat" in report.summary_lines()
    assert "flat" in s["note"] and "least diverse" in s["note"]


def test_dataset_resolution_property() -> None:
    frame = pd.DataFrame({"g": list("aabbc"), "y": [1.0, 1.5, 1.5, np.nan, 4.0]})
    ds = load_data(frame, group_col="g", target_col="y", feature_cols=[])
    assert ds.resolution == pytest.approx(0.5)  # gaps 0.5, 0, 2.5 among labelled values
    assert ds.resolution == dataset_resolution(ds.labelled["y"])
    flat = load_data(frame.assign(y=2.0), group_col="g", target_col="y", feature_cols=[])
    assert np.isnan(flat.resolution)


# ------------------------------------------------------------------ files


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_honour_the_umask(tmp_path, mask, mode) -> None:
    old = os.umask(mask)
    try:
        text = atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
        js = atomic_write_json(tmp_path / "bias.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(text.stat().st_mode) == mode
    assert stat.S_IMODE(js.stat().st_mode) == mode
    assert text.read_text() == "<p>hi</p>"


def test_semicolon_and_decimal_comma_csv(tmp_path) -> None:
    path = tmp_path / "eu.csv"
    path.write_text("mat_id;family;f1;gap\nm1;ox;1,5;-0,25\nm2;ni;2;0,5\nm3;ox;3,25;1e-3\n")
    assert sniff_csv(path) == (";", ",")
    ds = load_table(path, group_col="family", target_col="gap", id_col="mat_id")
    assert ds.frame["gap"].tolist() == [-0.25, 0.5, 0.001]
    assert ds.frame["f1"].tolist() == [1.5, 2.0, 3.25] and ds.feature_cols == ["f1"]
    # a semicolon file with decimal points, and a tab-separated .csv
    dots = tmp_path / "dots.csv"
    dots.write_text("id;family;gap\n1;ox;-0.25\n2;ni;0.5\n")
    assert load_table(dots, group_col="family", target_col="gap").frame["gap"].tolist() == [-0.25, 0.5]
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("id\tfamily\tgap\n1\tox\t-0.25\n2\tni\t0.5\n")
    assert sniff_csv(tabs) == ("\t", ".")
    # a comma file whose text cells hold semicolons stays a comma file
    plain = tmp_path / "plain.csv"
    plain.write_text('id,family,gap,note\n1,ox,0.5,"a;b;c"\n2,ni,0.7,"d;e"\n')
    assert sniff_csv(plain) == (",", ".")
    assert load_table(plain, group_col="family", target_col="gap").frame["note"].tolist() == ["a;b;c", "d;e"]


def test_undetected_delimiter_is_explained() -> None:
    # A frame built from a misread file: one column holding the whole header.
    frame = pd.DataFrame({"mat_id;family;gap": ["m1;ox;0.5", "m2;ni;0.7"]})
    with pytest.raises(InputError, match=r"no group column 'family'.*separated by ';'.*delimiter"):
        load_data(frame, group_col="family", target_col="gap")


def test_default_features_warn_about_a_column_with_a_stray_string(tmp_path) -> None:
    path = tmp_path / "t.csv"
    rows = [f"m{i},ox,{i / 10},{i * 2},{i % 3}" for i in range(8)]
    rows[2] = "m2,ox,0.2,unknown,2"
    path.write_text("id,family,gap,f1,f2\n" + "\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match=r"column 'f1' looks numeric but was left out .*t.csv row 3.*'unknown'"):
        ds = load_table(path, group_col="family", target_col="gap")
    assert ds.feature_cols == ["f2"]
    # a real text column is not worth a warning; naming the features stops it too
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_table(path, group_col="family", target_col="gap", feature_cols=["f2"])
        text = tmp_path / "text.csv"
        text.write_text("id,family,gap,formula\n1,ox,0.1,NaCl\n2,ox,0.2,KCl\n3,ni,0.3,8\n")
        load_table(text, group_col="family", target_col="gap")


# ------------------------------------------------------------------ command line


def test_feature_cols_before_or_after_data(tmp_path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("id,family,gap,f1,f2\n1,ox,0.1,1,2\n")
    parser = build_parser()
    for argv in (
        ["run", "--feature-cols", "f1", "f2", str(path)],
        ["run", str(path), "--feature-cols", "f1", "f2"],
        ["run", "--feature-cols", "f1", "--feature-cols", "f2", str(path)],
    ):
        args = parser.parse_args(argv)
        assert args.data == str(path) and args.feature_cols == ["f1", "f2"], argv
    args = parser.parse_args(["run", "--feature-cols", "frac_*", "oqmd8"])
    assert args.data == "oqmd8" and args.feature_cols == ["frac_*"]
    args = parser.parse_args(["run", "--feature-cols", "f1,f2", "natoms"])  # no table named
    assert args.data is None and args.feature_cols == ["f1,f2", "natoms"]


def test_bias_options_before_data(tmp_path, capsys) -> None:
    path = tmp_path / "mine.csv"
    grouped().to_csv(path, index=False)
    out = tmp_path / "o"
    assert main(["bias", "--group-col", "fam", "--target-col", "y", "--bootstrap", "0",
                 "--out", str(out), str(path)]) == 0  # fmt: skip
    assert "per 'fam' in " + str(path) in capsys.readouterr().out


def test_bias_help_lists_only_used_options(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["bias", "--help"])
    text = capsys.readouterr().out
    assert "--group-col" in text and "--bootstrap" in text
    assert "--feature-cols" not in text and "--pool-file" not in text


@pytest.mark.parametrize("command", ["featurize", "fetch"])
def test_help_has_no_rest_markup(command, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and ":func:" not in text
    assert "etal bias OUT --group-col crystal_system" in text or "formation_energy_per_atom" in text


def test_closed_stdout_ends_quietly(tmp_path) -> None:
    # stdout is a pipe whose reader is gone before the first write: every write fails.
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONPATH": SRC, "MPLBACKEND": "Agg"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "etal", "bias", "--bootstrap", "0", "--out", str(tmp_path / "o")],
            stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=300, text=True, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
    assert done.returncode == 141


def test_bias_head_pipe_has_no_traceback(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC, "MPLBACKEND": "Agg"}
    cmd = f"'{sys.executable}' -m etal bias --bootstrap 0 --out '{tmp_path / 'o'}' | head -1"
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, env=env, timeout=300, text=True, check=False)
    assert done.stdout.startswith("Entropy of 'formation_energy_per_atom'")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


# ------------------------------------------------------------------ large groups


def test_large_groups_use_a_subsample_bootstrap_close_to_the_full_one(capsys) -> None:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"g": np.repeat(["big", "small"], [40_000, 300]),
                          "y": np.r_[rng.exponential(size=40_000), rng.normal(size=300)]})  # fmt: skip
    full = bias_report(frame, "g", "y", n_bootstrap=200, seed=2, subsample=10**9).table.set_index("group")
    fast = bias_report(frame, "g", "y", n_bootstrap=200, seed=2, subsample=5_000, progress=True)
    table = fast.table.set_index("group")
    width = full.loc["big", "ci_high"] - full.loc["big", "ci_low"]
    assert width > 0
    for end in ("ci_low", "ci_high"):
        assert abs(table.loc["big", end] - full.loc["big", end]) < 0.3 * width
    assert table.loc["big", "ci_low"] < table.loc["big", "entropy"] < table.loc["big", "ci_high"]
    assert table.loc["big", "entropy"] == full.loc["big", "entropy"]
    assert "big (n=40000)" in fast.scores["note"] and "small" not in fast.scores["note"]
    assert "bootstrap" in capsys.readouterr().err  # the progress bar
