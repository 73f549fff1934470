"""Crystal structures in: CIF files and folders, ASE databases, extxyz files, pymatgen objects.

Every reader returns a :class:`ReadReport`: the structures read (:class:`StructureRecord`:
id, pymatgen ``Structure``, where it came from, and any properties the source carried) and
the entries skipped, each with the reason (unreadable file, partial occupancy, no periodic
cell, ...). A bad file never stops the others; the report lists it and the CLI prints it.

Symmetry: :func:`symmetry_info` runs spglib through pymatgen's ``SpacegroupAnalyzer``
(``symprec`` in Å, default 0.1; ``angle_tolerance`` in degrees, default 5) and returns the
crystal system, the International Tables space-group number and its Hermann-Mauguin symbol.
:func:`crystal_system_from_spacegroup` maps a space-group number alone to its crystal system
in pure Python (no pymatgen).

pymatgen, spglib and ase are imported only inside the functions that need them, so this
module imports without the ``materials`` extra.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, require
from ..params import check_float

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = [
    "CRYSTAL_SYSTEMS",
    "STRUCTURE_SUFFIXES",
    "ReadReport",
    "SkippedEntry",
    "StructureRecord",
    "SymmetryInfo",
    "crystal_system_from_spacegroup",
    "from_structures",
    "read_structures",
    "require_materials",
    "structure_from_json",
    "structure_to_json",
    "symmetry_dataset",
    "symmetry_info",
]

#: The seven crystal systems, in order of increasing symmetry (space groups 1 -> 230).
CRYSTAL_SYSTEMS: tuple[str, ...] = (
    "triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic",
)  # fmt: skip
# Highest space-group number of each crystal system (International Tables, Vol. A).
_LAST_NUMBER = (2, 15, 74, 142, 167, 194, 230)

#: File endings :func:`read_structures` reads (besides a folder of CIF files).
STRUCTURE_SUFFIXES: tuple[str, ...] = (".cif", ".db", ".extxyz", ".xyz")

# CIF data items that describe the structure, the experiment or the publication, not a
# property of the material; they are never copied into the output table.
_CIF_METADATA_PREFIXES = (
    "_cell_", "_symmetry_", "_space_group", "_atom_", "_geom_", "_journal_", "_publ_",
    "_audit_", "_database_", "_cod_", "_citation_", "_computing_", "_diffrn_", "_refine_",
    "_refln", "_exptl_", "_chemical_", "_pd_", "_iucr_", "_olex2_", "_shelx_",
)  # fmt: skip


# --------------------------------------------------------------------------- symmetry


def crystal_system_from_spacegroup(number: Any) -> str:
    """Crystal system of an International Tables space-group number (1..230).

    1-2 triclinic, 3-15 monoclinic, 16-74 orthorhombic, 75-142 tetragonal, 143-167
    trigonal, 168-194 hexagonal, 195-230 cubic. Accepts ints, integral floats (225.0, as
    read from a CSV column with gaps) and digit strings; anything else -> :class:`InputError`.
    """
    value = _spacegroup_int(number)
    for system, last in zip(CRYSTAL_SYSTEMS, _LAST_NUMBER):
        if value <= last:
            return system
    raise AssertionError("unreachable")  # pragma: no cover


def _spacegroup_int(number: Any) -> int:
    value: int | None = None
    if isinstance(number, bool):
        value = None
    elif isinstance(number, numbers.Integral):
        value = int(number)
    elif isinstance(number, numbers.Real) and math.isfinite(float(number)) and float(number).is_integer():
        value = int(number)
    elif isinstance(number, str) and number.strip().isdigit():
        value = int(number.strip())
    if value is None or not 1 <= value <= 230:
        raise InputError(
            f"space-group number {number!r} is not valid: International Tables space-group "
            f"numbers are whole numbers from 1 to 230."
        )
    return value


@dataclass(frozen=True)
class SymmetryInfo:
    """Crystal system, space-group number (1..230) and Hermann-Mauguin symbol (e.g. ``Fm-3m``)."""

    crystal_system: str
    spacegroup_number: int
    spacegroup: str


def require_materials(purpose: str) -> None:
    """Raise :class:`etal.errors.MissingExtraError` unless pymatgen and spglib import.

    Checks the top-level packages (not submodules), so that a test or a broken install that
    blocks ``pymatgen`` is detected even when a submodule was imported earlier.
    """
    require("pymatgen", "materials", purpose)
    require("spglib", "materials", purpose)
    require("pymatgen.core", "materials", purpose)


def symmetry_info(structure: Structure, *, symprec: float = 0.1, angle_tolerance: float = 5.0) -> SymmetryInfo:
    """Space group and crystal system of ``structure`` by spglib (via ``SpacegroupAnalyzer``).

    ``symprec``: distance tolerance in Å (0.1 is pymatgen's and Materials Project's
    default; use 0.01 for tightly relaxed DFT cells). ``angle_tolerance``: degrees.
    The crystal system follows from the space-group number
    (:func:`crystal_system_from_spacegroup`). spglib failing to find a space group ->
    :class:`InputError`.
    """
    return symmetry_dataset(structure, symprec=symprec, angle_tolerance=angle_tolerance)[0]


def symmetry_dataset(structure: Structure, *, symprec: float = 0.1, angle_tolerance: float = 5.0) -> tuple[SymmetryInfo, Any]:
    """:func:`symmetry_info` and spglib's full dataset (with the standardized conventional
    cell ``std_lattice`` / ``std_types``) from one spglib call."""
    _check_tolerances(symprec, angle_tolerance)
    require_materials("Space-group analysis")
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # spglib's notice to pymatgen
            dataset = SpacegroupAnalyzer(
                structure, symprec=symprec, angle_tolerance=angle_tolerance
            ).get_symmetry_dataset()
        number, symbol = int(dataset.number), str(dataset.international)
    except Exception as exc:  # spglib reports failure in several ways depending on version
        raise InputError(
            f"spglib found no space group at symprec={symprec} Å, angle_tolerance="
            f"{angle_tolerance}°: {_exception_text(exc)}. Check the structure (overlapping "
            f"atoms?) or try another symprec=."
        ) from None
    return SymmetryInfo(crystal_system_from_spacegroup(number), number, symbol), dataset


def _check_tolerances(symprec: float, angle_tolerance: float) -> None:
    check_float("symprec", symprec, low=0, low_open=True)  # Å, e.g. 0.1
    check_float("angle_tolerance", angle_tolerance)  # degrees, e.g. 5


# --------------------------------------------------------------------------- records


@dataclass
class StructureRecord:
    """One structure read: its id, the pymatgen ``Structure``, its source, its properties."""

    id: str | int
    structure: Structure
    source: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedEntry:
    """A file, block, row or frame that was not used, and why."""

    id: str | int
    source: str
    reason: str


@dataclass
class ReadReport:
    """Result of reading structures: what was read, what was skipped and why.

    ``found_ids`` lists every entry found, read or skipped, in reading order (sorted file
    paths, then CIF data blocks; ASE database rows by id; extxyz frames in file order);
    a ``.npy`` embedding file has one row per entry of this list.
    """

    source: str
    records: list[StructureRecord] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)
    found_ids: list[str | int] = field(default_factory=list)

    @property
    def n_found(self) -> int:
        return len(self.found_ids)

    @property
    def n_read(self) -> int:
        return len(self.records)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def _add(self, record: StructureRecord) -> None:
        self.found_ids.append(record.id)
        self.records.append(record)

    def _skip(self, entry_id: str | int, source: str, reason: str) -> None:
        self.found_ids.append(entry_id)
        self.skipped.append(SkippedEntry(entry_id, source, reason))
        warnings.warn(f"skipped {source}: {reason}", SkippedStructureWarning, stacklevel=3)

    def summary_lines(self) -> list[str]:
        """Human-readable counts and one line per skipped entry."""
        lines = [f"{self.source}: {self.n_found} entries found, {self.n_read} read, {self.n_skipped} skipped"]
        lines += [f"  skipped {entry.source}: {entry.reason}" for entry in self.skipped]
        return lines


class SkippedStructureWarning(UserWarning):
    """Issued once per skipped structure file/row/frame (the message names it and why)."""


# --------------------------------------------------------------------------- readers


def read_structures(path: str | os.PathLike) -> ReadReport:
    """Read every structure at ``path``.

    * a folder: every ``*.cif`` file below it (recursive, case-insensitive ending, hidden
      files and folders ignored), sorted by relative path; id = file stem (relative path
      without ``.cif`` where two files share a stem; ``stem#k`` for the k-th data block of a
      file with several);
    * ``.cif``: one file;
    * ``.db``: an ASE database; id = the database row id; properties = the row's
      key-value pairs and its stored energy (``energy``, eV per cell) if any;
    * ``.extxyz`` / ``.xyz``: every frame (extended XYZ); id = ``stem_<frame index>``;
      properties = scalar ``info`` fields and scalar calculator results (e.g. ``energy``).

    Disordered structures (partial occupancy) and structures without a 3-D periodic cell are
    skipped with their reason. A path that does not exist, or an unsupported file type ->
    :class:`InputError`. Needs the ``materials`` extra.
    """
    path = Path(path)
    require_materials("Reading crystal structures")
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (absolute path: {path.absolute()}). Check the path.")
    if path.is_dir():
        return _read_cif_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".cif":
        report = ReadReport(source=str(path))
        _read_cif_file(path, path.stem, report)
        return report
    if suffix == ".db":
        return _read_ase_db(path)
    if suffix in (".extxyz", ".xyz"):
        return _read_extxyz(path)
    raise InputError(
        f"{path}: unsupported structure file type {suffix or '(none)'!r}. Give a folder of CIF "
        f"files, a .cif file, an ASE database (.db) or an extended XYZ file (.extxyz/.xyz)."
    )


def _cif_files(folder: Path) -> list[Path]:
    files = []
    for candidate in folder.rglob("*"):
        relative = candidate.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue  # hidden files (e.g. macOS "._x.cif" forks) and folders
        if candidate.suffix.lower() == ".cif" and candidate.is_file():
            files.append(candidate)
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def _read_cif_folder(folder: Path) -> ReadReport:
    report = ReadReport(source=str(folder))
    files = _cif_files(folder)
    if not files:
        raise InputError(f"{folder}: no *.cif files found in this folder or below it. Check the path.")
    stems = Counter(p.stem for p in files)
    for file in files:
        stem = file.stem if stems[file.stem] == 1 else file.relative_to(folder).with_suffix("").as_posix()
        _read_cif_file(file, stem, report)
    return report


def _read_cif_file(file: Path, stem: str, report: ReadReport) -> None:
    from pymatgen.io.cif import CifFile, CifParser

    try:
        text = file.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        try:
            text = file.read_text(encoding="latin-1")  # old CIFs are often Latin-1
        except OSError as exc:
            report._skip(stem, str(file), f"cannot read the file: {exc}")
            return
    except OSError as exc:
        report._skip(stem, str(file), f"cannot read the file: {exc}")
        return
    if not text.strip():
        report._skip(stem, str(file), "the file is empty")
        return
    # Parse with pymatgen's own warnings silenced (it warns about every quirk of a CIF);
    # failures are reported below, outside that block, as one message per file.
    outcomes: list[tuple[str | int, str, StructureRecord | None, str | None]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            blocks = list(CifFile.from_str(text).data.values())
        except Exception as exc:
            blocks = []
            outcomes.append((stem, str(file), None, f"not a readable CIF file ({_exception_text(exc)})"))
        if not blocks and not outcomes:
            outcomes.append((stem, str(file), None, "not a readable CIF file (no 'data_' block found)"))
        for k, block in enumerate(blocks, start=1):
            entry_id = stem if len(blocks) == 1 else f"{stem}#{k}"
            where = str(file) if len(blocks) == 1 else f"{file} (data block {k}, data_{block.header})"
            try:
                parsed = CifParser.from_str(str(block)).parse_structures(primitive=False, on_error="raise")
            except Exception as exc:
                outcomes.append((entry_id, where, None, f"not a readable CIF structure ({_exception_text(exc)})"))
                continue
            if not parsed:
                outcomes.append((entry_id, where, None, "not a readable CIF structure (no atoms found)"))
                continue
            problem = _structure_problem(parsed[0])
            record = None if problem else StructureRecord(entry_id, parsed[0], where, _cif_properties(block.data))
            outcomes.append((entry_id, where, record, problem))
    for entry_id, where, record, problem in outcomes:
        if record is None:
            report._skip(entry_id, where, problem or "unusable structure")
        else:
            report._add(record)


def _cif_properties(items: Mapping[str, Any]) -> dict[str, float]:
    """Numeric, non-loop CIF data items that are not structure or publication metadata."""
    out: dict[str, float] = {}
    for tag, value in items.items():
        if not isinstance(value, str) or tag.lower().startswith(_CIF_METADATA_PREFIXES):
            continue
        number = _cif_number(value)
        if number is not None:
            out[tag.lstrip("_")] = number
    return out


def _cif_number(text: str) -> float | None:
    text = text.strip()
    if "(" in text and text.endswith(")"):  # standard uncertainty, e.g. 1.234(5)
        text = text[: text.index("(")]
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _structure_problem(structure: Structure) -> str | None:
    """Why this structure cannot be used, or None."""
    if not structure.is_ordered:
        partial = [
            f"site {i}: {site.species.formula.replace(' ', ' + ')}"
            for i, site in enumerate(structure)
            if not site.is_ordered
        ]
        shown = "; ".join(partial[:3]) + (f"; and {len(partial) - 3} more" if len(partial) > 3 else "")
        return (
            f"disordered structure (partial occupancy at {len(partial)} of {len(structure)} sites, "
            f"{shown}); etal needs ordered structures: order it first (e.g. pymatgen's "
            f"OrderDisorderedStructureTransformation) or leave it out"
        )
    if len(structure) == 0:
        return "no atoms"
    if not structure.lattice.volume > 1e-6:
        return "cell volume is zero"
    return None


def _atoms_to_structure(atoms) -> tuple[Structure | None, str | None]:
    from pymatgen.io.ase import AseAtomsAdaptor

    if len(atoms) == 0:
        return None, "no atoms"
    if not all(atoms.pbc) or atoms.cell.rank < 3:
        return None, (
            "not a 3-D periodic crystal (no lattice / pbc not True in all three directions; a "
            "molecule?); give a periodic cell"
        )
    try:
        structure = AseAtomsAdaptor.get_structure(atoms)
    except Exception as exc:
        return None, f"cannot convert to a pymatgen structure ({_exception_text(exc)})"
    return structure, _structure_problem(structure)


def _scalar(value: Any) -> Any:
    """A plain scalar (bool/int/float/str) or None if the value is not a scalar."""
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return None


def _read_ase_db(path: Path) -> ReadReport:
    require("ase", "materials", "Reading ASE databases")
    import ase.db

    report = ReadReport(source=str(path))
    try:
        db = ase.db.connect(str(path), type="db")
        rows = list(db.select())
    except Exception as exc:
        raise InputError(f"{path}: cannot open as an ASE database ({_exception_text(exc)}).") from None
    for row in sorted(rows, key=lambda r: r.id):
        where = f"{path} (row id {row.id})"
        try:
            atoms = row.toatoms()
        except Exception as exc:
            report._skip(row.id, where, f"cannot read the row's atoms ({_exception_text(exc)})")
            continue
        structure, problem = _atoms_to_structure(atoms)
        if problem or structure is None:
            report._skip(row.id, where, problem or "unusable structure")
            continue
        properties: dict[str, Any] = {}
        energy = row.get("energy")
        if energy is not None:
            properties["energy"] = float(energy)
        for key, value in row.key_value_pairs.items():
            scalar = _scalar(value)
            if scalar is not None:
                properties[key] = scalar
        report._add(StructureRecord(row.id, structure, where, properties))
    return report


def _read_extxyz(path: Path) -> ReadReport:
    require("ase", "materials", "Reading extended XYZ files")
    import ase.io

    report = ReadReport(source=str(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames = ase.io.read(str(path), index=":", format="extxyz")
    except Exception as exc:
        raise InputError(
            f"{path}: cannot read as extended XYZ ({_exception_text(exc)}). Each frame needs an "
            f"atom count line, a comment line with Lattice=\"...\" and one line per atom."
        ) from None
    if not isinstance(frames, list):
        frames = [frames]
    for index, atoms in enumerate(frames):
        entry_id = f"{path.stem}_{index}"
        where = f"{path} (frame {index})"
        structure, problem = _atoms_to_structure(atoms)
        if problem or structure is None:
            report._skip(entry_id, where, problem or "unusable structure")
            continue
        properties: dict[str, Any] = {}
        for key, value in atoms.info.items():
            scalar = _scalar(value)
            if scalar is not None:
                properties[key] = scalar
        if atoms.calc is not None:  # ase moves energy/free_energy/... into a calculator
            for key, value in getattr(atoms.calc, "results", {}).items():
                scalar = _scalar(value)
                if scalar is not None:
                    properties[key] = scalar
        report._add(StructureRecord(entry_id, structure, where, properties))
    return report


def from_structures(
    structures: Iterable[Any] | Mapping[Any, Any],
    *,
    ids: Iterable[str | int] | None = None,
    properties: Iterable[Mapping[str, Any]] | None = None,
    source: str = "<structures>",
) -> ReadReport:
    """A :class:`ReadReport` from in-memory pymatgen ``Structure`` or ASE ``Atoms`` objects.

    ``structures`` may be a mapping id -> structure; otherwise ids are ``ids`` or 0..n-1.
    ``properties``: one mapping per structure (e.g. ``{"formation_energy_per_atom": -0.4}``).
    Disordered or non-periodic items are skipped with their reason, as for files.
    """
    require_materials("Reading crystal structures")
    from pymatgen.core import Structure

    if isinstance(structures, Mapping):
        ids = list(structures.keys())
        items = list(structures.values())
    else:
        items = list(structures)
        ids = list(ids) if ids is not None else list(range(len(items)))
    if len(ids) != len(items):
        raise InputError(f"{source}: {len(items)} structures but {len(ids)} ids; give one id per structure.")
    if len(set(ids)) != len(ids):
        duplicated = [k for k, n in Counter(ids).items() if n > 1][:5]
        raise InputError(f"{source}: duplicate ids {duplicated}; give every structure a unique id.")
    props = [dict(p) for p in properties] if properties is not None else [{} for _ in items]
    if len(props) != len(items):
        raise InputError(f"{source}: {len(items)} structures but {len(props)} property mappings.")
    report = ReadReport(source=source)
    for entry_id, item, extra in zip(ids, items, props):
        where = f"{source}[{entry_id!r}]"
        if isinstance(item, Structure):
            structure, problem = item, _structure_problem(item)
        elif hasattr(item, "get_positions") and hasattr(item, "pbc"):
            structure, problem = _atoms_to_structure(item)
        else:
            structure, problem = None, f"not a pymatgen Structure or ASE Atoms object ({type(item).__name__})"
        if problem or structure is None:
            report._skip(entry_id, where, problem or "unusable structure")
        else:
            report._add(StructureRecord(entry_id, structure, where, extra))
    return report


# --------------------------------------------------------------------------- JSON form


def structure_to_json(lattice: Any, species: Iterable[str], coords: Any, *, cartesian: bool = False) -> str:
    """A compact, library-neutral JSON text of a periodic structure.

    ``{"lattice": 3x3 (rows = lattice vectors, Å), "species": [...], "frac_coords"` or
    ``"cart_coords": n x 3}``. Used by :mod:`etal.materials.fetch` to keep structures in
    tables without needing pymatgen to write them.
    """
    key = "cart_coords" if cartesian else "frac_coords"
    payload = {
        "lattice": [[float(x) for x in row] for row in lattice],
        "species": [str(s) for s in species],
        key: [[float(x) for x in row] for row in coords],
    }
    return json.dumps(payload, separators=(",", ":"))


def structure_from_json(text: str | Mapping[str, Any]) -> Structure:
    """A pymatgen ``Structure`` from :func:`structure_to_json` text, a pymatgen
    ``Structure.as_dict()`` (dict or JSON) or CIF text. Bad input -> :class:`InputError`."""
    require_materials("Reading structures from a table")
    from pymatgen.core import Structure

    try:
        if isinstance(text, str) and text.lstrip().startswith(("data_", "#")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return Structure.from_str(text, fmt="cif")
        payload = json.loads(text) if isinstance(text, str) else dict(text)
        if "@class" in payload or "sites" in payload:
            return Structure.from_dict(payload)
        cartesian = "cart_coords" in payload
        coords = payload["cart_coords"] if cartesian else payload["frac_coords"]
        return Structure(payload["lattice"], payload["species"], coords, coords_are_cartesian=cartesian)
    except Exception as exc:
        raise InputError(
            f"cannot build a structure from {str(text)[:60]!r}...: {_exception_text(exc)}. Expected "
            f"etal's structure JSON (lattice, species, frac_coords), a pymatgen Structure dict or CIF text."
        ) from None


def _exception_text(exc: BaseException) -> str:
    """A one-line account of an exception and its cause (e.g. a missing CIF item)."""
    parts = []
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 3:
        seen.add(id(current))
        if isinstance(current, KeyError):  # pymatgen's CIF reader: a required item is absent
            return f"missing item {current.args[0]!r}" if current.args else "missing item"
        text = " ".join(str(current).split())
        parts.append(text or type(current).__name__)
        current = current.__cause__ or current.__context__
    return "; ".join(dict.fromkeys(parts))
