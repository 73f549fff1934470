"""Without the materials extras the core imports and runs, and the materials commands exit
with code 2 and a message naming the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from etal.errors import MissingExtraError


def test_featurize_without_pymatgen_names_the_extra(monkeypatch, tmp_path, capsys):
    from etal.cli import main

    monkeypatch.setitem(sys.modules, "pymatgen", None)
    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "x.cif").write_text("data_x\n")
    assert main(["featurize", str(folder), "--out", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("etal featurize: error:") and "pip install 'etal[materials]'" in err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("blocked", ["spglib", "ase"])
def test_other_materials_packages_are_checked_too(monkeypatch, tmp_path, blocked):
    pytest.importorskip("pymatgen")
    from etal.materials.structures import read_structures

    monkeypatch.setitem(sys.modules, blocked, None)
    path = tmp_path / ("x.db" if blocked == "ase" else "x.cif")
    path.write_text("")
    with pytest.raises(MissingExtraError, match=r"pip install 'etal\[materials\]'"):
        read_structures(path)


BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {"pymatgen", "spglib", "ase", "matminer", "jarvis", "mp_api", "optimade"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Block())
    """
)


def test_core_runs_when_the_materials_packages_are_not_installed(tmp_path):
    """A fresh interpreter in which pymatgen & co. cannot be imported at all."""
    (tmp_path / "cifs").mkdir()
    (tmp_path / "cifs" / "x.cif").write_text("data_x\n")
    script = BLOCKER + textwrap.dedent(
        f"""
        import etal, etal.materials, etal.cli
        from etal.materials import crystal_system_from_spacegroup, composition_descriptors
        assert crystal_system_from_spacegroup(194) == "hexagonal"
        frame = composition_descriptors(["NaCl"], kind="auto")  # falls back to the built-in table
        assert abs(frame.loc[0, "mean_electronegativity"] - 2.045) < 1e-12
        code = etal.cli.main(["featurize", r"{tmp_path / 'cifs'}", "--out", r"{tmp_path / 'o.csv'}"])
        print("featurize exit", code)
        code = etal.cli.main(["fetch", "jarvis-dft3d", "--out", r"{tmp_path / 'j.csv'}", "--cache-dir", r"{tmp_path / 'c'}"])
        print("fetch exit", code)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "featurize exit 2" in result.stdout and "fetch exit 2" in result.stdout
    assert "pip install 'etal[materials]'" in result.stderr
    assert "pip install 'etal[materials-full]'" in result.stderr
