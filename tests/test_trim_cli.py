"""`etal trim` end to end: the outputs, the options, and bad requests that write nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import etal
from etal.bias import bias_report
from etal.bias.scores import entropy_deficit
from etal.cli import main
from etal.datasets import OQMD8_SHA256, load_dataset
from etal.trimming.outputs import TRIM_FILES


@pytest.fixture(scope="module")
def oqmd_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("trim") / "out"
    assert main(["trim", "oqmd8", "--keep", "0.3", "--out", str(out)]) == 0
    return out


def test_trim_oqmd8_writes_every_file(oqmd_run, capsys):
    out = oqmd_run
    assert sorted(p.name for p in out.iterdir()) == sorted(TRIM_FILES)
    full = load_dataset("oqmd8")
    kept = pd.read_csv(out / "kept.csv")
    removed = pd.read_csv(out / "removed.csv")
    assert len(kept) == round(0.3 * len(full))
    assert list(kept.columns) == list(full.columns)
    assert list(removed.columns) == list(full.columns) + ["step", "order", "entropy_change", "reason"]
    assert sorted(kept["id"].tolist() + removed["id"].tolist()) == sorted(full["id"])
    assert removed["reason"].notna().all() and (removed["step"] >= 1).all()
    # the bias after, recomputed independently from kept.csv
    t = bias_report(kept, "crystal_system", "formation_energy_per_atom", n_bootstrap=0).table
    d_after = entropy_deficit(t.loc[t["status"] == "ok", "entropy"])
    summary = json.loads((out / "trim.json").read_text())
    assert summary["scores"]["entropy_deficit_after"] == pytest.approx(d_after)
    assert summary["scores"]["entropy_deficit_after"] < 0.1 * summary["scores"]["entropy_deficit_before"]
    after = pd.read_csv(out / "bias_after.csv").set_index("group")
    comparison = pd.read_csv(out / "bias_comparison.csv").set_index("group")
    np.testing.assert_allclose(comparison["entropy_after"], after.loc[comparison.index, "entropy"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "trim" and manifest["inputs"]["data"] == OQMD8_SHA256
    assert (out / "trim_entropy.png").stat().st_size > 1000


def _csv(tmp_path) -> str:
    frame = etal.synthetic(600, groups=3, seed=2)
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_options_keep_ids_and_minimums(tmp_path):
    data = _csv(tmp_path)
    ids = tmp_path / "ids.txt"
    ids.write_text("id\n# rows we measured ourselves\n3\n10\n\n42\n")
    out = tmp_path / "out"
    code = main([
        "trim", data, "--group-col", "group", "--target-col", "target", "--keep", "150",
        "--keep-ids", str(ids), "--min-per-group", "g2=40", "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    kept = pd.read_csv(out / "kept.csv")
    assert len(kept) == 150
    assert {3, 10, 42} <= set(kept["id"])
    assert (kept["group"] == "g2").sum() >= 40


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--keep", "601"], "larger than the table"),
        (["--keep", "12"], "need at least"),
        (["--keep", "100", "--min-per-group", "60"], "need at least"),
        (["--keep", "100", "--keep-ids", "IDS"], "not ids"),
        (["--keep", "100", "--keep-ids", "MISSING"], "cannot read"),
        (["--keep", "100", "--min-per-group", "g1=x"], "GROUP=N"),
        (["--keep", "1.5"], "fraction"),
        (["--keep", "100", "--evaluate", "--seeds", "1"], "at least 2 seeds"),
        (["--keep", "590", "--evaluate", "--seeds", "2"], "training pool"),
    ],
)
def test_bad_requests_exit_2_and_write_nothing(tmp_path, capsys, extra, message):
    data = _csv(tmp_path)
    ids = tmp_path / "ids.txt"
    ids.write_text("3\nnot-an-id\n")
    extra = [str(ids) if a == "IDS" else str(tmp_path / "missing.txt") if a == "MISSING" else a for a in extra]
    out = tmp_path / "out"
    code = main(["trim", data, "--group-col", "group", "--target-col", "target", "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_evaluate_writes_the_comparison(tmp_path, capsys):
    data = _csv(tmp_path)
    out = tmp_path / "out"
    code = main([
        "trim", data, "--group-col", "group", "--target-col", "target", "--keep", "0.4",
        "--evaluate", "--seeds", "2", "--models", "svr", "--jobs", "1", "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "D: trimmed" in text and "R² trimmed - random" in text
    bias = pd.read_csv(out / "evaluation" / "bias_subsets.csv").set_index("subset")
    assert list(bias.index) == ["trimmed", "random", "stratified", "full"]
    summary = pd.read_csv(out / "evaluation" / "summary.csv")
    assert set(summary["model"]) == {"svr", "mean of models"}


def test_trim_default_folder_and_a_used_out(tmp_path, monkeypatch, capsys):
    """Without --out, trim writes to its default folder (it crashed on None) and reuses it
    for a later trim; a used --out is refused unless --force (the shared --out rule)."""
    from etal.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["trim", "oqmd8", "--keep", "0.5", "--bootstrap", "0"]
    assert main(args) == 0 and (tmp_path / "etal-out" / "trim" / "kept.csv").exists()
    assert main(args) == 0  # the default folder holds only an earlier trim: replaced
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and not (out / "kept.csv").exists()
    assert main([*args, "--out", str(out), "--force"]) == 0
    assert (out / "kept.csv").exists() and (out / "notes.txt").read_text() == "mine"
