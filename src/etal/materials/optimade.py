"""OPTIMADE entries -> etal's tidy frame (pure: no network; the fetching is in ``fetch``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import InputError
from ._tidy import (
    _OPTIMADE_ENERGY_FIELDS,
    FetchError,
    _as_float,
    _finish,
    _is_missing,
    _scalar_columns,
)
from .element_data import parse_formula, reduced_formula
from .structures import structure_to_json

__all__ = ["normalize_optimade"]


def _optimade_structure(attributes: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(structure JSON, problem) from OPTIMADE structure attributes."""
    lattice = attributes.get("lattice_vectors")
    positions = attributes.get("cartesian_site_positions")
    species_at_sites = attributes.get("species_at_sites")
    if not (lattice and positions and species_at_sites):
        return None, "no lattice_vectors / cartesian_site_positions / species_at_sites"
    dims = attributes.get("dimension_types")
    if dims is not None and list(dims) != [1, 1, 1]:
        return None, f"not periodic in 3-D (dimension_types {dims})"
    species = {s.get("name"): s for s in attributes.get("species") or [] if isinstance(s, Mapping)}
    elements = []
    for name in species_at_sites:
        entry = species.get(name)
        if entry is None:
            symbols = [name]
            concentration = [1.0]
        else:
            symbols = entry.get("chemical_symbols") or [name]
            concentration = entry.get("concentration") or [1.0]
        if len(symbols) != 1 or abs(float(concentration[0]) - 1.0) > 1e-8 or symbols[0] in ("X", "vacancy"):
            return None, f"disordered site species {name!r} ({symbols}, {concentration})"
        elements.append(symbols[0])
    try:
        return structure_to_json(lattice, elements, positions, cartesian=True), None
    except (TypeError, ValueError):
        return None, "malformed lattice or positions"


def normalize_optimade(
    entries: Sequence[Mapping[str, Any]],
    *,
    provider: str,
    energy_field: str | None = None,
    symprec: float = 0.1,
    angle_tolerance: float = 5.0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Tidy frame (see the module docstring) and info from OPTIMADE structure entries."""
    if not entries:
        raise FetchError("the OPTIMADE query matched no structures; check filter=.")
    attributes = [dict(e.get("attributes") or {}) for e in entries]
    energy_field = energy_field or _OPTIMADE_ENERGY_FIELDS.get(provider)
    structures, problems = zip(*(_optimade_structure(a) for a in attributes))
    needs_spglib = {k for k, a in enumerate(attributes) if _is_missing(a.get("space_group_it_number"))}
    found: dict[int, Any] = {}
    if needs_spglib:
        from .structures import require_materials, structure_from_json, symmetry_info

        require_materials(
            f"OPTIMADE provider {provider!r} gives no space_group_it_number, so the space group "
            f"is found with spglib, which"
        )
        for k in sorted(needs_spglib):
            if structures[k] is None:
                continue
            try:
                found[k] = symmetry_info(
                    structure_from_json(structures[k]), symprec=symprec, angle_tolerance=angle_tolerance
                )
            except InputError:
                continue  # no space group -> the row is dropped and counted
    numbers = [
        (float(found[k].spacegroup_number) if k in found else math.nan)
        if k in needs_spglib
        else _as_float(a.get("space_group_it_number"))
        for k, a in enumerate(attributes)
    ]
    symbols = [
        found[k].spacegroup if k in found else a.get("space_group_symbol_hermann_mauguin")
        for k, a in enumerate(attributes)
    ]
    formulas = []
    for a in attributes:
        formula = a.get("chemical_formula_reduced")
        try:
            formulas.append(reduced_formula(parse_formula(formula)) if isinstance(formula, str) else None)
        except InputError:
            formulas.append(formula)
    rows = {
        "id": [str(e.get("id")) for e in entries],
        "formula": formulas,
        "spacegroup_number": numbers,
        "spacegroup": symbols,
        "formation_energy_per_atom": [_as_float(a.get(energy_field)) if energy_field else math.nan for a in attributes],
    }
    prefix = f"_{provider}_"
    provider_fields = [
        {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in a.items() if k.startswith("_") and k != energy_field}
        for a in attributes
    ]
    standard = [{k: a.get(k) for k in ("nsites", "nelements") if k in a} for a in attributes]
    extra = _scalar_columns([{**s, **p} for s, p in zip(standard, provider_fields)], ())
    extra = {(f"{provider}_{k}" if k in rows else k): v for k, v in extra.items()}
    frame, info = _finish(rows, extra, list(structures))
    info["disordered_or_incomplete"] = int(sum(p is not None for p in problems))
    info["spacegroup_from"] = "spglib" if needs_spglib else "provider"
    if not energy_field:
        info["note"] = (
            f"provider {provider!r} has no known formation-energy field; formation_energy_per_atom "
            f"is empty. Name the provider's field with energy_field= / --energy-field."
        )
    return frame, info
