"""``etal campaign`` on the command line: init → suggest → ingest → status → export, errors
as one line with exit status 2, and the optional CHGNet calculator."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _campaign_fixtures import grouped_table

from etal.cli import main


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "data.csv"
    grouped_table((30, 30), (12, 12)).to_csv(path, index=False)
    return path


def test_cli_round_trip(tmp_path, table, capsys):
    camp = tmp_path / "camp"
    assert main(["campaign", "init", str(camp), str(table), "--group-col", "grp", "--target-col", "y",
                 "--id-col", "id", "--feature-cols", "x0", "x1"]) == 0  # fmt: skip
    assert "60 rows, 24 labelled, 36 in the pool" in capsys.readouterr().out
    assert main(["campaign", "suggest", str(camp), "-k", "3"]) == 0
    picks = pd.read_csv(camp / "suggestions.csv")
    assert len(picks) == 3 and set(picks.columns) >= {"id", "group", "batch", "state"}
    results = tmp_path / "results.csv"
    pd.DataFrame({"id": picks["id"], "y": [0.1, 0.2, 0.3]}).to_csv(results, index=False)
    capsys.readouterr()
    assert main(["campaign", "ingest", str(camp), str(results)]) == 0
    out = capsys.readouterr()
    assert "ingested 3 label(s)" in out.out and "never suggested" not in out.err
    assert main(["campaign", "status", str(camp), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["labelled"], status["pending"], status["running"], status["failed"]) == (27, 0, 0, 0)
    assert status["acquired"] == 3 and (camp / "entropy_per_group.png").exists()
    assert main(["campaign", "status", str(camp), "--no-figure"]) == 0
    text = capsys.readouterr().out
    assert "27 labelled (24 initial, 3 acquired)" in text and "entropy gap (nats)" in text
    export = tmp_path / "labelled.csv"
    assert main(["campaign", "export", str(camp), "--out", str(export)]) == 0
    frame = pd.read_csv(export)
    assert len(frame) == 27 and set(frame.loc[frame["source"] != "initial", "id"]) == set(picks["id"])
    # an id that is not in the campaign: one line, exit 2, nothing stored
    pd.DataFrame({"id": ["nope"], "y": [1.0]}).to_csv(results, index=False)
    capsys.readouterr()
    assert main(["campaign", "ingest", str(camp), str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not rows of this campaign" in err and "Traceback" not in err


def test_cli_errors_are_one_line(tmp_path, table, capsys):
    assert main(["campaign", "status", str(tmp_path / "missing")]) == 2
    assert "not a campaign folder" in capsys.readouterr().err
    camp = tmp_path / "camp"
    main(["campaign", "init", str(camp), str(table), "--group-col", "grp", "--target-col", "y", "--id-col", "id"])
    capsys.readouterr()
    assert main(["campaign", "run", str(camp), "--calculator", "vasp", "--budget", "1"]) == 2
    assert "unknown calculator" in capsys.readouterr().err
    assert main(["campaign", "run", str(camp), "--calculator", "command:prog", "--budget", "1", "--relax", "full"]) == 2
    assert "--relax" in capsys.readouterr().err
    assert main(["campaign", "init", str(camp), str(table), "--group-col", "grp", "--target-col", "y"]) == 2
    assert "exists there already" in capsys.readouterr().err
    assert main(["campaign", "init", str(tmp_path / "c2"), str(table), "--group-col", "grp", "--target-col", "y",
                 "--structure-col", "nope"]) == 2  # fmt: skip
    assert "no structure column" in capsys.readouterr().err


def test_structure_column_paths_are_resolved_and_checked(tmp_path, capsys):
    frame = grouped_table((12,), (8,))
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.cif").write_text("data_a\n")
    frame["structure"] = "s/a.cif"
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert main(["campaign", "init", str(tmp_path / "c"), str(tmp_path / "d.csv"), "--group-col", "grp",
                 "--target-col", "y", "--structure-col", "structure", "--feature-cols", "x0,x1"]) == 0  # fmt: skip
    from etal.campaign import Campaign

    c = Campaign(tmp_path / "c")
    assert c.store.row(0)["structure"] == str((tmp_path / "s" / "a.cif").resolve())
    c.close()
    frame.loc[3, "structure"] = "s/missing.cif"
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert main(["campaign", "init", str(tmp_path / "c3"), str(tmp_path / "d.csv"), "--group-col", "grp",
                 "--target-col", "y", "--structure-col", "structure", "--feature-cols", "x0,x1"]) == 2  # fmt: skip
    assert "row 4: 's/missing.cif'" in capsys.readouterr().err


def test_chgnet_calculator_when_installed(tmp_path):
    pytest.importorskip("chgnet")
    from ase.build import bulk

    from etal.campaign.calculators import make_calculator
    from etal.campaign.demo import _cif_text

    calc = make_calculator("chgnet", workdir=tmp_path)
    # an element against itself: formation energy 0 by construction
    assert calc.calculate(_cif_text(bulk("Cu")), "cu") == pytest.approx(0.0, abs=1e-6)
    # a compound against an independent CHGNet computation through ASE (single points)
    from chgnet.model.dynamics import CHGNetCalculator

    def per_atom(atoms):
        atoms = atoms.copy()
        atoms.calc = CHGNetCalculator(use_device="cpu")
        return atoms.get_potential_energy() / len(atoms)

    cu_au = bulk("Cu", "fcc", a=3.9, cubic=True)
    cu_au.set_chemical_symbols(["Cu", "Au", "Cu", "Au"])
    expected = per_atom(cu_au) - 0.5 * (per_atom(calc.reference_structure("Cu")) + per_atom(calc.reference_structure("Au")))
    assert calc.calculate(_cif_text(cu_au), "cuau") == pytest.approx(expected, abs=2e-3)


def test_chgnet_missing_names_the_extra(monkeypatch):
    import sys

    from etal.campaign.calculators import make_calculator
    from etal.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "chgnet", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"etal\[calculators\]"):
        make_calculator("chgnet")


def test_structures_from_a_cif_folder_matched_by_id(tmp_path, capsys):
    pytest.importorskip("pymatgen")
    import ase.io
    from _campaign_fixtures import independent_emt
    from ase.build import bulk

    from etal.campaign import Campaign
    from etal.campaign.demo import _cif_text

    frame = grouped_table((12,), (8,))
    folder = tmp_path / "cifs"
    folder.mkdir()
    crystals = {"r9": bulk("Cu", "bcc", a=2.9), "r10": bulk("NiAl", "rocksalt", a=4.6)}
    for row_id, atoms in crystals.items():
        ase.io.write(folder / f"{row_id}.cif", atoms)
    ase.io.write(folder / "unrelated.cif", bulk("Au"))
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert main(["campaign", "init", str(tmp_path / "c"), str(tmp_path / "d.csv"), "--group-col", "grp",
                 "--target-col", "y", "--id-col", "id", "--structures", str(folder)]) == 0  # fmt: skip
    assert "2 with a structure" in capsys.readouterr().out
    c = Campaign(tmp_path / "c")
    from etal.campaign import make_calculator

    emt = make_calculator("emt")
    for row_id, atoms in crystals.items():
        rid = c.store.rids_of([row_id])[row_id]
        stored = c.store.row(rid)["structure"]
        assert emt.calculate(stored, row_id) == pytest.approx(independent_emt(_cif_text(atoms)), abs=1e-6)
    c.close()
