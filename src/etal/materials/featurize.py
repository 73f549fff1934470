"""Structures -> one tidy table row each: id, formula, symmetry, properties, descriptors.

:func:`featurize_path` (CIF folder / .cif / ASE .db / .extxyz) and
:func:`featurize_structures` (a :class:`~etal.materials.structures.ReadReport`) return a
:class:`FeaturizeResult` whose ``frame`` has the columns, in order:

``id``, ``formula`` (reduced, e.g. ``TiO2``), ``crystal_system``, ``spacegroup_number``
(1..230), ``spacegroup`` (Hermann-Mauguin symbol), the properties found in the source (ASE
key-value pairs, extxyz info fields such as ``energy``, numeric CIF data items), the
structure descriptors, the composition descriptors and the embedding columns ``emb_*``
(see :mod:`etal.materials.descriptors`). A property whose name clashes with one of these
columns is renamed ``source_<name>``.

:func:`featurize_table` adds descriptors to a table that already has rows (e.g. from
``etal fetch``), from its ``structure`` column (etal's structure JSON, a pymatgen dict or
CIF text) or, without one, from its ``formula`` column (composition descriptors only).

The table can go straight into ``etal bias OUT --group-col crystal_system --target-col
<property>``: etal's commands use every numeric column as a feature unless told otherwise,
so columns with missing values are listed in ``notes``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .descriptors import (
    STRUCTURE_DESCRIPTORS,
    composition_descriptors,
    embedding_frame,
    embeddings_from_npy,
    embeddings_from_values,
    resolve_descriptor_kind,
    structure_descriptors,
)
from .structures import (
    CRYSTAL_SYSTEMS,
    ReadReport,
    SkippedEntry,
    crystal_system_from_spacegroup,
    read_structures,
    require_materials,
    structure_from_json,
    symmetry_dataset,
    symmetry_info,
)

__all__ = [
    "IDENTITY_COLUMNS",
    "FeaturizeResult",
    "featurize_any",
    "featurize_path",
    "featurize_structures",
    "featurize_table",
    "load_embedding_table",
]

#: The first columns of every featurized table.
IDENTITY_COLUMNS: tuple[str, ...] = ("id", "formula", "crystal_system", "spacegroup_number", "spacegroup")

_ORDER_NOTE = (
    "CIF folder: sorted relative file paths (data blocks in file order); ASE database: row "
    "ids ascending; extxyz: frames in file order; skipped entries included"
)


@dataclass
class FeaturizeResult:
    """The featurized table, what was skipped and why, and notes for the user."""

    frame: pd.DataFrame
    source: str
    n_found: int
    skipped: list[SkippedEntry] = field(default_factory=list)
    descriptors: str = "basic"
    notes: list[str] = field(default_factory=list)

    @property
    def n_read(self) -> int:
        return len(self.frame)

    def crystal_system_counts(self) -> dict[str, int]:
        """Rows per crystal system, in order triclinic -> cubic (systems with rows only)."""
        counts = self.frame["crystal_system"].value_counts() if "crystal_system" in self.frame else pd.Series(dtype=int)
        ordered = {s: int(counts[s]) for s in CRYSTAL_SYSTEMS if s in counts.index}
        ordered.update({str(s): int(n) for s, n in counts.items() if s not in ordered})
        return ordered

    def summary_lines(self) -> list[str]:
        lines = [
            f"{self.source}: {self.n_found} structures found, {self.n_read} featurized, "
            f"{len(self.skipped)} skipped"
        ]
        lines += [f"  skipped {entry.source}: {entry.reason}" for entry in self.skipped]
        counts = self.crystal_system_counts()
        if counts:
            lines.append("per crystal system: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
        lines.append(f"composition descriptors: {self.descriptors}")
        lines += [f"note: {note}" for note in self.notes]
        return lines


# --------------------------------------------------------------------------- helpers


def _tidy_column(values: Sequence[Any]) -> Any:
    """Numbers -> float array (None -> NaN); anything mixed -> strings (None kept)."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return np.array([math.nan if v is None else float(v) for v in values], dtype=float)
    if all(isinstance(v, (bool, np.bool_)) for v in present) and len(present) == len(values):
        return np.array(values, dtype=bool)
    return np.array([None if v is None else str(v) for v in values], dtype=object)


def _missing_value_note(frame: pd.DataFrame, skip: Sequence[str] = ()) -> str | None:
    gaps = []
    for column in frame.columns:
        if column in skip or not pd.api.types.is_numeric_dtype(frame[column].dtype):
            continue
        n_missing = int(frame[column].isna().sum())
        if n_missing:
            gaps.append(f"{column} ({n_missing})")
    if not gaps:
        return None
    shown = ", ".join(gaps[:8]) + (f" and {len(gaps) - 8} more" if len(gaps) > 8 else "")
    return (
        f"numeric columns with missing values (rows): {shown}. etal bias / experiment use every "
        f"numeric column except group, target and id as a feature unless told otherwise: pick "
        f"complete ones with --feature-cols, or use such a column as --target-col (empty = pool)."
    )


def _with_descriptor_warnings(func, notes: list[str], *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = func(*args, **kwargs)
    for item in caught:
        notes.append(str(item.message))
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return result


def _align_embeddings(
    embeddings: np.ndarray | Mapping[Any, Any] | None,
    found_ids: Sequence[Any],
    kept_ids: Sequence[Any],
    source: str,
) -> np.ndarray | None:
    """Rows of the embeddings for the structures kept, in output order."""
    if embeddings is None:
        return None
    if isinstance(embeddings, Mapping):
        lookup = {str(k): v for k, v in embeddings.items()}
        missing = [i for i in kept_ids if str(i) not in lookup]
        if missing:
            raise InputError(
                f"{source}: no embedding for ids {[str(m) for m in missing[:5]]}"
                f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}; the embedding "
                f"table needs one row per structure id."
            )
        return embeddings_from_values([lookup[str(i)] for i in kept_ids], source=source)
    array = np.asarray(embeddings, dtype=float)
    if array.ndim != 2 or array.shape[0] != len(found_ids):
        raise InputError(
            f"{source}: embeddings have shape {array.shape} but {len(found_ids)} structures were "
            f"found; give one row per structure, in this order: {_ORDER_NOTE}."
        )
    position = {entry_id: k for k, entry_id in enumerate(found_ids)}
    return array[[position[i] for i in kept_ids]]


def load_embedding_table(path: str | os.PathLike, *, column: str = "embedding", id_col: str = "id") -> dict[str, Any]:
    """id -> vector from a table file (CSV / Parquet / JSON lines) with an id column and a
    column of vectors (lists or JSON strings)."""
    from .tables import read_table_file

    frame = read_table_file(path)
    for name, flag in ((id_col, "--embedding-id-col"), (column, "--embedding-col")):
        if name not in frame.columns:
            raise InputError(
                f"{path}: no column {name!r} (set it with {flag}); columns: {', '.join(map(str, frame.columns))}."
            )
    ids = frame[id_col].astype(str)
    if ids.duplicated().any():
        raise InputError(f"{path}: duplicate ids in column {id_col!r}: {ids[ids.duplicated()].unique()[:5].tolist()}.")
    return dict(zip(ids, frame[column].tolist()))


# --------------------------------------------------------------------------- featurize


def featurize_structures(
    report: ReadReport,
    *,
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
    descriptors: str = "auto",
    embeddings: np.ndarray | Mapping[Any, Any] | None = None,
    embedding_source: str = "<embeddings>",
) -> FeaturizeResult:
    """Symmetry, properties and descriptors for every structure of ``report``.

    A structure whose space group spglib cannot find is skipped with the reason.
    ``embeddings``: an ``(n_found, d)`` array with one row per entry of
    ``report.found_ids`` (read or skipped, in reading order), or a mapping id -> vector.
    ``descriptors``: ``auto`` / ``magpie`` / ``basic`` (composition + structure
    descriptors) or ``none`` (neither).
    """
    require_materials("Featurizing structures")
    kind = resolve_descriptor_kind(descriptors)
    skipped = list(report.skipped)
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    properties: list[dict[str, Any]] = []
    structure_rows: list[dict[str, float]] = []
    compositions = []
    kept_ids = []
    for record in report.records:
        try:
            symmetry, dataset = symmetry_dataset(record.structure, symprec=symprec, angle_tolerance=angle_tolerance)
        except InputError as exc:
            skipped.append(SkippedEntry(record.id, record.source, str(exc)))
            warnings.warn(f"skipped {record.source}: {exc}", UserWarning, stacklevel=2)
            continue
        kept_ids.append(record.id)
        composition = record.structure.composition
        compositions.append(composition)
        rows.append(
            {
                "id": record.id,
                "formula": composition.reduced_formula,
                "crystal_system": symmetry.crystal_system,
                "spacegroup_number": symmetry.spacegroup_number,
                "spacegroup": symmetry.spacegroup,
            }
        )
        properties.append(record.properties)
        if kind != "none":
            structure_rows.append(structure_descriptors(record.structure, dataset=dataset))
    frame = pd.DataFrame(rows, columns=list(IDENTITY_COLUMNS))
    frame["spacegroup_number"] = frame["spacegroup_number"].astype("int64")

    parts = [frame]
    if kind != "none":
        comp = _with_descriptor_warnings(composition_descriptors, notes, compositions, kind)
        struct = pd.DataFrame(structure_rows, columns=list(STRUCTURE_DESCRIPTORS))
        parts = [frame, struct, comp]
    taken = set().union(*(p.columns for p in parts))
    prop_frame = _property_frame(properties, taken, notes)
    parts.insert(1, prop_frame)
    vectors = _align_embeddings(embeddings, report.found_ids, kept_ids, embedding_source)
    if vectors is not None:
        parts.append(embedding_frame(vectors))
    out = pd.concat([p.reset_index(drop=True) for p in parts], axis=1)
    note = _missing_value_note(out, skip=list(prop_frame.columns))
    if note:
        notes.append(note)
    return FeaturizeResult(out, report.source, report.n_found, skipped, kind, notes)


def _property_frame(properties: list[dict[str, Any]], taken: set[str], notes: list[str]) -> pd.DataFrame:
    names: list[str] = []
    for props in properties:
        names += [k for k in props if k not in names]
    columns = {}
    renamed = []
    for name in names:
        column = name if name not in taken else f"source_{name}"
        if column != name:
            renamed.append(f"{name} -> {column}")
        columns[column] = _tidy_column([props.get(name) for props in properties])
    if renamed:
        notes.append("source properties renamed to avoid clashing with etal's columns: " + ", ".join(renamed))
    return pd.DataFrame(columns, index=range(len(properties)))


def featurize_path(
    path: str | os.PathLike,
    *,
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
    descriptors: str = "auto",
    embeddings: str | os.PathLike | np.ndarray | Mapping[Any, Any] | None = None,
) -> FeaturizeResult:
    """Read the structures at ``path`` (see :func:`etal.materials.structures.read_structures`)
    and featurize them. ``embeddings`` may be a ``.npy`` path (one row per structure found,
    skipped ones included, in reading order), an array or an id -> vector mapping."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each skipped file is in the report, printed by the caller
        report = read_structures(path)
    source = "<embeddings>"
    if isinstance(embeddings, (str, os.PathLike)):
        source = str(embeddings)
        embeddings = embeddings_from_npy(embeddings, report.n_found, order=_ORDER_NOTE)
    return featurize_structures(
        report,
        symprec=symprec,
        angle_tolerance=angle_tolerance,
        descriptors=descriptors,
        embeddings=embeddings,
        embedding_source=source,
    )


def featurize_table(
    frame: pd.DataFrame,
    *,
    structure_col: str = "structure",
    formula_col: str = "formula",
    id_col: str = "id",
    descriptors: str = "auto",
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
    recompute_symmetry: bool = False,
    embedding_col: str | None = None,
    embeddings: np.ndarray | Mapping[Any, Any] | None = None,
    source: str = "<table>",
) -> FeaturizeResult:
    """Add descriptors to a table of materials (e.g. the output of ``etal fetch``).

    With a ``structure_col`` column: structure + composition descriptors from the structure
    (rows whose structure cannot be built are skipped with the reason); the table's own
    ``crystal_system`` / ``spacegroup_number`` are kept unless missing or
    ``recompute_symmetry`` is set. Without one: composition descriptors from
    ``formula_col``. ``embedding_col`` names a column of vectors to expand into ``emb_*``;
    ``embeddings`` is an array with one row per table row, or an id -> vector mapping.
    The structure and embedding columns are dropped from the output.
    """
    kind = resolve_descriptor_kind(descriptors)
    notes: list[str] = []
    work = frame.reset_index(drop=True).copy()
    if id_col not in work.columns:
        raise InputError(f"{source}: no id column {id_col!r}; columns: {', '.join(map(str, work.columns))}.")
    has_structures = structure_col in work.columns
    if not has_structures and formula_col not in work.columns:
        raise InputError(
            f"{source}: neither a structure column {structure_col!r} nor a formula column "
            f"{formula_col!r}; descriptors need one of them."
        )
    if embedding_col is not None and embedding_col not in work.columns:
        raise InputError(f"{source}: no embedding column {embedding_col!r}; columns: {', '.join(map(str, work.columns))}.")
    skipped: list[SkippedEntry] = []
    keep = np.ones(len(work), dtype=bool)
    structures: list[Any] = [None] * len(work)
    if has_structures and (kind != "none" or recompute_symmetry or "crystal_system" not in work.columns):
        require_materials("Descriptors from structures")
        for k, text in enumerate(work[structure_col].tolist()):
            entry_id = work[id_col].iat[k]
            if text is None or (isinstance(text, float) and math.isnan(text)):
                skipped.append(SkippedEntry(entry_id, f"{source} row {k + 1}", "no structure"))
                keep[k] = False
                continue
            try:
                structures[k] = structure_from_json(text)
            except InputError as exc:
                skipped.append(SkippedEntry(entry_id, f"{source} row {k + 1}", str(exc)))
                keep[k] = False
    vectors = None
    if embedding_col is not None:
        vectors = embeddings_from_values(work[embedding_col].tolist(), source=f"{source} column {embedding_col!r}")
    elif embeddings is not None:
        if isinstance(embeddings, Mapping):
            vectors = _align_embeddings(embeddings, [], work[id_col].tolist(), source)
        else:
            vectors = np.asarray(embeddings, dtype=float)
            if vectors.ndim != 2 or len(vectors) != len(work):
                raise InputError(f"{source}: embeddings of shape {vectors.shape} for {len(work)} rows; give one row per row.")
    work = work.loc[keep].reset_index(drop=True)
    structures = [s for s, k in zip(structures, keep) if k]
    if vectors is not None:
        vectors = vectors[keep]

    if has_structures and structures and (recompute_symmetry or "crystal_system" not in work.columns):
        symmetry = [symmetry_info(s, symprec=symprec, angle_tolerance=angle_tolerance) for s in structures]
        work["crystal_system"] = [s.crystal_system for s in symmetry]
        work["spacegroup_number"] = [s.spacegroup_number for s in symmetry]
        work["spacegroup"] = [s.spacegroup for s in symmetry]
    elif "crystal_system" not in work.columns and "spacegroup_number" in work.columns:
        work["crystal_system"] = [crystal_system_from_spacegroup(n) for n in work["spacegroup_number"]]
    if has_structures and structures and (formula_col not in work.columns):
        work[formula_col] = [s.composition.reduced_formula for s in structures]

    parts = [work.drop(columns=[c for c in (structure_col, embedding_col) if c and c in work.columns])]
    if kind != "none":
        if has_structures and structures:
            struct = pd.DataFrame(
                [structure_descriptors(s, symprec=symprec, angle_tolerance=angle_tolerance) for s in structures],
                columns=list(STRUCTURE_DESCRIPTORS),
            )
            comp_input = [s.composition for s in structures]
        else:
            struct = None
            comp_input = work[formula_col].tolist()
        comp = _with_descriptor_warnings(composition_descriptors, notes, comp_input, kind)
        new = [p for p in (struct, comp) if p is not None]
        clash = [c for p in new for c in p.columns if c in parts[0].columns]
        if clash:
            notes.append(f"existing columns replaced by freshly computed descriptors: {', '.join(clash)}")
            parts[0] = parts[0].drop(columns=clash)
        parts += new
    if vectors is not None:
        parts.append(embedding_frame(vectors))
    out = pd.concat([p.reset_index(drop=True) for p in parts], axis=1)
    if skipped:
        for entry in skipped:
            warnings.warn(f"skipped {entry.source} (id {entry.id}): {entry.reason}", UserWarning, stacklevel=2)
    return FeaturizeResult(out, source, len(frame), skipped, kind, notes)


def featurize_any(
    path: str | os.PathLike,
    *,
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
    descriptors: str = "auto",
    embeddings: str | os.PathLike | None = None,
    embedding_col: str = "embedding",
    embedding_id_col: str = "id",
    recompute_symmetry: bool = False,
) -> FeaturizeResult:
    """What ``etal featurize PATH`` does: structures or a table of materials in, one result out.

    ``embeddings``: a ``.npy`` file (rows in reading order) or a table file with
    ``embedding_id_col`` and ``embedding_col`` columns (joined on id). For a table ``PATH``,
    ``embedding_col`` may also name a column of ``PATH`` itself.
    """
    from .tables import read_table_file, table_kind

    path = Path(path)
    table_embeddings: Mapping[Any, Any] | None = None
    if embeddings is not None and Path(embeddings).suffix.lower() != ".npy":
        table_embeddings = load_embedding_table(embeddings, column=embedding_col, id_col=embedding_id_col)
    if path.is_file() and table_kind(path) is not None:
        frame = read_table_file(path)
        own_column = embedding_col if embeddings is None and embedding_col in frame.columns else None
        if embeddings is not None and table_embeddings is None:
            array = embeddings_from_npy(embeddings, len(frame), order=f"the rows of {path}")
            return featurize_table(
                frame, descriptors=descriptors, symprec=symprec, angle_tolerance=angle_tolerance,
                recompute_symmetry=recompute_symmetry, embeddings=array, source=str(path),
            )  # fmt: skip
        return featurize_table(
            frame, descriptors=descriptors, symprec=symprec, angle_tolerance=angle_tolerance,
            recompute_symmetry=recompute_symmetry, embedding_col=own_column,
            embeddings=table_embeddings, source=str(path),
        )  # fmt: skip
    return featurize_path(
        path,
        symprec=symprec,
        angle_tolerance=angle_tolerance,
        descriptors=descriptors,
        embeddings=table_embeddings if table_embeddings is not None else embeddings,
    )
