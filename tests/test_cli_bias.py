"""`etal bias` end to end: the default run, a user CSV, a reference, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

from etal.cli import main
from etal.datasets import OQMD8_SHA256, load_dataset
from etal.provenance import file_sha256

CRYSTAL_SYSTEMS = (
    "cubic", "hexagonal", "monoclinic", "orthorhombic", "tetragonal", "triclinic", "trigonal",
)  # fmt: skip
WRITTEN = (
    "bias.csv", "bias.json", "target_distribution.png", "target_distribution.svg",
    "group_entropy.png", "group_entropy.svg", "manifest.json",
)  # fmt: skip


@pytest.fixture()
def family_csv(tmp_path) -> Path:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "material": [f"m{i}" for i in range(90)],
            "family": ["oxide"] * 50 + ["nitride"] * 36 + ["sulfide"] * 4,
            "bandgap": np.r_[rng.normal(3, 1, 50), rng.normal(2, 0.3, 36), [1.0, 1.5, 2.0, 2.5]],
            "density": rng.uniform(2, 8, 90),
        }
    )
    frame.loc[5, "density"] = np.nan  # a gap in a column bias does not use
    frame.loc[[10, 11], "bandgap"] = np.nan  # unlabelled rows: ignored
    path = tmp_path / "materials.csv"
    frame.to_csv(path, index=False)
    return path


def test_default_run_prints_systems_and_writes_files(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["bias", "--out", str(out), "--bootstrap", "100"]) == 0
    text = capsys.readouterr().out
    for system in CRYSTAL_SYSTEMS:
        assert system in text
    assert "entropy_gap" in text and "most under-represented: monoclinic" in text
    for name in WRITTEN:
        assert (out / name).is_file(), name
        assert str(out / name) in text

    frame = load_dataset("oqmd8")
    table = pd.read_csv(out / "bias.csv").set_index("group")
    assert sorted(table.index) == sorted(CRYSTAL_SYSTEMS)
    cubic = frame.loc[frame.crystal_system == "cubic", "formation_energy_per_atom"]
    assert table.loc["cubic", "entropy"] == pytest.approx(st.differential_entropy(cubic), abs=1e-10)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "bias"
    assert manifest["seed"] == 0
    assert manifest["inputs"]["data"] == OQMD8_SHA256
    assert manifest["arguments"]["bootstrap"] == 100
    assert "feature_cols" not in manifest["arguments"]  # bias has no --feature-cols (it uses no features)
    report = json.loads((out / "bias.json").read_text())
    assert report["scores"]["n_bootstrap"] == 100
    assert report["scores"]["entropy_gap"] == pytest.approx(
        table["entropy"].max() - table["entropy"].min()
    )


def test_user_csv_with_other_columns(tmp_path, family_csv, capsys) -> None:
    out = tmp_path / "fam"
    code = main([
        "bias", str(family_csv), "--group-col", "family", "--target-col", "bandgap",
        "--id-col", "material", "--out", str(out), "--bootstrap", "50", "--seed", "5",
    ])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "nitride" in text and "oxide" in text and "too_few" in text
    table = pd.read_csv(out / "bias.csv").set_index("group")
    assert table.loc["sulfide", "status"] == "too_few"
    assert table.loc["oxide", "n"] == 48  # two unlabelled oxide rows left out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["data"] == file_sha256(family_csv)
    assert manifest["seed"] == 5


def test_json_output_and_reference(tmp_path, family_csv, capsys) -> None:
    reference = pd.read_csv(family_csv).rename(columns={"family": "fam", "bandgap": "gap"})
    reference = reference.dropna(subset=["gap"])
    ref_path = tmp_path / "reference.csv"
    reference.to_csv(ref_path, index=False)
    code = main([
        "bias", str(family_csv), "--group-col", "family", "--target-col", "bandgap",
        "--id-col", "material", "--out", str(tmp_path / "o"), "--bootstrap", "0",
        "--reference", str(ref_path), "--reference-group-col", "fam",
        "--reference-target-col", "gap", "--reference-id-col", "material", "--json",
    ])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    groups = {g["group"]: g for g in data["groups"]}
    assert groups["oxide"]["entropy_deficit"] == pytest.approx(0.0, abs=1e-12)
    assert groups["oxide"]["reference_n"] == 48
    assert data["scores"]["entropy_gap_ci_low"] is None  # no bootstrap
    assert any(f.endswith("manifest.json") for f in data["files"])
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["inputs"]["reference"] == file_sha256(ref_path)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--group-col", "famly", "--target-col", "bandgap"], "famly"),
        (["--group-col", "family", "--target-col", "band_gap"], "band_gap"),
    ],
)
def test_bad_column_exits_2_naming_it(tmp_path, family_csv, capsys, argv, message) -> None:
    code = main(["bias", str(family_csv), *argv, "--id-col", "material", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("etal bias: error:") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_bad_reference_column_says_reference(tmp_path, family_csv, capsys) -> None:
    code = main([
        "bias", str(family_csv), "--group-col", "family", "--target-col", "bandgap",
        "--id-col", "material", "--reference", str(family_csv), "--reference-id-col",
        "material", "--reference-target-col", "gap", "--out", str(tmp_path / "x"),
    ])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "reference" in err and "'gap'" in err and "--reference-target-col" in err


def test_subprocess_default_run_and_bad_column(tmp_path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-m", "etal", "bias", "--bootstrap", "50", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    for system in CRYSTAL_SYSTEMS:
        assert system in run.stdout
    assert "Traceback" not in run.stderr

    bad = subprocess.run(
        [sys.executable, "-m", "etal", "bias", "--group-col", "crystal_sytem", "--out", str(tmp_path / "b")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "crystal_sytem" in bad.stderr and "crystal_system" in bad.stderr
    assert "Traceback" not in bad.stderr
