"""Shared tidying of database records into etal's one-row-per-material frame (used by the loaders)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EtalError, InputError
from .structures import crystal_system_from_spacegroup

#: Provider fields holding a formation energy in eV/atom.
_OPTIMADE_ENERGY_FIELDS = {
    "oqmd": "_oqmd_delta_e",
    "alexandria": "_alexandria_formation_energy_per_atom",
}
_TIDY_FIRST = ("id", "formula", "crystal_system", "spacegroup_number", "spacegroup", "formation_energy_per_atom")


class FetchError(EtalError):
    """A database could not be reached or answered with an error (the message says which)."""


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("na", "nan", "none", "null", "")


def _as_float(value: Any) -> float:
    if _is_missing(value) or isinstance(value, bool):
        return math.nan
    try:
        result = float(value)
    except (TypeError, ValueError):
        return math.nan
    return result if math.isfinite(result) else math.nan


def _scalar_columns(records: Sequence[Mapping[str, Any]], skip: Iterable[str]) -> dict[str, np.ndarray]:
    """Every field whose values are scalars: numbers (with "na" gaps) -> float, else str."""
    skip = set(skip)
    names: list[str] = []
    seen = set()
    for record in records:
        for key in record:
            if key not in seen and key not in skip:
                seen.add(key)
                names.append(key)
    out: dict[str, np.ndarray] = {}
    for name in names:
        values = [record.get(name) for record in records]
        present = [v for v in values if not _is_missing(v)]
        if any(isinstance(v, (list, tuple, dict)) for v in present) or not present:
            continue  # tensors, spectra and empty fields are not tidy columns
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in present):
            out[name] = np.array([_as_float(v) for v in values], dtype=float)
        else:
            out[name] = np.array([None if _is_missing(v) else str(v) for v in values], dtype=object)
    return out


def _finish(
    rows: dict[str, Any], extra: dict[str, np.ndarray], structures: list[str | None] | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Assemble, drop rows without a usable space group, order the columns."""
    frame = pd.DataFrame(rows)
    for name, values in extra.items():
        column = name if name not in frame.columns else f"source_{name}"
        frame[column] = values
    if structures is not None:
        frame["structure"] = np.array(structures, dtype=object)
    crystal = []
    for number in frame["spacegroup_number"].tolist():
        try:
            crystal.append(crystal_system_from_spacegroup(number))
        except InputError:
            crystal.append(None)
    frame["crystal_system"] = np.array(crystal, dtype=object)
    usable = frame["crystal_system"].notna().to_numpy()
    dropped = int((~usable).sum())
    frame = frame.loc[usable].reset_index(drop=True)
    frame["spacegroup_number"] = frame["spacegroup_number"].astype("int64")
    frame["id"] = frame["id"].astype(str)
    first = [c for c in _TIDY_FIRST if c in frame.columns]
    last = ["structure"] if "structure" in frame.columns else []
    frame = frame[first + [c for c in frame.columns if c not in first and c not in last] + last]
    reason = "no space-group number in 1..230 (missing in the source, or no ordered structure to find it from)"
    info = {"dropped": dropped, "dropped_reason": reason} if dropped else {"dropped": 0}
    return frame, info
