"""Validate a raw table into clean columns: every check of the data layer, once.

One function per check, composed by :func:`validate_table` in this order: column names
unique; roles named, distinct and present (group, target, optional id); at least one row;
features resolved (default: the numeric columns, with a warning naming a column left out
for a stray non-numeric cell); the pool table appended (same columns, target empty);
target numeric and finite (empty = pool) with at least one labelled row; groups present;
ids present and unique (or made); features numeric and finite. Inner layers trust the
result. Messages name the file, column, first bad rows and the Python parameter to fix
(``group_col=``); the CLI translates parameters into its flags.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .columns import (
    MAX_SHOWN,
    ROWS_NOTE,
    UNNAMED,
    Locator,
    Segment,
    blank,
    missing_column_error,
    resolve_feature_columns,
    show_values,
    to_float,
)

__all__ = ["Validated", "validate_table"]

# Default feature selection: a text column is "numeric with stray strings" (and worth a
# warning) when at most this share of its non-blank cells is not a number.
_STRAY_SHARE = 0.5
_STRAY_SAMPLE = 1000  # cells looked at first, so real text columns cost little


@dataclass
class Validated:
    """Result of :func:`validate_table`: the clean frame and the resolved column roles."""

    frame: pd.DataFrame
    group_col: str
    target_col: str
    id_col: str
    feature_cols: list[str]


def clean_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """A copy with ``str`` column names and a RangeIndex; duplicate names are an error."""
    frame = frame.copy(deep=False)  # columns are replaced, never written into
    frame.columns = [str(c) for c in frame.columns]
    dup = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"{source}: duplicate column names {dup}; give every column a unique name.")
    return frame.reset_index(drop=True)


def check_roles(
    columns: Sequence[str], source: str, group_col: str | None, target_col: str | None, id_col: str | None
) -> tuple[str, str, str | None]:
    """Group and target named, distinct from each other and the id, all present.

    Returns (group_col, target_col, id_col); a column literally named ``"id"`` becomes
    the id column when none is named.
    """
    for name, role in ((group_col, "group"), (target_col, "target")):
        if not name:
            raise InputError(
                f"{source}: no {role} column given; name it with {role}_col=. "
                f"Available columns: {', '.join(columns)}.",
                param=f"{role}_col",
            )
    group_col, target_col = str(group_col), str(target_col)
    if group_col == target_col:
        raise InputError(
            f"{source}: the group column and the target column are both {group_col!r}; the "
            f"group must be a category (e.g. crystal_system) and the target a number (e.g. "
            f"formation energy). Pass different group_col= and target_col=.",
            param="target_col",
        )
    if id_col is not None:
        id_col = str(id_col)
        if id_col in (group_col, target_col):
            raise InputError(
                f"{source}: the id column {id_col!r} is also the group or target column; "
                f"pass a column of unique row ids as id_col=.",
                param="id_col",
            )
    roles = [(group_col, "group"), (target_col, "target")] + ([(id_col, "id")] if id_col is not None else [])
    for column, role in roles:
        if column not in columns:
            raise missing_column_error(
                column, role, source, columns, f"Fix the name given as {role}_col=.", param=f"{role}_col"
            )
    if id_col is None and "id" in columns:
        id_col = "id"  # a column literally named 'id' is the row id (checked unique below)
    return group_col, target_col, id_col


def _stray_strings(series: pd.Series) -> np.ndarray | None:
    """Positions of the non-numeric cells of a mostly numeric text column, else None."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return None
    filled = series[~blank(series)]
    if filled.empty:
        return None
    _, bad_sample = to_float(filled.iloc[:_STRAY_SAMPLE])
    if bad_sample.mean() > _STRAY_SHARE:
        return None
    _, bad = to_float(series)
    share = bad.sum() / max(len(filled), 1)
    return np.flatnonzero(bad) if 0 < share <= _STRAY_SHARE else None


def choose_features(
    main: pd.DataFrame, source: str, feature_cols, exclude: Sequence[str], locate: Locator
) -> list[str]:
    """Resolve ``feature_cols`` against the main table's columns (see
    :func:`etal.data.resolve_feature_columns`). With the default selection, a column left
    out only because a few cells are not numbers is named in a warning."""
    columns = list(main.columns)
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(main[c].dtype)]  # bool counts (0/1)
    features = resolve_feature_columns(feature_cols, columns, exclude=exclude, numeric=numeric, source=source)
    if feature_cols is None:
        for column in columns:
            if column in numeric or column in exclude or UNNAMED.match(column):
                continue
            stray = _stray_strings(main[column])
            if stray is not None:
                warnings.warn(
                    f"{source}: column {column!r} looks numeric but was left out of the "
                    f"default features: non-numeric value(s) at {locate.where(stray)}: "
                    f"{show_values(main[column].to_numpy()[stray])}. Fix those cells, or "
                    f"name the features with feature_cols=.",
                    UserWarning,
                    stacklevel=5,
                )
    return features


def attach_pool(
    main: pd.DataFrame,
    pool: pd.DataFrame | None,
    *,
    source: str,
    pool_source: str | None,
    group_col: str,
    target_col: str,
    id_col: str | None,
    features: Sequence[str],
) -> tuple[pd.DataFrame, list[Segment]]:
    """Append the pool file's rows (same columns, target absent or empty) to ``main``.

    Returns the combined frame and the row segments of each file (for row locations).
    """
    # Row locations name files by their base name; the message itself starts with the path.
    segments = [Segment(Path(source).name or source, 0, len(main))]
    if pool is None:
        return main.reset_index(drop=True), segments
    pool = clean_columns(pool, pool_source or "<pool>")
    needed = [(group_col, "group")] + ([(id_col, "id")] if id_col else [])
    needed += [(c, "feature") for c in features]
    for column, role in needed:
        if column not in pool.columns:
            raise missing_column_error(
                column, role, str(pool_source), list(pool.columns),
                f"The pool file needs the same {role} column as {source}.",
                param="pool_path",
            )  # fmt: skip
    if id_col is None and "id" in pool.columns:
        raise InputError(
            f"{pool_source}: the pool file has a column 'id' but {source} has none; "
            f"give both files the same id column (id_col=), or rename that column.",
            param="id_col",
        )
    if target_col in pool.columns:
        filled = np.flatnonzero(~blank(pool[target_col]))
        if len(filled):
            where = Locator([Segment(Path(str(pool_source)).name, 0, len(pool))]).where(filled)
            raise InputError(
                f"{pool_source}: the pool file has values in target column {target_col!r} "
                f"at {where}: {show_values(pool[target_col].to_numpy()[filled])}. A pool "
                f"file lists unlabelled candidates: leave the target empty or drop the "
                f"column, and put labelled rows in {source}.",
                param="pool_path",
            )
    pool = pool.copy(deep=False)
    pool[target_col] = np.nan
    segments.append(Segment(Path(str(pool_source)).name, len(main), len(main) + len(pool)))
    frame = pd.concat([main, pool], ignore_index=True, sort=False) if len(pool) else main
    return frame.reset_index(drop=True), segments


def check_target(frame: pd.DataFrame, target_col: str, source: str, sources: str, locate: Locator) -> np.ndarray:
    """The target as float64 (NaN = pool row): numbers, finite, at least one present."""
    raw = frame[target_col]
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise InputError(
            f"{source}: target column {target_col!r} holds True/False values; the target must "
            f"be a continuous number. Name a numeric column as target_col=.",
            param="target_col",
        )
    target, bad = to_float(raw)
    bad_rows = np.flatnonzero(bad)
    if len(bad_rows):
        raise InputError(
            f"{sources}: target column {target_col!r} has non-numeric values at "
            f"{locate.where(bad_rows)}: {show_values(raw.to_numpy()[bad_rows])}. Fix "
            f"them (a plain number, '.' as decimal point) or leave the cell empty to make the "
            f"row an unlabelled pool candidate."
        )
    inf_rows = np.flatnonzero(np.isinf(target))
    if len(inf_rows):
        raise InputError(
            f"{sources}: target column {target_col!r} has infinite values at "
            f"{locate.where(inf_rows)}: {show_values(target[inf_rows])}. Fix or remove them; "
            f"leave the cell empty to make the row an unlabelled pool candidate."
        )
    if not np.any(~np.isnan(target)):
        raise InputError(
            f"{sources}: no labelled rows: target column {target_col!r} is empty in all "
            f"{len(frame)} rows. At least some rows need a target value."
        )
    return target


def check_groups(frame: pd.DataFrame, group_col: str, sources: str, locate: Locator) -> None:
    """Every row has a group label."""
    missing = np.flatnonzero(blank(frame[group_col]))
    if len(missing):
        raise InputError(
            f"{sources}: group column {group_col!r} is empty at {locate.where(missing)}. "
            f"Every row needs a group; fill these cells or drop the rows."
        )


def check_ids(frame: pd.DataFrame, id_col: str | None, sources: str, locate: Locator) -> tuple[str, np.ndarray]:
    """(id column, ids): the given ids, present and unique, or 0..n-1 in a new ``"id"``."""
    if id_col is None:
        return "id", np.arange(len(frame), dtype=np.int64)
    ids = frame[id_col]
    missing = np.flatnonzero(blank(ids))
    if len(missing):
        raise InputError(
            f"{sources}: id column {id_col!r} is empty at {locate.where(missing)}. "
            f"Every row needs a unique id."
        )
    duplicated = ids.duplicated(keep=False).to_numpy()
    if duplicated.any():
        by_id: dict = {}
        for pos in np.flatnonzero(duplicated):
            by_id.setdefault(ids.iat[pos], []).append(pos)
        shown = [
            f"{show_values([key])} at {locate.where(rows, note=False)}"
            for key, rows in list(by_id.items())[:MAX_SHOWN]
        ]
        more = f"; and {len(by_id) - MAX_SHOWN} more duplicated ids" if len(by_id) > MAX_SHOWN else ""
        raise InputError(
            f"{sources}: id column {id_col!r} has duplicate ids: {'; '.join(shown)}{more} "
            f"({ROWS_NOTE}). Ids must be unique; remove duplicate rows or name another "
            f"id_col=.",
            param="id_col",
        )
    return id_col, ids.to_numpy()


def check_features(
    frame: pd.DataFrame, features: Sequence[str], sources: str, locate: Locator, *, chosen_by_default: bool
) -> dict[str, np.ndarray]:
    """Features numeric and finite in every row (labelled and pool); returns the float64
    values of the columns that were not already a numeric dtype."""
    problems = []
    converted = {}
    for column in features:
        values, bad = to_float(frame[column], allow_bool=True)
        bad_rows = np.flatnonzero(bad)
        if len(bad_rows):
            problems.append(
                f"feature column {column!r} has non-numeric values at {locate.where(bad_rows)}: "
                f"{show_values(frame[column].to_numpy()[bad_rows])}"
            )
            continue
        nan_rows = np.flatnonzero(np.isnan(values))
        if len(nan_rows):
            problems.append(f"feature column {column!r} has missing (NaN/empty) values at {locate.where(nan_rows)}")
        inf_rows = np.flatnonzero(np.isinf(values))
        if len(inf_rows):
            problems.append(
                f"feature column {column!r} has infinite values at {locate.where(inf_rows)}: "
                f"{show_values(values[inf_rows])}"
            )
        dtype = frame[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            converted[column] = values
    if problems:
        how = (
            "the features were chosen by default (all numeric columns except group, target, "
            "id); choose them with feature_cols="
            if chosen_by_default
            else "fix or remove these rows, or leave the column out of feature_cols="
        )
        more = [f"and {len(problems) - MAX_SHOWN} more columns"] if len(problems) > MAX_SHOWN else []
        raise InputError(
            f"{sources}: " + "; ".join(problems[:MAX_SHOWN] + more) + f". Features must be finite numbers: {how}.",
            param="feature_cols",
        )
    return converted


def validate_table(
    main: pd.DataFrame,
    *,
    source: str,
    group_col: str | None,
    target_col: str | None,
    id_col: str | None = None,
    feature_cols: str | Sequence[str] | None = None,
    pool: pd.DataFrame | None = None,
    pool_source: str | None = None,
) -> Validated:
    """Run every check on ``main`` (and the optional ``pool`` table) and return the clean
    frame: target float64 (NaN = pool), group labels ``str`` (stripped), an id column,
    numeric features; ``frame.attrs["etal"]`` records the roles."""
    main = clean_columns(main, source)
    columns = list(main.columns)
    group_col, target_col, id_col = check_roles(columns, source, group_col, target_col, id_col)
    if len(main) == 0:
        raise InputError(f"{source}: the table has no rows (only a header); give a table with data rows.")
    main_locate = Locator([Segment(Path(source).name or source, 0, len(main))])
    exclude = [group_col, target_col, id_col or "id"]
    features = choose_features(main, source, feature_cols, exclude, main_locate)
    frame, segments = attach_pool(
        main, pool, source=source, pool_source=pool_source, group_col=group_col,
        target_col=target_col, id_col=id_col, features=features,
    )  # fmt: skip
    locate = Locator(segments)
    sources = source if pool is None else f"{source} / {pool_source}"
    target = check_target(frame, target_col, source, sources, locate)
    check_groups(frame, group_col, sources, locate)
    id_col, ids = check_ids(frame, id_col, sources, locate)
    converted = check_features(frame, features, sources, locate, chosen_by_default=feature_cols is None)

    out = frame.copy(deep=False)
    out[target_col] = target
    # Labels as str (stripped: "cubic" and " cubic" after a comma are the same group).
    out[group_col] = frame[group_col].astype(str).str.strip()
    if id_col not in out.columns:
        out.insert(0, id_col, ids)
    for column, values in converted.items():
        out[column] = values
    return Validated(out.reset_index(drop=True), group_col, target_col, id_col, list(features))
