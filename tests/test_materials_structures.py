"""Structures in (CIF folders, ASE db, extxyz), symmetry, and the `etal featurize` command.

Truth used: textbook crystal structures with known space groups (fcc Cu 225, hcp Mg 194,
rock-salt NaCl 225, wurtzite ZnO 186, rutile TiO2 136, baddeleyite ZrO2 14, CaTiO3 Pnma 62,
Bi 166), the International Tables ranges of the crystal systems, and pymatgen's own
space-group table for all 230 numbers.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etal.errors import InputError
from etal.materials.structures import CRYSTAL_SYSTEMS, crystal_system_from_spacegroup

# --------------------------------------------------------------------------- space-group numbers (pure Python)

BOUNDARIES = [
    (1, "triclinic"), (2, "triclinic"), (3, "monoclinic"), (15, "monoclinic"),
    (16, "orthorhombic"), (74, "orthorhombic"), (75, "tetragonal"), (142, "tetragonal"),
    (143, "trigonal"), (167, "trigonal"), (168, "hexagonal"), (194, "hexagonal"),
    (195, "cubic"), (230, "cubic"),
]  # fmt: skip


@pytest.mark.parametrize("number, system", BOUNDARIES)
def test_crystal_system_at_every_boundary(number, system):
    assert crystal_system_from_spacegroup(number) == system


def test_crystal_system_ranges_are_contiguous_and_ordered():
    systems = [crystal_system_from_spacegroup(n) for n in range(1, 231)]
    # each system occupies one contiguous block, in CRYSTAL_SYSTEMS order
    blocks = [s for k, s in enumerate(systems) if k == 0 or systems[k - 1] != s]
    assert blocks == list(CRYSTAL_SYSTEMS)
    assert [systems.count(s) for s in CRYSTAL_SYSTEMS] == [2, 13, 59, 68, 25, 27, 36]


@pytest.mark.parametrize("value", [225.0, "225", " 225 ", np.int64(225), np.float32(225)])
def test_crystal_system_accepts_whole_numbers_in_other_types(value):
    assert crystal_system_from_spacegroup(value) == "cubic"


@pytest.mark.parametrize("bad", [0, 231, -5, 2.5, math.nan, math.inf, "Fm-3m", "", None, True, [225]])
def test_invalid_spacegroup_number_is_a_clear_error(bad):
    with pytest.raises(InputError, match="1 to 230"):
        crystal_system_from_spacegroup(bad)


def test_mapping_agrees_with_pymatgen_for_all_230():
    pytest.importorskip("pymatgen")
    from pymatgen.symmetry.groups import SpaceGroup

    for number in range(1, 231):
        assert crystal_system_from_spacegroup(number) == SpaceGroup.from_int_number(number).crystal_system


# --------------------------------------------------------------------------- CIF samples


def _cif(name, sg, a, b, c, alpha, beta, gamma, sites, extra="", ops=None):
    lines = [
        f"data_{name}",
        f"_cell_length_a {a}",
        f"_cell_length_b {b}",
        f"_cell_length_c {c}",
        f"_cell_angle_alpha {alpha}",
        f"_cell_angle_beta {beta}",
        f"_cell_angle_gamma {gamma}",
        f"_symmetry_space_group_name_H-M '{sg}'",
    ]
    lines += [extra] if extra else []
    if ops:
        lines += ["loop_", "_symmetry_equiv_pos_as_xyz"] + [f"'{op}'" for op in ops]
    lines += [
        "loop_",
        "_atom_site_label",
        "_atom_site_type_symbol",
        "_atom_site_fract_x",
        "_atom_site_fract_y",
        "_atom_site_fract_z",
        "_atom_site_occupancy",
    ]
    for label, symbol, x, y, z, occ in sites:
        lines.append(f"{label} {symbol} {x} {y} {z} {occ}")
    return "\n".join(lines) + "\n"


# id -> (CIF text, crystal system, space-group number, reduced formula)
SAMPLES = {
    "Cu_fcc": (_cif("Cu", "F m -3 m", 3.615, 3.615, 3.615, 90, 90, 90, [("Cu1", "Cu", 0, 0, 0, 1)],
                    extra="_formation_energy_per_atom 0.0\n_database_code_ICSD 64699"), "cubic", 225, "Cu"),
    "Mg_hcp": (_cif("Mg", "P 63/m m c", 3.209, 3.209, 5.211, 90, 90, 120, [("Mg1", "Mg", 0.3333333, 0.6666667, 0.25, 1)],
                    extra="_formation_energy_per_atom 0.0"), "hexagonal", 194, "Mg"),
    "NaCl_rocksalt": (_cif("NaCl", "F m -3 m", 5.64, 5.64, 5.64, 90, 90, 90,
                           [("Na1", "Na", 0, 0, 0, 1), ("Cl1", "Cl", 0.5, 0.5, 0.5, 1)],
                           extra="_formation_energy_per_atom -2.08(1)"), "cubic", 225, "NaCl"),
    "ZnO_wurtzite": (_cif("ZnO", "P 63 m c", 3.25, 3.25, 5.207, 90, 90, 120,
                          [("Zn1", "Zn", 0.3333333, 0.6666667, 0, 1), ("O1", "O", 0.3333333, 0.6666667, 0.382, 1)],
                          extra="_formation_energy_per_atom -1.80"), "hexagonal", 186, "ZnO"),
    "TiO2_rutile": (_cif("TiO2", "P 42/m n m", 4.594, 4.594, 2.959, 90, 90, 90,
                         [("Ti1", "Ti", 0, 0, 0, 1), ("O1", "O", 0.305, 0.305, 0, 1)],
                         extra="_formation_energy_per_atom -3.29"), "tetragonal", 136, "TiO2"),
    "ZrO2_baddeleyite": (_cif("ZrO2", "P 1 21/c 1", 5.1505, 5.2116, 5.3173, 90, 99.23, 90,
                              [("Zr1", "Zr", 0.2754, 0.0395, 0.2083, 1), ("O1", "O", 0.0700, 0.3317, 0.3447, 1),
                               ("O2", "O", 0.4496, 0.7569, 0.4792, 1)],
                              extra="_formation_energy_per_atom -3.81",
                              ops=["x,y,z", "-x,y+1/2,-z+1/2", "-x,-y,-z", "x,-y+1/2,z+1/2"]),
                         "monoclinic", 14, "ZrO2"),
    "CaTiO3_Pnma": (_cif("CaTiO3", "P n m a", 5.44, 7.64, 5.38, 90, 90, 90,
                         [("Ca1", "Ca", 0.0065, 0.25, 0.9943, 1), ("Ti1", "Ti", 0, 0, 0.5, 1),
                          ("O1", "O", 0.5711, 0.25, 0.0161, 1), ("O2", "O", 0.2897, 0.0373, 0.7107, 1)],
                         extra="_formation_energy_per_atom -3.38"), "orthorhombic", 62, "CaTiO3"),
    "Bi_rhombohedral": (_cif("Bi", "R -3 m", 4.546, 4.546, 11.862, 90, 90, 120, [("Bi1", "Bi", 0, 0, 0.2341, 1)],
                             extra="_formation_energy_per_atom 0.0"), "trigonal", 166, "Bi"),
    "Po_triclinic": (_cif("Po", "P 1", 3.0, 3.4, 3.8, 80, 85, 95, [("Po1", "Po", 0, 0, 0, 1)],
                          extra="_formation_energy_per_atom 0.1"), "triclinic", 2, "Po"),
}  # fmt: skip

BAD_FILES = {
    "garbled": "this is not a CIF file\n{[ 1 2 3\n",
    "disordered": _cif("NaKCl", "F m -3 m", 5.64, 5.64, 5.64, 90, 90, 90,
                       [("Na1", "Na", 0, 0, 0, 0.5), ("K1", "K", 0, 0, 0, 0.5), ("Cl1", "Cl", 0.5, 0.5, 0.5, 1)]),
    "no_atoms": "data_x\n_cell_length_a 3\n_cell_length_b 3\n_cell_length_c 3\n"
                "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n",
    "empty": "",
}  # fmt: skip


def write_cifs(folder: Path, with_bad: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (text, *_rest) in SAMPLES.items():
        (folder / f"{name}.cif").write_text(text)
    if with_bad:
        for name, text in BAD_FILES.items():
            (folder / f"{name}.cif").write_text(text)
    return folder


# --------------------------------------------------------------------------- reading + symmetry


def test_read_cif_folder_reports_each_bad_file_and_carries_on(tmp_path):
    pytest.importorskip("pymatgen")
    from etal.materials.structures import SkippedStructureWarning, read_structures

    folder = write_cifs(tmp_path / "cifs")
    with pytest.warns(SkippedStructureWarning) as caught:
        report = read_structures(folder)
    assert report.n_found == len(SAMPLES) + len(BAD_FILES)
    assert sorted(r.id for r in report.records) == sorted(SAMPLES)
    reasons = {s.id: s.reason for s in report.skipped}
    assert set(reasons) == set(BAD_FILES)
    assert "disordered" in reasons["disordered"] and "partial occupancy" in reasons["disordered"]
    assert "not a readable CIF" in reasons["garbled"]
    assert "not a readable CIF" in reasons["no_atoms"]
    assert reasons["empty"] == "the file is empty"
    # one warning per skipped file, naming the file
    messages = [str(w.message) for w in caught]
    for name in BAD_FILES:
        assert any(f"{name}.cif" in m for m in messages)
    # found_ids follow sorted file names (the .npy embedding order)
    assert report.found_ids == sorted(list(SAMPLES) + list(BAD_FILES))
    # simple numeric CIF items become properties; ICSD codes (metadata) do not
    cu = next(r for r in report.records if r.id == "Cu_fcc")
    assert cu.properties == {"formation_energy_per_atom": 0.0}
    nacl = next(r for r in report.records if r.id == "NaCl_rocksalt")
    assert nacl.properties["formation_energy_per_atom"] == -2.08  # "(1)" uncertainty stripped


@pytest.mark.parametrize("name", list(SAMPLES))
def test_symmetry_of_textbook_structures(tmp_path, name):
    pytest.importorskip("pymatgen")
    from etal.materials.structures import read_structures, symmetry_info

    text, system, number, formula = SAMPLES[name]
    path = tmp_path / f"{name}.cif"
    path.write_text(text)
    (record,) = read_structures(path).records
    info = symmetry_info(record.structure)
    assert (info.crystal_system, info.spacegroup_number) == (system, number)
    assert record.structure.composition.reduced_formula == formula


def test_symprec_decides_whether_a_slightly_distorted_cell_is_cubic(tmp_path):
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    from etal.materials.structures import symmetry_info

    # fcc Cu with a 0.5 % orthorhombic strain: cubic at symprec 0.1 Å, not at 0.001 Å
    lattice = Lattice.orthorhombic(3.615, 3.625, 3.607)
    cu = Structure(lattice, ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    assert symmetry_info(cu, symprec=0.1).crystal_system == "cubic"
    assert symmetry_info(cu, symprec=0.001).crystal_system == "orthorhombic"
    with pytest.raises(InputError, match="symprec"):
        symmetry_info(cu, symprec=0)


def test_duplicate_stems_in_subfolders_and_multiblock_cifs_get_unique_ids(tmp_path):
    pytest.importorskip("pymatgen")
    from etal.materials.structures import read_structures

    folder = tmp_path / "nested"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    (folder / ".hidden").mkdir()
    (folder / "a" / "x.cif").write_text(SAMPLES["Cu_fcc"][0])
    (folder / "b" / "x.CIF").write_text(SAMPLES["Mg_hcp"][0])
    (folder / ".hidden" / "y.cif").write_text("junk")
    (folder / "two.cif").write_text(SAMPLES["NaCl_rocksalt"][0] + "\n" + SAMPLES["TiO2_rutile"][0])
    report = read_structures(folder)
    ids = {r.id: r.structure.composition.reduced_formula for r in report.records}
    assert ids == {"a/x": "Cu", "b/x": "Mg", "two#1": "NaCl", "two#2": "TiO2"}
    assert report.n_skipped == 0


def test_read_errors_for_bad_paths(tmp_path):
    pytest.importorskip("pymatgen")
    from etal.materials.structures import read_structures

    with pytest.raises(InputError, match="no such file"):
        read_structures(tmp_path / "missing")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(InputError, match=r"no \*\.cif files"):
        read_structures(tmp_path / "empty_dir")
    (tmp_path / "x.pdb").write_text("")
    with pytest.raises(InputError, match="unsupported structure file type"):
        read_structures(tmp_path / "x.pdb")


def test_ase_database_rows_properties_and_non_periodic_skips(tmp_path):
    pytest.importorskip("pymatgen")
    ase_db = pytest.importorskip("ase.db")
    from ase import Atoms
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from etal.materials.featurize import featurize_path

    path = tmp_path / "structures.db"
    with ase_db.connect(path) as db:
        cu = bulk("Cu", "fcc", a=3.615)  # primitive cell, 1 atom
        cu.calc = SinglePointCalculator(cu, energy=-3.72)
        db.write(cu, formation_energy_per_atom=0.0, source_tag="test")
        db.write(bulk("NaCl", "rocksalt", a=5.64), formation_energy_per_atom=-2.08)
        db.write(Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]))  # a molecule
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = featurize_path(path, descriptors="basic")
    frame = result.frame.set_index("id")
    assert list(frame.index) == [1, 2]
    assert frame.loc[1, "crystal_system"] == "cubic" and frame.loc[1, "spacegroup_number"] == 225
    assert frame.loc[1, "energy"] == pytest.approx(-3.72)
    assert frame.loc[1, "source_tag"] == "test"
    assert frame.loc[2, "formation_energy_per_atom"] == pytest.approx(-2.08)
    # the primitive 1-atom Cu cell is described by its conventional cell
    assert frame.loc[1, "nsites"] == 4 and frame.loc[1, "a"] == pytest.approx(3.615, abs=1e-6)
    assert frame.loc[1, "volume_per_atom"] == pytest.approx(3.615**3 / 4)
    (skipped,) = result.skipped
    assert skipped.id == 3 and "periodic" in skipped.reason


def test_extxyz_frames_with_info_fields(tmp_path):
    pytest.importorskip("pymatgen")
    ase_io = pytest.importorskip("ase.io")
    from ase.build import bulk

    from etal.materials.featurize import featurize_path

    frames = []
    for k, (symbol, structure, a) in enumerate([("Cu", "fcc", 3.615), ("Mg", "hcp", 3.209), ("Fe", "bcc", 2.866)]):
        atoms = bulk(symbol, structure, a=a)
        atoms.info["bandgap"] = 0.0
        atoms.info["label"] = f"m{k}"
        atoms.info["energy"] = -1.0 - k
        frames.append(atoms)
    path = tmp_path / "frames.extxyz"
    ase_io.write(path, frames, format="extxyz")
    result = featurize_path(path, descriptors="none")
    frame = result.frame
    assert list(frame["id"]) == ["frames_0", "frames_1", "frames_2"]
    assert list(frame["crystal_system"]) == ["cubic", "hexagonal", "cubic"]
    assert list(frame["spacegroup_number"]) == [225, 194, 229]
    assert list(frame["energy"]) == pytest.approx([-1.0, -2.0, -3.0])
    assert list(frame["label"]) == ["m0", "m1", "m2"]
    # --descriptors none: identity, symmetry and properties only
    assert "volume_per_atom" not in frame.columns and "mean_Z" not in frame.columns


# --------------------------------------------------------------------------- etal featurize


def test_featurize_cli_on_a_cif_folder(tmp_path, capsys):
    pytest.importorskip("pymatgen")
    from etal.cli import main

    folder = write_cifs(tmp_path / "cifs")
    out = tmp_path / "features.csv"
    code = main(["featurize", str(folder), "--out", str(out), "--descriptors", "basic"])
    printed = capsys.readouterr().out
    assert code == 0
    frame = pd.read_csv(out)
    by_id = frame.set_index("id")
    for name, (_text, system, number, formula) in SAMPLES.items():
        assert by_id.loc[name, "crystal_system"] == system, name
        assert by_id.loc[name, "spacegroup_number"] == number, name
        assert by_id.loc[name, "formula"] == formula, name
    assert list(frame.columns[:5]) == ["id", "formula", "crystal_system", "spacegroup_number", "spacegroup"]
    assert by_id.loc["Cu_fcc", "spacegroup"] == "Fm-3m"
    assert len(frame) == len(SAMPLES)
    # the run reports counts, each skipped file with its reason, and the crystal systems
    assert f"{len(SAMPLES) + len(BAD_FILES)} structures found, {len(SAMPLES)} featurized, {len(BAD_FILES)} skipped" in printed
    for name in BAD_FILES:
        assert f"{name}.cif" in printed
    assert "disordered structure" in printed
    assert "cubic 2" in printed and "hexagonal 2" in printed and "triclinic 1" in printed
    manifest = json.loads((tmp_path / "features.csv.manifest.json").read_text())
    assert manifest["command"] == "featurize" and len(manifest["skipped"]) == len(BAD_FILES)


def test_featurize_cli_symprec_option_is_used(tmp_path):
    pytest.importorskip("pymatgen")
    from etal.cli import main

    # a 0.5 % strained fcc cell written as P1: cubic at 0.1 Å, orthorhombic at 0.001 Å
    text = _cif("Cu", "P 1", 3.615, 3.625, 3.607, 90, 90, 90,
                [("Cu1", "Cu", 0, 0, 0, 1), ("Cu2", "Cu", 0.5, 0.5, 0, 1),
                 ("Cu3", "Cu", 0.5, 0, 0.5, 1), ("Cu4", "Cu", 0, 0.5, 0.5, 1)])  # fmt: skip
    path = tmp_path / "strained.cif"
    path.write_text(text)
    loose, tight = tmp_path / "loose.csv", tmp_path / "tight.csv"
    assert main(["featurize", str(path), "--out", str(loose), "--descriptors", "none"]) == 0
    assert main(["featurize", str(path), "--out", str(tight), "--symprec", "0.001", "--descriptors", "none"]) == 0
    assert pd.read_csv(loose)["crystal_system"].item() == "cubic"
    assert pd.read_csv(tight)["crystal_system"].item() == "orthorhombic"


def test_featurize_cli_parquet_output_and_bad_out_suffix(tmp_path, capsys):
    pytest.importorskip("pymatgen")
    pytest.importorskip("pyarrow")
    from etal.cli import main

    folder = write_cifs(tmp_path / "cifs", with_bad=False)
    out = tmp_path / "features.parquet"
    assert main(["featurize", str(folder), "--out", str(out), "--descriptors", "basic"]) == 0
    frame = pd.read_parquet(out)
    assert len(frame) == len(SAMPLES) and frame["spacegroup_number"].dtype == np.int64
    assert main(["featurize", str(folder), "--out", str(tmp_path / "features.xlsx")]) == 2
    assert "features.xlsx" in capsys.readouterr().err


def test_featurize_cli_all_files_bad_is_an_error(tmp_path, capsys):
    pytest.importorskip("pymatgen")
    from etal.cli import main

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "garbled.cif").write_text(BAD_FILES["garbled"])
    assert main(["featurize", str(folder), "--out", str(tmp_path / "x.csv")]) == 2
    captured = capsys.readouterr()
    assert "garbled.cif" in captured.out and "no structure could be featurized" in captured.err
    assert not (tmp_path / "x.csv").exists()


def _bias_cli_is_built() -> bool:
    source = Path(__file__).resolve().parents[1] / "src" / "etal" / "cli" / "bias.py"
    return source.exists() and "not built yet" not in source.read_text()


def test_featurize_output_runs_through_etal_bias(tmp_path):
    pytest.importorskip("pymatgen")
    if not _bias_cli_is_built():
        pytest.skip("etal bias is still a stub")
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter

    from etal.cli import main

    # 3 crystal systems x 6 strained variants, each with a formation energy in the CIF
    folder = tmp_path / "cifs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    prototypes = {
        "cubic": lambda s: Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.6 * s), ["Cu"], [[0, 0, 0]]),
        "hexagonal": lambda s: Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(3.2 * s, 5.2 * s), ["Mg"], [[1 / 3, 2 / 3, 0.25]]),
        "tetragonal": lambda s: Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.6 * s, 2.96 * s), ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]]),
    }  # fmt: skip
    for system, make in prototypes.items():
        for k in range(6):
            text = str(CifWriter(make(1 + 0.02 * k)))
            text += f"\n_formation_energy_per_atom {rng.normal(-1, 0.5):.4f}\n"
            (folder / f"{system}_{k}.cif").write_text(text)
    out = tmp_path / "features.csv"
    assert main(["featurize", str(folder), "--out", str(out), "--descriptors", "basic"]) == 0
    assert set(pd.read_csv(out)["crystal_system"]) == set(prototypes)
    args = ["bias", str(out), "--group-col", "crystal_system", "--target-col", "formation_energy_per_atom"]
    assert main(args + ["--id-col", "id", "--out", str(tmp_path / "bias")]) == 0


def test_from_structures_in_memory_objects():
    pytest.importorskip("pymatgen")
    pytest.importorskip("ase")
    from ase.build import bulk
    from pymatgen.core import Lattice, Structure

    from etal.materials.featurize import featurize_structures
    from etal.materials.structures import SkippedStructureWarning, from_structures

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    disordered = Structure(Lattice.cubic(3.6), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    with pytest.warns(SkippedStructureWarning, match="cuau"):
        report = from_structures({"nacl": nacl, "cuau": disordered, "mg": bulk("Mg", "hcp", a=3.209)})
    assert [r.id for r in report.records] == ["nacl", "mg"]
    assert report.skipped[0].id == "cuau" and "partial occupancy" in report.skipped[0].reason
    frame = featurize_structures(report, descriptors="none").frame
    assert list(frame["crystal_system"]) == ["cubic", "hexagonal"]
    with pytest.raises(InputError, match="duplicate ids"):
        from_structures([nacl, nacl], ids=["a", "a"])
    with pytest.raises(InputError, match="2 structures but 1 ids"):
        from_structures([nacl, nacl], ids=["a"])
