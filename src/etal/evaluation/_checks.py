"""Input checks shared by the evaluation modules: columns, numeric matrices, seed lists, short texts."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..params import check_int


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{where} has no column(s) {missing}; available columns: {list(frame.columns)}. "
            "Pass the right names (features=, targets=, group_col=)."
        )


def _rows_preview(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(map(str, index[:limit]))
    return shown + (f", ... ({len(index)} rows)" if len(index) > limit else "")


def _numeric_matrix(frame: pd.DataFrame, columns: Sequence[str], where: str) -> np.ndarray:
    """Feature columns as a float matrix; non-numeric or non-finite values are an error."""
    for col in columns:
        if not (pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col])):
            raise InputError(
                f"{where}: feature column {col!r} is not numeric (dtype {frame[col].dtype}); "
                "encode it as numbers or leave it out of features="
            )
    matrix = frame[list(columns)].to_numpy(dtype=float)
    bad = ~np.isfinite(matrix)
    if bad.any():
        rows = frame.index[bad.any(axis=1)]
        cols = [c for c, b in zip(columns, bad.any(axis=0)) if b]
        raise InputError(
            f"{where}: feature column(s) {cols} have missing or infinite values in rows "
            f"{_rows_preview(rows)}; impute or drop those rows before evaluation"
        )
    return matrix


def _numeric_target(frame: pd.DataFrame, target: str, where: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(frame[target]):
        raise InputError(f"{where}: target column {target!r} is not numeric (dtype {frame[target].dtype})")
    values = frame[target].to_numpy(dtype=float)
    if np.isinf(values).any():
        rows = frame.index[np.isinf(values)]
        raise InputError(f"{where}: target column {target!r} is infinite in rows {_rows_preview(rows)}")
    return values


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, numbers.Integral):  # a count (True is refused by check_int)
        return list(range(check_int("seeds", seeds, low=1)))
    out = [int(s) for s in seeds]
    if not out:
        raise InputError("seeds is an empty list; give at least one seed")
    if len(set(out)) != len(out):
        raise InputError(f"seeds contains duplicates: {out}")
    return out


def _span_text(values: Any) -> str:
    arr = np.atleast_1d(np.asarray(values))
    lo, hi = int(arr.min()), int(arr.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _seeds_text(seeds: Sequence[Any]) -> str:
    seeds = [int(s) for s in seeds]
    return ", ".join(map(str, seeds)) if seeds else "none"
