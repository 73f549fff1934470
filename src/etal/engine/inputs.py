"""The engine's inputs: two frames validated once, or a validated Dataset taken as it is.

Frames go through :func:`etal.data.from_frame`; an :class:`etal.data.Dataset` is trusted.

Only the checks that belong to the engine live here: which of the two tables lacks a
column, and labelled rows that lack their label (``etal.data`` would make them pool
rows). Everything else (ids present and unique across both tables, groups present,
features finite, targets numeric) is ``etal.data``'s, done once.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from ..data import from_frame
from ..errors import InputError

__all__ = ["Columns", "check_columns", "dataset_tables", "validated"]


class Columns(Protocol):
    """The column roles an engine reads (``ETAL`` has them)."""

    group_col: str
    target_col: str
    id_col: str
    feature_cols: list[str]


def is_dataset(obj) -> bool:
    """Is ``obj`` a validated :class:`etal.data.Dataset` (duck-typed)?"""
    return hasattr(obj, "frame") and hasattr(obj, "pool") and hasattr(obj, "labelled")


def check_columns(cols: Columns, frame, name: str, need_target: bool) -> pd.DataFrame:
    """Engine-specific checks (which table lacks what); the rest is etal.data's."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    need = [cols.id_col, cols.group_col] + ([cols.target_col] if need_target else []) + cols.feature_cols
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise InputError(
            f"{name} table lacks column(s) {missing}; its columns are: "
            f"{', '.join(map(str, frame.columns))}"
        )
    frame = frame.reset_index(drop=True)
    if need_target:
        # A labelled row without a label would silently become a pool row in etal.data.
        target = pd.to_numeric(frame[cols.target_col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(target)
        if bad.any():
            ids = frame[cols.id_col]
            raise InputError(
                f"labelled table: target column {cols.target_col!r} is missing or non-numeric "
                f"for ids {ids[bad].tolist()[:5]}; rows without a label belong in the pool"
            )
    return frame

def validated(cols: Columns, labelled: pd.DataFrame, pool: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables validated once by :func:`etal.data.from_frame` (as one table)."""
    labelled = check_columns(cols, labelled, "labelled", need_target=True)
    pool = check_columns(cols, pool, "pool", need_target=False)
    # The loop never holds pool labels: a target column in the pool is dropped here.
    pool = pool.drop(columns=[cols.target_col], errors="ignore")
    both = pd.concat([labelled, pool.assign(**{cols.target_col: np.nan})], ignore_index=True, sort=False)
    n_lab = len(labelled)
    source = f"labelled + pool tables (rows 1-{n_lab}: labelled, {n_lab + 1}-{len(both)}: pool)"
    ds = from_frame(
        both, group_col=cols.group_col, target_col=cols.target_col, id_col=cols.id_col,
        feature_cols=list(cols.feature_cols), source=source,
    )
    frame = ds.frame
    labelled = frame.iloc[:n_lab][list(labelled.columns)].reset_index(drop=True)
    pool = frame.iloc[n_lab:][list(pool.columns)].reset_index(drop=True)
    return labelled, pool

def dataset_tables(cols: Columns, ds) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A validated :class:`etal.data.Dataset`'s labelled rows and pool (trusted)."""
    for name in ("group_col", "target_col", "id_col"):
        if getattr(ds, name) != getattr(cols, name):
            raise InputError(
                f"the dataset's {name} is {getattr(ds, name)!r}, this ETAL's is {getattr(cols, name)!r}; "
                "build the ETAL with ETAL.from_dataset(dataset, ...) or the same columns"
            )
    missing = [c for c in cols.feature_cols if c not in ds.frame.columns]
    if missing:
        raise InputError(f"the dataset ({ds.source}) lacks feature column(s) {missing}")
    return ds.labelled.reset_index(drop=True), ds.pool.reset_index(drop=True)
