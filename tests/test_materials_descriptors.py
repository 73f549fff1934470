"""Composition / structure descriptors and user embeddings, against hand-computed values."""

from __future__ import annotations

import json
import math
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from etal.errors import InputError, MissingExtraError
from etal.materials import descriptors as D
from etal.materials.element_data import ELEMENT_TABLE, PAPER_EXCLUDED_ELEMENTS, parse_formula, reduced_formula

# Pauling electronegativities and standard atomic weights, from the literature (CRC
# Handbook), not from the code under test.
X = {"Na": 0.93, "Cl": 3.16, "Fe": 1.83, "O": 3.44}
MASS = {"Fe": 55.845, "O": 15.9994, "Cu": 63.546}
AVOGADRO = 6.02214076e23


@pytest.fixture
def no_pymatgen(monkeypatch):
    """Behave as if pymatgen were not installed (element data then comes from the table)."""
    monkeypatch.setitem(sys.modules, "pymatgen", None)
    D.element_property.cache_clear()
    yield
    D.element_property.cache_clear()


@pytest.fixture
def no_matminer(monkeypatch):
    monkeypatch.setitem(sys.modules, "matminer", None)


def _check_nacl_and_fe2o3(frame):
    nacl, fe2o3 = frame.iloc[0], frame.iloc[1]
    assert nacl["mean_electronegativity"] == pytest.approx((X["Na"] + X["Cl"]) / 2)  # 2.045
    assert nacl["min_electronegativity"] == pytest.approx(X["Na"])
    assert nacl["max_electronegativity"] == pytest.approx(X["Cl"])
    assert nacl["range_electronegativity"] == pytest.approx(X["Cl"] - X["Na"])
    assert nacl["std_electronegativity"] == pytest.approx((X["Cl"] - X["Na"]) / 2)  # equal fractions
    assert nacl["mean_Z"] == pytest.approx((11 + 17) / 2)
    # Fe2O3: fractions 0.4 / 0.6
    mean = 0.4 * X["Fe"] + 0.6 * X["O"]
    assert fe2o3["mean_electronegativity"] == pytest.approx(mean)
    std = math.sqrt(0.4 * (X["Fe"] - mean) ** 2 + 0.6 * (X["O"] - mean) ** 2)
    assert fe2o3["std_electronegativity"] == pytest.approx(std)
    assert fe2o3["mean_atomic_mass"] == pytest.approx(0.4 * MASS["Fe"] + 0.6 * MASS["O"], rel=1e-5)
    assert fe2o3["mean_row"] == pytest.approx(0.4 * 4 + 0.6 * 2)
    assert fe2o3["max_group"] == 16 and fe2o3["min_group"] == 8


def test_basic_composition_descriptors_hand_computed():
    frame = D.composition_descriptors(["NaCl", "Fe2O3"], kind="basic")
    assert list(frame.columns[:5]) == ["mean_Z", "min_Z", "max_Z", "range_Z", "std_Z"]
    assert frame.shape == (2, len(D.BASIC_STATS) * 6)
    _check_nacl_and_fe2o3(frame)


def test_basic_descriptors_without_pymatgen_use_the_builtin_table(no_pymatgen):
    assert not D._has_module("pymatgen")
    frame = D.composition_descriptors(["NaCl", {"Fe": 2, "O": 3}], kind="basic")
    _check_nacl_and_fe2o3(frame)


def test_compositions_as_formula_mapping_and_pymatgen_object_agree():
    pymatgen_core = pytest.importorskip("pymatgen.core")
    inputs = ["Fe2O3", {"Fe": 4, "O": 6}, pymatgen_core.Composition("Fe2O3")]
    frame = D.composition_descriptors(inputs, kind="basic")
    assert np.allclose(frame.iloc[0], frame.iloc[1]) and np.allclose(frame.iloc[0], frame.iloc[2])


def test_missing_element_data_gives_nan_and_a_warning():
    with pytest.warns(D.DescriptorWarning, match="electronegativity: Ar"):
        frame = D.composition_descriptors(["ArCl2", "NaCl"], kind="basic")
    assert np.isnan(frame.loc[0, "mean_electronegativity"])
    assert frame.loc[0, "mean_Z"] == pytest.approx((18 + 2 * 17) / 3)  # other properties unaffected
    assert not frame.loc[1].isna().any()


def test_builtin_element_table_matches_pymatgen():
    pytest.importorskip("pymatgen")
    from pymatgen.core import Element

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for symbol, row in ELEMENT_TABLE.items():
            element = Element(symbol)
            expected = (
                element.Z,
                element.X,
                math.nan if element.atomic_radius is None else float(element.atomic_radius),
                element.row,
                element.group,
                float(element.atomic_mass),
            )
            got = (row.Z, row.electronegativity, row.atomic_radius, row.row, row.group, row.atomic_mass)
            assert np.allclose(got, expected, rtol=1e-6, equal_nan=True), symbol


def test_descriptor_kind_resolution_and_missing_matminer(no_matminer):
    assert D.resolve_descriptor_kind("auto") == "basic"
    assert D.resolve_descriptor_kind("BASIC") == "basic"
    with pytest.raises(InputError, match="unknown descriptor set"):
        D.resolve_descriptor_kind("soap")
    with pytest.raises(MissingExtraError, match=r"etal\[materials-full\]"):
        D.composition_descriptors(["NaCl"], kind="magpie")
    assert D.composition_descriptors(["NaCl", "Cu"], kind="none").shape == (2, 0)


def test_magpie_descriptors_when_matminer_is_installed():
    pytest.importorskip("matminer")
    frame = D.composition_descriptors(["NaCl"], kind="magpie")
    assert frame.shape == (1, 132)
    assert frame.loc[0, "magpie_mean_Electronegativity"] == pytest.approx((X["Na"] + X["Cl"]) / 2)
    assert frame.loc[0, "magpie_mean_Number"] == pytest.approx(14)
    assert D.resolve_descriptor_kind("auto") == "magpie"


# --------------------------------------------------------------------------- formulas


@pytest.mark.parametrize(
    "formula, amounts",
    [
        ("Fe2O3", {"Fe": 2, "O": 3}),
        ("Ca(OH)2", {"Ca": 1, "O": 2, "H": 2}),
        ("Li0.5CoO2", {"Li": 0.5, "Co": 1, "O": 2}),
        ("Mg3[Fe(CN)6]2", {"Mg": 3, "Fe": 2, "C": 12, "N": 12}),
        ("OHO", {"O": 2, "H": 1}),
    ],
)
def test_parse_formula(formula, amounts):
    assert parse_formula(formula) == pytest.approx(amounts)


@pytest.mark.parametrize("bad", ["", "Xx2", "Fe2O3)", "(FeO", "2Fe", "Fe-O", "fe2o3"])
def test_parse_formula_errors(bad):
    with pytest.raises(InputError):
        parse_formula(bad)


def test_fallback_reduced_formula_matches_pymatgen_for_simple_compounds():
    pytest.importorskip("pymatgen")
    from pymatgen.core import Composition

    for formula in ["CoAl", "Al3Ni", "Na4Cl4", "O2Ti", "Fe2O3", "CaTiO3", "LiFePO4", "SiC", "NH3", "Si4O8", "GaAs"]:
        assert reduced_formula(parse_formula(formula)) == Composition(formula).reduced_formula


def test_paper_excluded_elements():
    assert {"H", "F", "Cl", "Br", "I", "He", "Ar", "Xe", "La", "Lu", "Ac", "Lr", "U", "Tc"} <= PAPER_EXCLUDED_ELEMENTS
    assert not {"O", "N", "C", "Fe", "Mn", "Re", "Y", "Sc", "Hf"} & PAPER_EXCLUDED_ELEMENTS


# --------------------------------------------------------------------------- structure descriptors


def test_cu_structure_descriptors_from_the_lattice_constant():
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    a = 3.615  # Å, fcc Cu
    conventional = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Cu"], [[0, 0, 0]])
    primitive = conventional.get_primitive_structure()
    assert len(primitive) == 1
    for structure in (conventional, primitive):
        d = D.structure_descriptors(structure)
        assert d["volume_per_atom"] == pytest.approx(a**3 / 4)  # 4 atoms per cubic cell
        assert d["density"] == pytest.approx(4 * MASS["Cu"] / AVOGADRO / (a * 1e-8) ** 3, rel=1e-5)  # 8.93 g/cm^3
        assert d["packing_fraction"] == pytest.approx(4 * 4 / 3 * math.pi * 1.35**3 / a**3)  # Slater r(Cu)=1.35 Å
        assert (d["nsites"], d["a"], d["b"], d["c"]) == pytest.approx((4, a, a, a))
        assert (d["alpha"], d["beta"], d["gamma"]) == pytest.approx((90, 90, 90))


def test_hexagonal_lattice_parameters():
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    mg = Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(3.209, 5.211), ["Mg"], [[1 / 3, 2 / 3, 0.25]])
    d = D.structure_descriptors(mg)
    assert (d["a"], d["c"], d["gamma"], d["nsites"]) == pytest.approx((3.209, 5.211, 120, 2))
    assert d["volume_per_atom"] == pytest.approx(math.sqrt(3) / 2 * 3.209**2 * 5.211 / 2)


# --------------------------------------------------------------------------- embeddings


def test_embeddings_from_values_accepts_lists_and_json_strings():
    array = D.embeddings_from_values([[1, 2, 3], "[4, 5, 6]", np.array([7.0, 8, 9])])
    assert array.shape == (3, 3) and array[1].tolist() == [4, 5, 6]
    frame = D.embedding_frame(array)
    assert list(frame.columns) == ["emb_0", "emb_1", "emb_2"]


@pytest.mark.parametrize(
    "values, match",
    [
        ([[1, 2], [1, 2, 3]], "different lengths"),
        ([[1, 2], None], "rows 2"),
        ([[1, 2], "not json"], "rows 2"),
        ([[1, 2], [1, float("nan")]], "rows 2"),
        ([[1, 2], "[]"], "rows 2"),
    ],
)
def test_embeddings_from_values_errors_name_the_rows(values, match):
    with pytest.raises(InputError, match=match):
        D.embeddings_from_values(values, source="emb.csv column 'embedding'")


def test_embeddings_from_npy_checks_shape_and_rows(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.arange(12.0).reshape(4, 3))
    assert D.embeddings_from_npy(good, 4).shape == (4, 3)
    with pytest.raises(InputError, match="has 4 rows but there are 5 structures"):
        D.embeddings_from_npy(good, 5, order="sorted file paths")
    flat = tmp_path / "flat.npy"
    np.save(flat, np.arange(4.0))
    with pytest.raises(InputError, match="2-D array"):
        D.embeddings_from_npy(flat, 4)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="cannot read"):
        D.embeddings_from_npy(objects, 1)
    with pytest.raises(InputError, match="not found"):
        D.embeddings_from_npy(tmp_path / "missing.npy", 1)


CIFS = {
    "a_Cu": "data_Cu\n_cell_length_a 3.615\n_cell_length_b 3.615\n_cell_length_c 3.615\n_cell_angle_alpha 90\n"
    "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'F m -3 m'\nloop_\n_atom_site_label\n"
    "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nCu1 Cu 0 0 0\n",
    "b_garbled": "no CIF here\n",
    "c_NaCl": "data_NaCl\n_cell_length_a 5.64\n_cell_length_b 5.64\n_cell_length_c 5.64\n_cell_angle_alpha 90\n"
    "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'F m -3 m'\nloop_\n_atom_site_label\n"
    "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nNa1 Na 0 0 0\nCl1 Cl 0.5 0.5 0.5\n",
}


def test_featurize_with_npy_embeddings_keeps_row_order_across_skipped_files(tmp_path, capsys):
    pytest.importorskip("pymatgen")
    from etal.cli import main

    folder = tmp_path / "cifs"
    folder.mkdir()
    for name, text in CIFS.items():
        (folder / f"{name}.cif").write_text(text)
    vectors = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])  # rows: a_Cu, b_garbled, c_NaCl
    npy = tmp_path / "cgcnn.npy"
    np.save(npy, vectors)
    out = tmp_path / "features.csv"
    assert main(["featurize", str(folder), "--out", str(out), "--embeddings", str(npy), "--descriptors", "none"]) == 0
    frame = pd.read_csv(out).set_index("id")
    assert list(frame.index) == ["a_Cu", "c_NaCl"]
    assert frame.loc["a_Cu", ["emb_0", "emb_1"]].tolist() == [1.0, 10.0]
    assert frame.loc["c_NaCl", ["emb_0", "emb_1"]].tolist() == [3.0, 30.0]

    np.save(npy, vectors[:2])
    assert main(["featurize", str(folder), "--out", str(out), "--embeddings", str(npy)]) == 2
    err = capsys.readouterr().err
    assert "cgcnn.npy has 2 rows but there are 3 structures" in err and "sorted" in err


def test_featurize_with_an_embedding_table_joined_on_id(tmp_path, capsys):
    pytest.importorskip("pymatgen")
    from etal.cli import main

    folder = tmp_path / "cifs"
    folder.mkdir()
    for name in ("a_Cu", "c_NaCl"):
        (folder / f"{name}.cif").write_text(CIFS[name])
    table = tmp_path / "alignn.csv"
    pd.DataFrame({"material": ["c_NaCl", "a_Cu"], "vec": [json.dumps([5, 6, 7]), json.dumps([1, 2, 3])]}).to_csv(table, index=False)
    out = tmp_path / "features.csv"
    args = ["featurize", str(folder), "--out", str(out), "--embeddings", str(table), "--descriptors", "none"]
    assert main(args + ["--embedding-col", "vec", "--embedding-id-col", "material"]) == 0
    frame = pd.read_csv(out).set_index("id")
    assert frame.loc["c_NaCl", ["emb_0", "emb_1", "emb_2"]].tolist() == [5, 6, 7]
    assert main(args) == 2  # default column names are absent
    assert "no column 'id'" in capsys.readouterr().err
