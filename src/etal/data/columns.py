"""Column roles and row locations: the shared vocabulary of the data layer's messages.

Cell parsing (blank cells, numbers from text), feature-column resolution (names, globs,
default selection) and the '<file> rows 3, 7' locator every validation message uses.
Messages name Python parameters (``feature_cols=``); the CLI turns them into its flags.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["ROWS_NOTE", "resolve_feature_columns"]

#: How row numbers in error messages are counted (said in every message that lists rows).
ROWS_NOTE = "1-based data rows, header line not counted"
MAX_SHOWN = 5  # rows / values / ids shown in one message
UNNAMED = re.compile(r"^Unnamed: \d+$")  # pandas' name for a written-out index column
_GLOB_CHARS = set("*?[")

# --------------------------------------------------------------------------- row locations


@dataclass(frozen=True)
class Segment:
    """Rows ``start:stop`` of the combined frame came from ``source``."""

    source: str
    start: int
    stop: int


class Locator:
    """Turns positions in the combined frame into '<file> rows 3, 7' text."""

    def __init__(self, segments: Sequence[Segment]):
        self.segments = list(segments)

    def where(self, positions: Iterable[int], limit: int = MAX_SHOWN, note: bool = True) -> str:
        positions = np.asarray(list(positions), dtype=np.int64)
        total = len(positions)
        shown = positions[:limit]
        parts = []
        for seg in self.segments:
            mine = shown[(shown >= seg.start) & (shown < seg.stop)] - seg.start + 1
            if len(mine):
                word = "row" if len(mine) == 1 else "rows"
                parts.append(f"{seg.source} {word} {', '.join(str(int(r)) for r in mine)}")
        text = "; ".join(parts)
        if total > limit:
            text += f" and {total - limit} more"
        return f"{text} ({ROWS_NOTE})" if note else text


def show_values(values: Iterable, limit: int = MAX_SHOWN) -> str:
    return ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in list(values)[:limit])


# --------------------------------------------------------------------------- small helpers


def missing_column_error(
    column: str, role: str, source: str, available: Sequence[str], hint: str, param: str | None = None
) -> InputError:
    """'<source>: no <role> column X. Did you mean Y? Available columns: ...' (+ ``hint``)."""
    available = [str(c) for c in available]
    lower = {c.lower(): c for c in available}
    close = []
    if column.lower() in lower:
        close.append(lower[column.lower()])
    close += [c for c in difflib.get_close_matches(column, available, n=3, cutoff=0.6) if c not in close]
    suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    for name in available:
        for sep in (";", "\t", "|", ","):
            if sep in name and column in [part.strip() for part in name.split(sep)]:
                # e.g. a ';'-separated file read with ',': one column named 'id;family;f1'
                suggestion += (
                    f" The column {name!r} holds several names separated by {sep!r}: the "
                    f"file's delimiter was not recognised; save the table with ',' between "
                    f"fields (and '.' as decimal point)."
                )
                break
    return InputError(
        f"{source}: no {role} column {column!r}.{suggestion} Available columns: "
        f"{', '.join(available) if available else '(none)'}. {hint}",
        param=param,
    )


def blank(series: pd.Series) -> np.ndarray:
    """True where a cell is empty: NaN/None or a whitespace-only string."""
    mask = series.isna().to_numpy().copy()
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        text = series.astype("string")
        mask |= text.str.strip().eq("").fillna(False).to_numpy(dtype=bool)
    return mask


def to_float(series: pd.Series, *, allow_bool: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(float values with NaN for blanks, mask of non-blank cells that are not numbers).

    True/False count as numbers (1/0) only with ``allow_bool`` (features, not targets).
    """
    empty = blank(series)
    if pd.api.types.is_bool_dtype(series.dtype):
        if allow_bool:
            values = np.array(series.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
            return values, np.zeros(len(series), dtype=bool)
        return np.full(len(series), np.nan), ~empty
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = np.array(series.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
        return values, np.zeros(len(series), dtype=bool)
    if series.dtype == object and not allow_bool:
        # Python booleans are not targets, although to_numeric would accept them.
        is_bool = series.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    else:
        is_bool = np.zeros(len(series), dtype=bool)
    text = series.where(~empty, None)
    if series.dtype != object:
        text = text.astype(object)
    if isinstance(series.dtype, pd.StringDtype) or series.dtype == object:
        text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
    numbers = pd.to_numeric(text.where(~is_bool, None), errors="coerce")
    values = np.array(numbers.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    bad = (~empty & np.isnan(values)) | is_bool
    values[empty] = np.nan
    return values, bad


def split_spec(spec: str | Iterable[str]) -> list[str]:
    tokens = [spec] if isinstance(spec, str) else list(spec)
    out = []
    for token in tokens:
        if not isinstance(token, str):
            raise InputError(f"feature column names must be strings, got {token!r}")
        out += [part.strip() for part in token.split(",") if part.strip()]
    return out


def resolve_feature_columns(
    spec: str | Sequence[str] | None,
    columns: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    numeric: Sequence[str] | None = None,
    source: str = "<table>",
) -> list[str]:
    """Expand a feature specification against ``columns`` (order kept, duplicates dropped).

    ``spec`` is a list of names and/or fnmatch globs, or one comma-separated string. Globs
    never match a column in ``exclude`` (the group, target and id columns); naming such a
    column explicitly is an error (it would leak the target or the grouping into the
    model). ``spec=None`` means every column in ``numeric`` (default: all ``columns``)
    except ``exclude`` and pandas' ``"Unnamed: N"`` index columns.
    """
    columns = [str(c) for c in columns]
    exclude = [c for c in exclude if c is not None]
    if spec is None:
        pool = columns if numeric is None else [c for c in columns if c in set(numeric)]
        return [c for c in pool if c not in exclude and not UNNAMED.match(c)]
    chosen: list[str] = []
    for token in split_spec(spec):
        if _GLOB_CHARS & set(token):
            matched = [c for c in columns if fnmatch.fnmatchcase(c, token) and c not in exclude]
            if not matched:
                raise InputError(
                    f"{source}: feature pattern {token!r} matches no column (the group, "
                    f"target and id columns are never matched). Available columns: "
                    f"{', '.join(columns)}. Fix the pattern given as feature_cols=.",
                    param="feature_cols",
                )
        else:
            if token not in columns:
                raise missing_column_error(
                    token, "feature", source, columns, "Fix the name given as feature_cols=.",
                    param="feature_cols",
                )
            if token in exclude:
                raise InputError(
                    f"{source}: column {token!r} is the group, target or id column and "
                    f"cannot also be a feature; remove it from feature_cols=.",
                    param="feature_cols",
                )
            matched = [token]
        chosen += [c for c in matched if c not in chosen]
    return chosen
