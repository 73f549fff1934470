"""Database loaders, offline: the network functions are replaced by fixtures shipped in
tests/fixtures/materials/ (see make_fixtures.py there). No test touches the network."""

from __future__ import annotations

import json
import math
import sys
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etal.errors import InputError, MissingExtraError
from etal.materials import fetch as F
from etal.materials.structures import crystal_system_from_spacegroup

FIXTURES = Path(__file__).parent / "fixtures" / "materials"


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Every network function fails loudly unless a test replaces it; the cache is private."""

    def forbidden(*args, **kwargs):
        raise AssertionError("network access in a test")

    monkeypatch.setattr(F, "_download_jarvis", forbidden)
    monkeypatch.setattr(F, "_download_mp", forbidden)
    monkeypatch.setattr(F, "_http_get_json", forbidden)
    monkeypatch.setenv(F.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("MP_API_KEY", raising=False)


class Counter:
    """Stands in for a network function: returns ``value`` and counts the calls."""

    def __init__(self, value):
        self.value = value
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append(args)
        return self.value(*args) if callable(self.value) else self.value


# --------------------------------------------------------------------------- JARVIS


def test_jarvis_normalisation():
    records = load("jarvis_dft3d_records.json")
    frame, info = F.normalize_jarvis(records)
    assert list(frame.columns[:6]) == [
        "id", "formula", "crystal_system", "spacegroup_number", "spacegroup", "formation_energy_per_atom",
    ]  # fmt: skip
    assert frame.columns[-1] == "structure"
    # the record without a space group is dropped and counted
    assert info["dropped"] == 1 and len(frame) == len(records) - 1
    raw = {r["jid"]: r for r in records}
    for row in frame.itertuples():
        source = raw[row.id]
        assert row.spacegroup_number == source["spg_number"]
        assert row.crystal_system == crystal_system_from_spacegroup(source["spg_number"])
        assert row.formation_energy_per_atom == source["formation_energy_peratom"]
        assert row.bulk_modulus_kv == source["bulk_modulus_kv"] and row.shear_modulus_gv == source["shear_modulus_gv"]
    # "na" -> NaN; tensors are not tidy columns
    assert frame.loc[frame["id"] == "JVASP-1003", "optb88vdw_bandgap"].isna().all()
    assert frame["optb88vdw_bandgap"].dtype == np.float64
    assert "elastic_tensor" not in frame.columns and "atoms" not in frame.columns
    assert set(frame["crystal_system"]) == {"cubic", "hexagonal", "tetragonal", "trigonal", "monoclinic", "orthorhombic"}


def test_jarvis_structures_round_trip_to_pymatgen():
    pytest.importorskip("pymatgen")
    from etal.materials.structures import structure_from_json, symmetry_info

    frame, _ = F.normalize_jarvis(load("jarvis_dft3d_records.json"))
    for row in frame.itertuples():
        structure = structure_from_json(row.structure)
        assert structure.composition.reduced_formula == row.formula
        assert symmetry_info(structure).spacegroup_number == row.spacegroup_number


def test_jarvis_fetch_is_cached(tmp_path, monkeypatch):
    download = Counter(load("jarvis_dft3d_records.json"))
    monkeypatch.setattr(F, "_download_jarvis", download)
    first = F.fetch_jarvis("dft_3d")
    second = F.fetch_jarvis("dft_3d")
    assert len(download.calls) == 1 and download.calls[0] == ("dft_3d",)
    assert first.attrs["etal_fetch"]["from_cache"] is False and second.attrs["etal_fetch"]["from_cache"] is True
    pd.testing.assert_frame_equal(first, second)
    assert second.attrs["etal_fetch"]["dropped"] == 1  # the info survives the cache
    cache_file = Path(second.attrs["etal_fetch"]["cache_file"])
    assert cache_file.parent == tmp_path / "cache" and cache_file.name.startswith("jarvis-")
    meta = json.loads(cache_file.with_name(cache_file.name.rsplit(".", 1)[0] + ".meta.json").read_text())
    assert meta["query"] == {"dataset": "dft_3d"} and meta["rows"] == len(second)
    # another query -> another cache file; refresh -> the network again
    F.fetch_jarvis("dft_3d_2021")
    assert len(download.calls) == 2 and download.calls[1] == ("dft_3d_2021",)
    F.fetch_jarvis("dft_3d", refresh=True)
    assert len(download.calls) == 3
    # an explicit cache_dir wins over the environment variable
    F.fetch_jarvis("dft_3d", cache_dir=tmp_path / "other")
    assert len(download.calls) == 4 and any((tmp_path / "other").iterdir())
    assert "structure" not in F.fetch_jarvis("dft_3d", include_structures=False).columns
    assert len(download.calls) == 4


def test_damaged_cache_file_is_refetched(monkeypatch):
    download = Counter(load("jarvis_dft3d_records.json"))
    monkeypatch.setattr(F, "_download_jarvis", download)
    frame = F.fetch_jarvis()
    Path(frame.attrs["etal_fetch"]["cache_file"]).write_bytes(b"not a table")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        again = F.fetch_jarvis()
    assert len(download.calls) == 2 and len(again) == len(frame)


def test_cache_without_pyarrow_uses_json_lines(monkeypatch):
    download = Counter(load("jarvis_dft3d_records.json"))
    monkeypatch.setattr(F, "_download_jarvis", download)
    # (pyarrow itself cannot be blocked in-process: pandas 3 uses it for strings)
    monkeypatch.setattr(F, "_has_pyarrow", lambda: False)
    first = F.fetch_jarvis()
    second = F.fetch_jarvis()
    assert len(download.calls) == 1 and second.attrs["etal_fetch"]["cache_file"].endswith(".jsonl")
    pd.testing.assert_frame_equal(first, second, check_dtype=False)


def test_jarvis_errors():
    with pytest.raises(InputError, match="unknown JARVIS dataset"):
        F.fetch_jarvis("dft_2d")
    with pytest.raises(F.FetchError, match="no records"):
        F.normalize_jarvis([])


def test_fetch_cli_jarvis(tmp_path, monkeypatch, capsys):
    from etal.cli import main

    monkeypatch.setattr(F, "_download_jarvis", Counter(load("jarvis_dft3d_records.json")))
    out = tmp_path / "jarvis.csv"
    assert main(["fetch", "jarvis-dft3d", "--out", str(out), "--no-structures"]) == 0
    printed = capsys.readouterr().out
    frame = pd.read_csv(out)
    assert len(frame) == 19 and "structure" not in frame.columns
    assert "downloaded" in printed and "dropped 1" in printed and "Choudhary" in printed
    assert main(["fetch", "jarvis-dft3d", "--out", str(out)]) == 0
    assert "from cache" in capsys.readouterr().out
    assert "structure" in pd.read_csv(out).columns


# --------------------------------------------------------------------------- Materials Project


def test_mp_missing_api_key_says_how_to_set_it(tmp_path, capsys):
    from etal.cli import main

    assert main(["fetch", "mp", "--elements", "Fe,O", "--out", str(tmp_path / "mp.csv")]) == 2
    err = capsys.readouterr().err
    assert "MP_API_KEY" in err and "export MP_API_KEY=" in err


def test_mp_normalisation_and_cache(monkeypatch):
    docs = load("mp_summary_docs.json")
    download = Counter(docs)
    monkeypatch.setattr(F, "_download_mp", download)
    monkeypatch.setenv("MP_API_KEY", "secret-key-123")
    frame = F.fetch_mp("O,Fe")
    (key, query), = download.calls
    assert key == "secret-key-123" and query == {"elements": ["Fe", "O"]}
    by_id = {d["material_id"]: d for d in docs}
    for row in frame.itertuples():
        doc = by_id[row.id]
        assert row.crystal_system == doc["symmetry"]["crystal_system"].lower()
        assert row.spacegroup_number == doc["symmetry"]["number"]
        if doc["bulk_modulus"] is None:
            assert math.isnan(row.bulk_modulus_kv) and math.isnan(row.shear_modulus_vrh)
        else:
            assert row.bulk_modulus_kv == doc["bulk_modulus"]["voigt"]
            assert row.bulk_modulus_vrh == doc["bulk_modulus"]["vrh"]
            assert row.shear_modulus_gv == doc["shear_modulus"]["voigt"]
    # the key is needed for the network only: a cached query works without it
    monkeypatch.delenv("MP_API_KEY")
    again = F.fetch_mp(["Fe", "O"])
    assert again.attrs["etal_fetch"]["from_cache"] and len(download.calls) == 1
    cache_dir = Path(again.attrs["etal_fetch"]["cache_file"]).parent
    assert not any("secret-key-123" in p.read_text(errors="ignore") for p in cache_dir.iterdir() if p.suffix == ".json")


def test_mp_structures_round_trip():
    pytest.importorskip("pymatgen")
    from etal.materials.structures import structure_from_json

    frame, _ = F.normalize_mp(load("mp_summary_docs.json"))
    for row in frame.itertuples():
        assert structure_from_json(row.structure).composition.reduced_formula == row.formula


def test_mp_query_errors():
    with pytest.raises(InputError, match=r"needs elements= \(e.g. Fe,O\) or chemsys=") as info:
        F.fetch_mp()
    from etal.cli.common import cli_message

    assert "needs --elements (e.g. Fe,O) or --chemsys (e.g. Fe-O)" in cli_message(info.value)
    with pytest.raises(InputError, match="unknown element"):
        F.fetch_mp("Fe,Xx")


# --------------------------------------------------------------------------- OPTIMADE


def _serve_pages(monkeypatch):
    page1, page2 = load("optimade_oqmd_page1.json"), load("optimade_oqmd_page2.json")

    def get(url, timeout=60.0):
        return page2 if "page_offset=3" in url else page1

    server = Counter(get)
    monkeypatch.setattr(F, "_http_get_json", server)
    return server


def test_optimade_pages_normalisation_and_cache(monkeypatch):
    pytest.importorskip("pymatgen")  # OQMD gives no space_group_it_number -> spglib
    server = _serve_pages(monkeypatch)
    filter_ = 'elements HAS ANY "Co","Ni" AND nelements<=2'
    frame = F.fetch_optimade("oqmd", filter=filter_)
    first_url = server.calls[0][0]
    assert first_url.startswith("https://oqmd.org/optimade/v1/structures?")
    assert urllib.parse.parse_qs(urllib.parse.urlparse(first_url).query)["filter"] == [filter_]
    assert len(server.calls) == 2  # followed links.next once, stopped at next=null
    info = frame.attrs["etal_fetch"]
    assert info["dropped"] == 1 and info["disordered_or_incomplete"] == 1 and info["spacegroup_from"] == "spglib"
    assert list(frame["formula"]) == ["Co", "AlCo", "AlNi", "Al3Ni"]
    assert list(frame["spacegroup_number"]) == [225, 221, 221, 221]
    assert set(frame["crystal_system"]) == {"cubic"}
    assert list(frame["formation_energy_per_atom"]) == [0.0, -0.62, -0.69, -0.45]  # from _oqmd_delta_e
    assert "delta_e" not in frame.columns and list(frame["oqmd_spacegroup"]) == ["Fm-3m", "Pm-3m", "Pm-3m", "Pm-3m"]
    assert list(frame["band_gap"]) == [0.0] * 4
    F.fetch_optimade("oqmd", filter=filter_)
    assert len(server.calls) == 2  # cached


def test_optimade_max_entries_stops_paging(monkeypatch):
    pytest.importorskip("pymatgen")
    server = _serve_pages(monkeypatch)
    frame = F.fetch_optimade("oqmd", filter="nelements=2", max_entries=2)
    assert len(server.calls) == 1 and len(frame) == 2


def test_optimade_provider_space_group_needs_no_pymatgen(monkeypatch):
    page = load("optimade_oqmd_page1.json")
    for k, entry in enumerate(page["data"]):
        entry["attributes"]["space_group_it_number"] = [225, 221, 221][k]
    page["links"]["next"] = None
    monkeypatch.setattr(F, "_http_get_json", Counter(page))
    monkeypatch.setitem(sys.modules, "pymatgen", None)
    frame = F.fetch_optimade("alexandria", filter="nelements=2", energy_field="_oqmd_delta_e")
    assert list(frame["crystal_system"]) == ["cubic"] * 3
    assert list(frame["formation_energy_per_atom"]) == [0.0, -0.62, -0.69]
    assert frame.attrs["etal_fetch"]["spacegroup_from"] == "provider"


def test_optimade_error_response_and_bad_arguments(monkeypatch, tmp_path, capsys):
    from etal.cli import main

    monkeypatch.setattr(F, "_http_get_json", Counter(load("optimade_error.json")))
    args = ["fetch", "optimade", "--provider", "oqmd", "--filter", "elements HAS HAS", "--out", str(tmp_path / "x.csv")]
    assert main(args) == 2
    assert "Unexpected token 'HAS' at position 9" in capsys.readouterr().err
    with pytest.raises(InputError, match="unknown OPTIMADE provider"):
        F.fetch_optimade("nowhere", filter="nelements=2")
    with pytest.raises(InputError, match="needs filter=") as info:
        F.fetch_optimade("oqmd", filter=" ")
    from etal.cli.common import cli_message

    assert "needs --filter, e.g." in cli_message(info.value)  # the CLI names its flag
    monkeypatch.setattr(F, "_http_get_json", Counter({"data": "nope"}))
    with pytest.raises(F.FetchError, match="no 'data' list"):
        F.fetch_optimade("oqmd", filter="nelements=2", base_url="https://example.org/optimade/")


def test_optimade_without_formation_energy_field_says_so(monkeypatch):
    page = load("optimade_oqmd_page1.json")
    page["links"]["next"] = None
    for entry in page["data"]:
        entry["attributes"]["space_group_it_number"] = 221
    monkeypatch.setattr(F, "_http_get_json", Counter(page))
    frame = F.fetch_optimade("cod", filter="nelements=2")
    assert frame["formation_energy_per_atom"].isna().all()
    assert "energy-field" in frame.attrs["etal_fetch"]["note"]


# --------------------------------------------------------------------------- fetched table -> descriptors


def test_featurize_a_fetched_table(monkeypatch, tmp_path):
    pytest.importorskip("pymatgen")
    from etal.cli import main

    monkeypatch.setattr(F, "_download_jarvis", Counter(load("jarvis_dft3d_records.json")))
    fetched = tmp_path / "jarvis.csv"
    assert main(["fetch", "jarvis-dft3d", "--out", str(fetched)]) == 0
    out = tmp_path / "features.csv"
    assert main(["featurize", str(fetched), "--out", str(out), "--descriptors", "basic", "--recompute-symmetry"]) == 0
    source, features = pd.read_csv(fetched), pd.read_csv(out)
    assert "structure" not in features.columns and len(features) == len(source)
    assert list(features["spacegroup_number"]) == list(source["spacegroup_number"])  # spglib agrees with the source
    assert list(features["bulk_modulus_kv"]) == list(source["bulk_modulus_kv"])
    cu = features.set_index("id").loc["JVASP-1001"]
    assert cu["volume_per_atom"] == pytest.approx(3.615**3 / 4, rel=1e-5)
    assert cu["mean_electronegativity"] == pytest.approx(1.90)


def test_featurize_table_formula_only_without_pymatgen(monkeypatch):
    from etal.materials.descriptors import element_property
    from etal.materials.featurize import featurize_table

    monkeypatch.setitem(sys.modules, "pymatgen", None)
    element_property.cache_clear()
    table = pd.DataFrame(
        {"id": ["a", "b"], "formula": ["NaCl", "Cu"], "spacegroup_number": [225, 194], "vec": ["[1, 2]", "[3, 4]"]}
    )
    result = featurize_table(table, descriptors="basic", embedding_col="vec")
    element_property.cache_clear()
    frame = result.frame
    assert list(frame["crystal_system"]) == ["cubic", "hexagonal"]
    assert frame.loc[0, "mean_electronegativity"] == pytest.approx((0.93 + 3.16) / 2)
    assert frame[["emb_0", "emb_1"]].to_numpy().tolist() == [[1, 2], [3, 4]]
    assert "vec" not in frame.columns


# --------------------------------------------------------------------------- missing extras


def test_fetch_jarvis_without_jarvis_tools_names_the_extra(monkeypatch, tmp_path, capsys):
    from etal.cli import main

    monkeypatch.setattr(F, "_download_jarvis", _real_download_jarvis)
    monkeypatch.setitem(sys.modules, "jarvis", None)
    assert main(["fetch", "jarvis-dft3d", "--out", str(tmp_path / "j.csv")]) == 2
    assert "pip install 'etal[materials-full]'" in capsys.readouterr().err


def test_fetch_mp_without_mp_api_names_the_extra(monkeypatch):
    monkeypatch.setattr(F, "_download_mp", _real_download_mp)
    monkeypatch.setitem(sys.modules, "mp_api", None)
    monkeypatch.setenv("MP_API_KEY", "k")
    with pytest.raises(MissingExtraError, match=r"etal\[materials-full\]"):
        F.fetch_mp("Fe")


# The real network functions, captured before the autouse fixture replaces them. Their
# first act is the dependency check, so with the package blocked they fail before any
# network access.
_real_download_jarvis = F._download_jarvis
_real_download_mp = F._download_mp
