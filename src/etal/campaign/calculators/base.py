"""The calculator protocol, its error, the registry and the structure helpers calculators share.

A calculator turns one row's structure into one number (its label, e.g. a formation
energy in eV/atom)::

    value = calculator.calculate(structure, row_id)   # or raise CalculationError(message)

``structure`` is the row's structure reference as the store keeps it: a file path
(CIF, extxyz, POSCAR, … anything ``ase.io.read`` reads), CIF text, or a structure JSON
(:func:`etal.materials.structures.structure_to_json` or a pymatgen ``Structure`` dict);
``None`` when the row has none. Calculators are picklable (they run in worker processes)
and carry their settings (:meth:`settings`, stored beside every label they produce).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ...errors import EtalError

__all__ = [
    "CALCULATORS",
    "CalculationError",
    "Calculator",
    "load_atoms",
    "structure_file",
]

#: Names :func:`make_calculator` understands (``command:`` takes a template after the colon).
CALCULATORS: tuple[str, ...] = ("emt", "chgnet", "command:TEMPLATE")


class CalculationError(EtalError):
    """One row's calculation failed; the campaign records the message and may retry."""


@runtime_checkable
class Calculator(Protocol):
    """What the campaign needs of a calculator."""

    name: str

    def calculate(self, structure: str | None, row_id: str) -> float:
        """The row's label (finite float); raise :class:`CalculationError` on failure."""
        ...

    def settings(self) -> dict[str, Any]:
        """JSON-able settings stored with every label."""
        ...


def _looks_like_cif(text: str) -> bool:
    head = text.lstrip()
    return head.startswith(("data_", "#")) and "_cell_length_a" in text


def load_atoms(structure: str | None, row_id: str = "?"):
    """An ASE ``Atoms`` from a structure reference (path, CIF text or structure JSON).

    Anything unreadable -> :class:`CalculationError` naming the row.
    """
    if structure is None or not str(structure).strip():
        raise CalculationError(f"row {row_id!r} has no structure; give a structure column at campaign init")
    import ase.io

    text = str(structure)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if _looks_like_cif(text):
                return ase.io.read(io.StringIO(text), format="cif")
            if text.lstrip().startswith("{"):
                from pymatgen.io.ase import AseAtomsAdaptor

                from ...materials.structures import structure_from_json

                return AseAtomsAdaptor.get_atoms(structure_from_json(text))
            path = Path(text)
            if not path.is_file():
                raise CalculationError(f"row {row_id!r}: structure file {text!r} does not exist")
            return ase.io.read(str(path))
    except CalculationError:
        raise
    except Exception as exc:  # ASE / pymatgen raise many kinds
        raise CalculationError(f"row {row_id!r}: cannot read its structure ({type(exc).__name__}: {exc})") from None


def structure_file(structure: str | None, row_id: str, workdir: str | os.PathLike) -> str:
    """A file path holding the row's structure: the file itself, or a CIF written into ``workdir``.

    The written file's name is a hash of the row id, so no id text ever reaches a path.
    """
    if structure is None or not str(structure).strip():
        raise CalculationError(f"row {row_id!r} has no structure; give a structure column at campaign init")
    text = str(structure)
    if not _looks_like_cif(text) and not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise CalculationError(f"row {row_id!r}: structure file {text!r} does not exist")
        return str(path.resolve())
    from ...provenance import atomic_write_text

    digest = hashlib.sha256(str(row_id).encode()).hexdigest()[:16]
    path = Path(workdir) / f"row-{digest}.cif"
    if _looks_like_cif(text):
        atomic_write_text(path, text)
    else:
        import ase.io

        atoms = load_atoms(text, row_id)
        buf = io.BytesIO()
        ase.io.write(buf, atoms, format="cif")
        atomic_write_text(path, buf.getvalue().decode())
    return str(path.resolve())
