"""Descriptors of materials: composition statistics, simple structure features, embeddings.

Composition (:func:`composition_descriptors`), one of

* ``"magpie"``: matminer's ``ElementProperty.from_preset("magpie")`` (132 statistics of 22
  elemental properties; matminer imputes missing elemental data). Columns are matminer's
  labels made identifier-like: ``"MagpieData mean Number"`` -> ``magpie_mean_Number``.
  Needs the ``materials-full`` extra.
* ``"basic"``: a small built-in set: for each elemental property in
  :data:`etal.materials.element_data.ELEMENT_PROPERTIES` (atomic number ``Z``, Pauling
  ``electronegativity``, ``atomic_radius`` in Å, ``row``, ``group``, ``atomic_mass`` in
  g/mol) the statistics ``mean``, ``min``, ``max``, ``range`` and ``std`` over the elements
  of the compound, ``mean`` and ``std`` weighted by atomic fraction (``std`` is the
  population standard deviation sqrt(sum_i f_i (x_i - mean)^2)). Columns are
  ``<stat>_<property>``, e.g. ``mean_electronegativity``. Elemental values come from
  pymatgen's ``Element`` when pymatgen is installed, else from the built-in table (same
  numbers). A property an element lacks (e.g. no Pauling electronegativity for Ar) makes
  that property's statistics NaN for compounds containing it, and a
  :class:`DescriptorWarning` names the elements.
* ``"auto"``: ``magpie`` if matminer is installed, else ``basic``.

Structure (:func:`structure_descriptors`): ``volume_per_atom`` (Å^3/atom), ``density``
(g/cm^3), ``packing_fraction`` (sum over sites of the sphere volume 4/3 pi r^3 with r the
element's empirical atomic radius, Slater 1964 as tabulated by pymatgen, divided by the cell
volume; can exceed 0.74 because these radii are not half the bond length), and the
standardized conventional cell's ``nsites``, ``a``, ``b``, ``c`` (Å) and ``alpha``, ``beta``,
``gamma`` (degrees; spglib's standardization, International Tables setting), so that the
same crystal gives the same values whether it was stored as a primitive or a
conventional cell.

Embeddings (CGCNN, ALIGNN, M3GNet vectors, ...): :func:`embeddings_from_npy` (one row per
structure) and :func:`embeddings_from_values` (a column of lists / JSON strings), expanded
by :func:`embedding_frame` into columns ``emb_0 .. emb_{d-1}``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError, require
from .element_data import ELEMENT_PROPERTIES, element_data, parse_formula

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = [
    "BASIC_STATS",
    "DESCRIPTOR_KINDS",
    "STRUCTURE_DESCRIPTORS",
    "DescriptorWarning",
    "composition_amounts",
    "composition_descriptors",
    "element_property",
    "embedding_frame",
    "embeddings_from_npy",
    "embeddings_from_values",
    "resolve_descriptor_kind",
    "structure_descriptors",
]

#: Choices of composition descriptors (see the module docstring).
DESCRIPTOR_KINDS: tuple[str, ...] = ("auto", "magpie", "basic", "none")
#: Statistics of the ``basic`` composition descriptors, in column order.
BASIC_STATS: tuple[str, ...] = ("mean", "min", "max", "range", "std")
#: Columns of :func:`structure_descriptors`, in order.
STRUCTURE_DESCRIPTORS: tuple[str, ...] = (
    "volume_per_atom", "density", "packing_fraction", "nsites", "a", "b", "c", "alpha", "beta", "gamma",
)  # fmt: skip


class DescriptorWarning(UserWarning):
    """A descriptor could not be computed for some items (the message says which and why)."""


# --------------------------------------------------------------------------- composition


def _has_module(name: str) -> bool:
    import sys

    if name in sys.modules:  # None there means "blocked" (tests) -> not available
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def resolve_descriptor_kind(kind: str) -> str:
    """``auto`` -> ``magpie`` if matminer is installed, else ``basic``; other names checked."""
    kind = str(kind).strip().lower()
    if kind not in DESCRIPTOR_KINDS:
        raise InputError(f"unknown descriptor set {kind!r}; choose one of {', '.join(DESCRIPTOR_KINDS)}.")
    if kind == "auto":
        return "magpie" if _has_module("matminer") else "basic"
    return kind


@functools.cache
def element_property(symbol: str, name: str) -> float:
    """One elemental property (see :data:`ELEMENT_PROPERTIES`; units in the module docstring).

    From pymatgen's ``Element`` when pymatgen is installed, else from the built-in table.
    NaN where the value is unknown.
    """
    if name not in ELEMENT_PROPERTIES:
        raise InputError(f"unknown element property {name!r}; choose from {', '.join(ELEMENT_PROPERTIES)}.")
    data = element_data(symbol)  # validates the symbol for both paths
    if _has_module("pymatgen"):
        from pymatgen.core import Element

        element = Element(symbol)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "No Pauling electronegativity for He" -> NaN
            value = {
                "Z": element.Z,
                "electronegativity": element.X,
                "atomic_radius": element.atomic_radius,
                "row": element.row,
                "group": element.group,
                "atomic_mass": element.atomic_mass,
            }[name]
        return math.nan if value is None else float(value)
    return float(getattr(data, name))


def composition_amounts(composition: Any) -> dict[str, float]:
    """Element -> amount from a formula string, a pymatgen ``Composition`` or a mapping."""
    if isinstance(composition, str):
        if _has_module("pymatgen"):
            from pymatgen.core import Composition

            try:
                parsed = Composition(composition)
            except Exception:
                raise InputError(
                    f"cannot read the formula {composition!r}; give a formula such as 'Fe2O3'."
                ) from None
            return {str(el): float(n) for el, n in parsed.get_el_amt_dict().items() if n > 0}
        return parse_formula(composition)
    if hasattr(composition, "get_el_amt_dict"):
        return {str(el): float(n) for el, n in composition.get_el_amt_dict().items() if n > 0}
    if isinstance(composition, Mapping):
        amounts = {str(k): float(v) for k, v in composition.items() if float(v) > 0}
        for symbol in amounts:
            element_data(symbol)
        if not amounts:
            raise InputError(f"composition {dict(composition)!r} has no element with a positive amount.")
        return amounts
    raise InputError(
        f"cannot read a composition from {composition!r} ({type(composition).__name__}); give a "
        f"formula string, a pymatgen Composition or a mapping element -> amount."
    )


def _basic_stats(amounts: dict[str, float], name: str) -> tuple[list[float], list[str]]:
    """The BASIC_STATS of one property for one composition, and the elements lacking it."""
    symbols = list(amounts)
    values = np.array([element_property(s, name) for s in symbols])
    missing = [s for s, v in zip(symbols, values) if not np.isfinite(v)]
    if missing:
        return [math.nan] * len(BASIC_STATS), missing
    fractions = np.array([amounts[s] for s in symbols])
    fractions = fractions / fractions.sum()
    mean = float(fractions @ values)
    std = float(np.sqrt(fractions @ (values - mean) ** 2))
    low, high = float(values.min()), float(values.max())
    return [mean, low, high, high - low, std], []


def _basic_descriptors(all_amounts: list[dict[str, float]]) -> pd.DataFrame:
    columns = [f"{stat}_{name}" for name in ELEMENT_PROPERTIES for stat in BASIC_STATS]
    rows = []
    lacking: dict[str, set[str]] = {}
    for amounts in all_amounts:
        row: list[float] = []
        for name in ELEMENT_PROPERTIES:
            stats, missing = _basic_stats(amounts, name)
            row += stats
            if missing:
                lacking.setdefault(name, set()).update(missing)
        rows.append(row)
    if lacking:
        detail = "; ".join(f"{name}: {', '.join(sorted(symbols))}" for name, symbols in lacking.items())
        warnings.warn(
            f"no elemental data for some elements, so these descriptor statistics are NaN for the "
            f"compounds containing them ({detail})",
            DescriptorWarning,
            stacklevel=3,
        )
    return pd.DataFrame(np.array(rows, dtype=float).reshape(len(rows), len(columns)), columns=columns)


def _magpie_descriptors(all_amounts: list[dict[str, float]]) -> pd.DataFrame:
    require("matminer", "materials-full", "Magpie composition descriptors")
    require("pymatgen", "materials", "Magpie composition descriptors")
    from matminer.featurizers.composition import ElementProperty
    from pymatgen.core import Composition

    featurizer = ElementProperty.from_preset("magpie")
    labels = featurizer.feature_labels()
    columns = ["magpie_" + label.removeprefix("MagpieData ").replace(" ", "_") for label in labels]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [featurizer.featurize(Composition(amounts)) for amounts in all_amounts]
    return pd.DataFrame(np.array(rows, dtype=float).reshape(len(rows), len(columns)), columns=columns)


def composition_descriptors(compositions: Sequence[Any], kind: str = "auto") -> pd.DataFrame:
    """Composition descriptors, one row per composition (formula strings, pymatgen
    ``Composition`` objects or element -> amount mappings). See the module docstring for
    ``kind`` (``auto``, ``magpie``, ``basic``, ``none``). ``magpie`` without matminer ->
    :class:`etal.errors.MissingExtraError`."""
    kind = resolve_descriptor_kind(kind)
    all_amounts = [composition_amounts(c) for c in compositions]
    if kind == "none":
        return pd.DataFrame(index=range(len(all_amounts)))
    if kind == "magpie":
        return _magpie_descriptors(all_amounts)
    return _basic_descriptors(all_amounts)


# --------------------------------------------------------------------------- structure


def structure_descriptors(
    structure: Structure,
    *,
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
    dataset: Any = None,
) -> dict[str, float]:
    """Simple structure descriptors of an ordered structure (names in
    :data:`STRUCTURE_DESCRIPTORS`, units in the module docstring).

    ``nsites`` and the lattice parameters are those of spglib's standardized conventional
    cell (International Tables setting) at ``symprec`` (Å) / ``angle_tolerance`` (degrees);
    ``dataset`` passes an spglib dataset already computed (see
    :func:`etal.materials.structures.symmetry_dataset`). If spglib fails, the cell as given
    is described.
    """
    from .structures import require_materials, symmetry_dataset

    require_materials("Structure descriptors")
    volume = float(structure.volume)
    n = len(structure)
    sphere_volume = 0.0
    for site in structure:
        radius = element_property(site.specie.symbol, "atomic_radius")
        sphere_volume += 4.0 / 3.0 * math.pi * radius**3
    if dataset is None:
        try:
            dataset = symmetry_dataset(structure, symprec=symprec, angle_tolerance=angle_tolerance)[1]
        except InputError:
            dataset = None
    if dataset is not None:
        lattice = np.asarray(dataset.std_lattice, dtype=float)
        nsites = len(dataset.std_types)
    else:
        lattice = np.asarray(structure.lattice.matrix, dtype=float)
        nsites = n
    a, b, c = np.linalg.norm(lattice, axis=1)

    def angle(u: np.ndarray, v: np.ndarray) -> float:
        cosine = float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
        return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))

    return {
        "volume_per_atom": volume / n,
        "density": float(structure.density),
        "packing_fraction": sphere_volume / volume,
        "nsites": float(nsites),
        "a": float(a),
        "b": float(b),
        "c": float(c),
        "alpha": angle(lattice[1], lattice[2]),
        "beta": angle(lattice[0], lattice[2]),
        "gamma": angle(lattice[0], lattice[1]),
    }


# --------------------------------------------------------------------------- embeddings


def embeddings_from_npy(path: str | os.PathLike, n_rows: int, *, order: str = "") -> np.ndarray:
    """A ``(n_rows, d)`` float array from a ``.npy`` file with one row per structure.

    ``order`` describes, for the error message, which structure each row belongs to. Wrong
    row count, a non-2-D array, non-numeric or non-finite values -> :class:`InputError`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"embedding file {path} not found (absolute path: {path.absolute()}).")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(
            f"cannot read {path} as a NumPy .npy array ({' '.join(str(exc).split())}); save the "
            f"embeddings with numpy.save(path, array) as a 2-D float array."
        ) from None
    if not isinstance(array, np.ndarray) or array.ndim != 2:
        raise InputError(
            f"{path}: expected a 2-D array (one row per structure, one column per embedding "
            f"dimension), got shape {getattr(array, 'shape', None)}."
        )
    if array.shape[0] != n_rows:
        raise InputError(
            f"{path} has {array.shape[0]} rows but there are {n_rows} structures; the file needs "
            f"exactly one row per structure{(', in this order: ' + order) if order else ''}."
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(f"{path}: embedding values must be real numbers, got dtype {array.dtype}.")
    array = array.astype(float)
    _check_finite(array, str(path))
    return array


def embeddings_from_values(values: Sequence[Any], *, source: str = "<embeddings>") -> np.ndarray:
    """A ``(n, d)`` float array from a column whose cells hold vectors: lists / tuples /
    arrays or JSON strings such as ``"[0.1, -0.3, 2.0]"``. All vectors must have the same
    length; a missing, unparsable or ragged cell -> :class:`InputError` naming the rows
    (1-based)."""
    vectors: list[np.ndarray | None] = []
    bad: list[int] = []
    for position, cell in enumerate(values):
        vector = None
        try:
            if isinstance(cell, str):
                cell = json.loads(cell)
            if cell is not None and not (isinstance(cell, float) and math.isnan(cell)):
                vector = np.asarray(cell, dtype=float)
                if vector.ndim != 1 or vector.size == 0:
                    vector = None
        except (ValueError, TypeError):
            vector = None
        if vector is None:
            bad.append(position)
        vectors.append(vector)
    if bad:
        rows = ", ".join(str(p + 1) for p in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise InputError(
            f"{source}: embedding cells at rows {rows} (1-based) are missing or not a list of "
            f"numbers; each cell must hold a vector such as [0.1, -0.3, 2.0] (a JSON list)."
        )
    lengths = {v.size for v in vectors if v is not None}
    if len(lengths) > 1:
        first = vectors[0].size if vectors else 0
        ragged = [p for p, v in enumerate(vectors) if v is not None and v.size != first]
        rows = ", ".join(str(p + 1) for p in ragged[:5])
        raise InputError(
            f"{source}: embedding vectors have different lengths {sorted(lengths)}; row 1 has "
            f"{first} values, rows {rows} (1-based) differ. All vectors need the same length."
        )
    if not vectors:
        return np.zeros((0, 0))
    array = np.vstack([v for v in vectors if v is not None])
    _check_finite(array, source)
    return array


def _check_finite(array: np.ndarray, source: str) -> None:
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
        rows = ", ".join(str(p + 1) for p in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise InputError(f"{source}: embedding rows {rows} (1-based) hold NaN or infinite values.")


def embedding_frame(array: np.ndarray, *, prefix: str = "emb", index: Any = None) -> pd.DataFrame:
    """Columns ``<prefix>_0 .. <prefix>_{d-1}`` from an ``(n, d)`` array."""
    array = np.asarray(array, dtype=float)
    if array.ndim != 2:
        raise InputError(f"embeddings must be a 2-D array (n structures x d dimensions), got shape {array.shape}.")
    return pd.DataFrame(array, columns=[f"{prefix}_{k}" for k in range(array.shape[1])], index=index)
