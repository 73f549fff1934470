"""The embedded OQMD-8 dataset and `etal datasets`."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import etal
from etal.cli import main
from etal.datasets import OQMD8_SHA256, dataset_info, list_datasets, load_dataset
from etal.errors import InputError


def _raw() -> pd.DataFrame:
    data = resources.files("etal.datasets").joinpath("data", "oqmd8_crystal_systems.csv.gz").read_bytes()
    raw = gzip.decompress(data)
    assert hashlib.sha256(raw).hexdigest() == OQMD8_SHA256  # the file the method doc names
    import io

    return pd.read_csv(io.BytesIO(raw), index_col=0)


def test_oqmd8_tidy_columns_and_units() -> None:
    df = load_dataset("oqmd8")
    raw = _raw()
    assert len(df) == 2953 == len(raw)
    assert list(df.columns[:8]) == [
        "id", "formula", "crystal_system", "spacegroup", "formation_energy_per_atom",
        "volume_per_atom", "natoms", "bandgap",
    ]
    np.testing.assert_array_equal(df["id"], raw.index)
    np.testing.assert_array_equal(df["formation_energy_per_atom"], raw["energy"])
    np.testing.assert_allclose(df["volume_per_atom"], raw["volume"] / raw["natoms"])
    assert df["spacegroup"].iloc[0] == "Pm-3m" and df["crystal_system"].iloc[0] == "cubic"
    fractions = df[[f"frac_{el}" for el in ("Co", "Ni", "W", "Al", "Cr", "Fe", "Ti", "Cu")]]
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0)
    assert df["crystal_system"].value_counts().to_dict()["triclinic"] == 5
    assert set(dataset_info("oqmd8").features) <= set(df.columns)


def test_formula_is_reduced_from_element_counts() -> None:
    df = load_dataset("oqmd8").set_index("id")
    raw = _raw()
    assert df.loc[0, "formula"] == "CoNi"  # Co1 Ni1
    # a row with unequal counts: reduce by the gcd, elements in alphabetical order
    counts = raw[["Co", "Ni", "W", "Al", "Cr", "Fe", "Ti", "Cu"]]
    row = counts[(counts["Al"] == 3) & (counts["Ni"] == 1)].index[0]
    assert df.loc[row, "formula"] == "Al3Ni"
    row = counts[(counts["Al"] == 4) & (counts["Ni"] == 2)].index
    if len(row):
        assert df.loc[row[0], "formula"] == "Al2Ni"


def test_unknown_dataset_lists_the_known_ones() -> None:
    assert list_datasets() == ["oqmd8"]
    with pytest.raises(InputError, match="embedded datasets are: oqmd8"):
        load_dataset("jarvis")


def test_cli_datasets_text_and_json(capsys) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "oqmd8: 2,953 rows" in out and "CC BY 4.0" in out and "Saal" in out
    assert main(["datasets", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries[0]["rows"] == 2953 and "crystal_system" in entries[0]["columns"]
    assert entries[0]["sha256"] == OQMD8_SHA256


def test_python_dash_m_and_version() -> None:
    done = subprocess.run([sys.executable, "-m", "etal", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"etal {etal.__version__}"


def test_lazy_public_api() -> None:
    for name in etal.__all__:
        assert getattr(etal, name) is not None
    with pytest.raises(AttributeError):
        etal.not_a_thing  # noqa: B018
