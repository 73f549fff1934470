"""Load and validate user tables: one row per item, a group, a target and features.

This module is the I/O + validation edge of etal; it does no entropy math. Every table a
command works on becomes a :class:`Dataset`:

* ``group_col``: the grouping whose bias is measured (e.g. ``crystal_system``); labels
  are converted to ``str``; a missing group is an error.
* ``target_col``: the continuous property (e.g. formation energy, eV/atom). A row whose
  target is **empty** (NaN / blank cell / JSON null) is an *unlabelled pool* candidate,
  not an error. Non-numeric or infinite targets are errors.
* ``id_col``: unique row ids. If none is named, a column literally called ``"id"`` is
  used (and must be unique); if there is none, a column ``"id"`` (0..n-1) is made, so
  ids are never silently replaced.
* ``feature_cols``: numeric, finite features used by the surrogate model. Names and/or
  :mod:`fnmatch` globs (``"frac_*"``), or one comma-separated string. **Default**: every
  numeric column (True/False columns count, as 1/0) except the group, target and id columns and pandas'
  ``"Unnamed: N"`` index columns. Globs never match the group, target or id column.

Every problem raises :class:`etal.errors.InputError` whose message names the file, the
column, the first bad rows and what to do. Row numbers are **1-based data rows, the
header line not counted** (CSV: data row k is file line k + 1; JSON lines: line k;
Parquet and DataFrames: the k-th row).

Supported files: CSV (``.csv``, ``.tsv``, optionally ``.gz``), Parquet (``.parquet``,
``.pq``; needs the ``parquet`` extra) and JSON lines (``.jsonl``, ``.ndjson``, ``.json``,
optionally ``.gz``; a ``.json`` file holding one JSON array of records is accepted too).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "ROWS_NOTE",
    "SUPPORTED_SUFFIXES",
    "Dataset",
    "from_frame",
    "load_data",
    "read_file",
    "load_table",
    "resolve_feature_columns",
]

#: How row numbers in error messages are counted (said in every message that lists rows).
ROWS_NOTE = "1-based data rows, header line not counted"
#: File name endings :func:`load_table` reads.
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".csv", ".csv.gz", ".tsv", ".tsv.gz",
    ".parquet", ".pq",
    ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz",
)  # fmt: skip
_MAX_SHOWN = 5  # rows / values / ids shown in one message
_UNNAMED = re.compile(r"^Unnamed: \d+$")  # pandas' name for a written-out index column
_GLOB_CHARS = set("*?[")


# --------------------------------------------------------------------------- Dataset


@dataclass
class Dataset:
    """A validated table: labelled rows (target known) plus the unlabelled pool.

    ``frame`` holds all rows (labelled and pool) with a clean ``RangeIndex``; the target
    column is float64 with NaN for pool rows; the group column holds ``str`` labels;
    feature columns are numeric and finite. ``labelled`` and ``pool`` are views computed
    from ``frame`` on each access (their index is the row position in ``frame``), so
    writing a revealed target into ``frame`` moves that row from pool to labelled.
    """

    frame: pd.DataFrame
    group_col: str
    target_col: str
    id_col: str
    feature_cols: list[str]
    source: str
    sha256: str
    pool_source: str | None = None
    pool_sha256: str | None = None

    @property
    def labelled(self) -> pd.DataFrame:
        """Rows whose target is present."""
        return self.frame.loc[self.frame[self.target_col].notna()]

    @property
    def pool(self) -> pd.DataFrame:
        """Rows whose target is empty (NaN): the unlabelled candidates."""
        return self.frame.loc[self.frame[self.target_col].isna()]

    @property
    def groups(self) -> list[str]:
        """Sorted group labels (as ``str``) over all rows, labelled and pool."""
        return sorted(pd.unique(self.frame[self.group_col].astype(str)).tolist())

    def features(self, rows: pd.DataFrame | None = None) -> np.ndarray:
        """Float64 array ``(n, d)`` of the feature columns of ``rows`` (default: all rows)."""
        rows = self.frame if rows is None else rows
        missing = [c for c in self.feature_cols if c not in rows.columns]
        if missing:
            raise InputError(
                f"rows passed to Dataset.features() lack feature columns {missing}; pass a "
                f"subset of Dataset.frame rows"
            )
        if not self.feature_cols:
            return np.empty((len(rows), 0), dtype=np.float64)
        return np.ascontiguousarray(rows[self.feature_cols].to_numpy(dtype=np.float64))

    def describe(self) -> dict:
        """Plain-JSON summary: source, sha256, row counts, groups with counts, columns used."""
        labelled_mask = self.frame[self.target_col].notna().to_numpy()
        group = self.frame[self.group_col].astype(str)
        per_group = {}
        counts = pd.crosstab(group, labelled_mask)
        for name in self.groups:
            n_lab = int(counts.loc[name, True]) if True in counts.columns else 0
            n_pool = int(counts.loc[name, False]) if False in counts.columns else 0
            per_group[name] = {"rows": n_lab + n_pool, "labelled": n_lab, "pool": n_pool}
        out = {
            "source": self.source,
            "sha256": self.sha256,
            "rows": int(len(self.frame)),
            "labelled": int(labelled_mask.sum()),
            "pool": int((~labelled_mask).sum()),
            "groups": per_group,
            "columns": {
                "group": self.group_col,
                "target": self.target_col,
                "id": self.id_col,
                "features": list(self.feature_cols),
            },
        }
        if self.pool_source is not None:
            out["pool_source"] = self.pool_source
            out["pool_sha256"] = self.pool_sha256
        return out


# --------------------------------------------------------------------------- row locations


@dataclass(frozen=True)
class _Segment:
    """Rows ``start:stop`` of the combined frame came from ``source``."""

    source: str
    start: int
    stop: int


class _Locator:
    """Turns positions in the combined frame into '<file> rows 3, 7' text."""

    def __init__(self, segments: Sequence[_Segment]):
        self.segments = list(segments)

    def where(self, positions: Iterable[int], limit: int = _MAX_SHOWN, note: bool = True) -> str:
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


def _show_values(values: Iterable, limit: int = _MAX_SHOWN) -> str:
    return ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in list(values)[:limit])


# --------------------------------------------------------------------------- small helpers


def _missing_column_error(column: str, role: str, source: str, available: Sequence[str], hint: str) -> InputError:
    available = [str(c) for c in available]
    lower = {c.lower(): c for c in available}
    close = []
    if column.lower() in lower:
        close.append(lower[column.lower()])
    close += [c for c in difflib.get_close_matches(column, available, n=3, cutoff=0.6) if c not in close]
    suggestion = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return InputError(
        f"{source}: no {role} column {column!r}.{suggestion} Available columns: "
        f"{', '.join(available) if available else '(none)'}. {hint}"
    )


def _blank(series: pd.Series) -> np.ndarray:
    """True where a cell is empty: NaN/None or a whitespace-only string."""
    mask = series.isna().to_numpy().copy()
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        text = series.astype("string")
        mask |= text.str.strip().eq("").fillna(False).to_numpy(dtype=bool)
    return mask


def _to_float(series: pd.Series, *, allow_bool: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(float values with NaN for blanks, mask of non-blank cells that are not numbers).

    True/False count as numbers (1/0) only with ``allow_bool`` (features, not targets).
    """
    blank = _blank(series)
    if pd.api.types.is_bool_dtype(series.dtype):
        if allow_bool:
            values = np.array(series.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
            return values, np.zeros(len(series), dtype=bool)
        return np.full(len(series), np.nan), ~blank
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = np.array(series.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
        return values, np.zeros(len(series), dtype=bool)
    if series.dtype == object and not allow_bool:
        # Python booleans are not targets, although to_numeric would accept them.
        is_bool = series.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    else:
        is_bool = np.zeros(len(series), dtype=bool)
    text = series.where(~blank, None)
    if series.dtype != object:
        text = text.astype(object)
    if isinstance(series.dtype, pd.StringDtype) or series.dtype == object:
        text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
    numbers = pd.to_numeric(text.where(~is_bool, None), errors="coerce")
    values = np.array(numbers.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    bad = (~blank & np.isnan(values)) | is_bool
    values[blank] = np.nan
    return values, bad


def _split_spec(spec: str | Iterable[str]) -> list[str]:
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
        return [c for c in pool if c not in exclude and not _UNNAMED.match(c)]
    chosen: list[str] = []
    for token in _split_spec(spec):
        if _GLOB_CHARS & set(token):
            matched = [c for c in columns if fnmatch.fnmatchcase(c, token) and c not in exclude]
            if not matched:
                raise InputError(
                    f"{source}: feature pattern {token!r} matches no column (the group, "
                    f"target and id columns are never matched). Available columns: "
                    f"{', '.join(columns)}. Fix the pattern given to --feature-cols."
                )
        else:
            if token not in columns:
                raise _missing_column_error(
                    token, "feature", source, columns, "Fix the name given to --feature-cols."
                )
            if token in exclude:
                raise InputError(
                    f"{source}: column {token!r} is the group, target or id column and "
                    f"cannot also be a feature; remove it from --feature-cols."
                )
            matched = [token]
        chosen += [c for c in matched if c not in chosen]
    return chosen


# --------------------------------------------------------------------------- reading files


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return "".join(path.suffixes[-2:]).lower() or "(none)"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"file not found: {path} (absolute path: {path.absolute()}). Check the path.")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a data file; give the path of a table file.")


def _pandas_major() -> int:
    return int(pd.__version__.split(".")[0])


def _first_bad_json_line(path: Path, compression: str | None) -> str:
    import gzip

    opener = gzip.open if compression == "gzip" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    return f"line {number} is not valid JSON ({exc.msg})"
                if not isinstance(record, dict):
                    return f"line {number} is not a JSON object"
    except (OSError, UnicodeDecodeError) as exc:
        return str(exc)
    return ""


def _starts_with_bracket(path: Path, compression: str | None) -> bool:
    import gzip

    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _read_json(path: Path, suffix: str) -> pd.DataFrame:
    compression = "gzip" if suffix.endswith(".gz") else None
    # dtype=False keeps JSON's own types (no guessing of dates from strings like "2020-01-01").
    # precise_float: the default fast parser misreads e.g. 0.3 as 0.30000000000000004.
    kwargs: dict = {"dtype": False, "compression": compression, "precise_float": True}
    if _pandas_major() < 3:  # pandas 3 deprecates these; dtype=False covers them there
        kwargs.update(convert_dates=False, keep_default_dates=False)
    if suffix.startswith(".json") and _starts_with_bracket(path, compression):
        # a plain JSON array of records is accepted too
        try:
            return pd.read_json(path, orient="records", **kwargs)
        except ValueError as exc:
            raise InputError(
                f"cannot read {path} as a JSON array of records: {exc}. Give one JSON object "
                f"per row, either as JSON lines or inside one array."
            ) from None
    try:
        return pd.read_json(path, lines=True, **kwargs)
    except ValueError:
        detail = _first_bad_json_line(path, compression)
    raise InputError(
        f"cannot read {path} as JSON lines: {detail or 'not JSON'}. Each line must be one "
        f"JSON object, e.g. {{\"group\": \"cubic\", \"target\": -0.5, \"f0\": 1.2}}."
    )


def read_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read one table file (CSV, Parquet or JSON lines, by its name), unvalidated.

    Reader failures become :class:`InputError`s naming the file.
    """
    path = Path(path)
    _check_file(path)
    suffix = _suffix(path)
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type {suffix!r}. Supported: "
            f"{', '.join(SUPPORTED_SUFFIXES)}. Convert the table to CSV (one header line, "
            f"one row per item)."
        )
    kind = "CSV" if suffix.startswith((".csv", ".tsv")) else "Parquet" if suffix in (".parquet", ".pq") else "JSON lines"
    try:
        if kind == "CSV":
            sep = "\t" if suffix.startswith(".tsv") else ","
            frame = pd.read_csv(path, sep=sep)
        elif kind == "Parquet":
            from .errors import require

            require("pyarrow", "parquet", "Reading Parquet files")
            frame = pd.read_parquet(path, engine="pyarrow")
        else:
            frame = _read_json(path, suffix)
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty (no header line and no rows); give a table with a header and rows.") from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read {path} as {kind}: it is not UTF-8 text ({exc.reason} at byte "
            f"{exc.start}). Save the file as UTF-8."
        ) from None
    except ImportError:
        raise
    except Exception as exc:  # reader failures of every kind become one clear message
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(
            f"cannot read {path} as {kind}: {message}. Check that the file is a complete, "
            f"well-formed {kind} file (same number of fields on every line for CSV)."
        ) from None
    if not isinstance(frame, pd.DataFrame):  # pragma: no cover - defensive
        raise InputError(f"cannot read {path} as a table")
    return frame


# --------------------------------------------------------------------------- assembly


def _clean_columns(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    dup = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"{source}: duplicate column names {dup}; give every column a unique name.")
    return frame.reset_index(drop=True)


def _assemble(
    main: pd.DataFrame,
    *,
    source: str,
    sha256: str,
    group_col: str | None,
    target_col: str | None,
    id_col: str | None,
    feature_cols: str | Sequence[str] | None,
    pool: pd.DataFrame | None = None,
    pool_source: str | None = None,
    pool_sha256: str | None = None,
) -> Dataset:
    main = _clean_columns(main, source)
    columns = list(main.columns)

    # --- roles
    if not group_col:
        raise InputError(
            f"{source}: no group column given; name it with --group-col (group_col=). "
            f"Available columns: {', '.join(columns)}."
        )
    if not target_col:
        raise InputError(
            f"{source}: no target column given; name it with --target-col (target_col=). "
            f"Available columns: {', '.join(columns)}."
        )
    group_col, target_col = str(group_col), str(target_col)
    if group_col == target_col:
        raise InputError(
            f"{source}: the group column and the target column are both {group_col!r}; the "
            f"group must be a category (e.g. crystal_system) and the target a number (e.g. "
            f"formation energy). Pass different --group-col and --target-col."
        )
    if id_col is not None:
        id_col = str(id_col)
        if id_col in (group_col, target_col):
            raise InputError(
                f"{source}: the id column {id_col!r} is also the group or target column; "
                f"pass a column of unique row ids with --id-col."
            )
    for column, role, flag in ((group_col, "group", "--group-col"), (target_col, "target", "--target-col")) + (
        ((id_col, "id", "--id-col"),) if id_col is not None else ()
    ):
        if column not in columns:
            raise _missing_column_error(column, role, source, columns, f"Fix the name given to {flag}.")
    if id_col is None and "id" in columns:
        id_col = "id"  # a column literally named 'id' is the row id (checked unique below)
    if len(main) == 0:
        raise InputError(f"{source}: the table has no rows (only a header); give a table with data rows.")

    # --- features: resolved against the main table's columns
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(main[c].dtype)]  # bool counts (0/1)
    features = resolve_feature_columns(
        feature_cols, columns, exclude=[group_col, target_col, id_col or "id"], numeric=numeric, source=source
    )

    # --- the pool file: same columns, target absent or empty
    # Row locations name files by their base name; the message itself starts with the path.
    segments = [_Segment(Path(source).name or source, 0, len(main))]
    frame = main
    if pool is not None:
        pool = _clean_columns(pool, pool_source or "<pool>")
        needed = [(group_col, "group", "--group-col")] + ([(id_col, "id", "--id-col")] if id_col else [])
        needed += [(c, "feature", "--feature-cols") for c in features]
        for column, role, flag in needed:
            if column not in pool.columns:
                raise _missing_column_error(
                    column, role, str(pool_source), list(pool.columns),
                    f"The pool file needs the same {role} column as {source}.",
                )
        if id_col is None and "id" in pool.columns:
            raise InputError(
                f"{pool_source}: the pool file has a column 'id' but {source} has none; "
                f"give both files the same id column (--id-col), or rename that column."
            )
        if target_col in pool.columns:
            filled = np.flatnonzero(~_blank(pool[target_col]))
            if len(filled):
                where = _Locator([_Segment(Path(str(pool_source)).name, 0, len(pool))]).where(filled)
                raise InputError(
                    f"{pool_source}: the pool file has values in target column {target_col!r} "
                    f"at {where}: {_show_values(pool[target_col].to_numpy()[filled])}. A pool "
                    f"file lists unlabelled candidates: leave the target empty or drop the "
                    f"column, and put labelled rows in {source}."
                )
        pool = pool.copy()
        pool[target_col] = np.nan
        segments.append(_Segment(Path(str(pool_source)).name, len(main), len(main) + len(pool)))
        if len(pool):
            frame = pd.concat([main, pool], ignore_index=True, sort=False)
    frame = frame.reset_index(drop=True)
    locate = _Locator(segments)
    sources = source if pool is None else f"{source} / {pool_source}"

    # --- target: numbers in float64; blank = pool
    raw_target = frame[target_col]
    if pd.api.types.is_bool_dtype(raw_target.dtype):
        raise InputError(
            f"{source}: target column {target_col!r} holds True/False values; the target must "
            f"be a continuous number. Pass a numeric column with --target-col."
        )
    target, bad = _to_float(raw_target)
    bad_rows = np.flatnonzero(bad)
    if len(bad_rows):
        raise InputError(
            f"{sources}: target column {target_col!r} has non-numeric values at "
            f"{locate.where(bad_rows)}: {_show_values(raw_target.to_numpy()[bad_rows])}. Fix "
            f"them (a plain number, '.' as decimal point) or leave the cell empty to make the "
            f"row an unlabelled pool candidate."
        )
    inf_rows = np.flatnonzero(np.isinf(target))
    if len(inf_rows):
        raise InputError(
            f"{sources}: target column {target_col!r} has infinite values at "
            f"{locate.where(inf_rows)}: {_show_values(target[inf_rows])}. Fix or remove them; "
            f"leave the cell empty to make the row an unlabelled pool candidate."
        )
    if not np.any(~np.isnan(target)):
        raise InputError(
            f"{sources}: no labelled rows: target column {target_col!r} is empty in all "
            f"{len(frame)} rows. At least some rows need a target value."
        )

    # --- group: no missing labels; labels become str
    missing_group = np.flatnonzero(_blank(frame[group_col]))
    if len(missing_group):
        raise InputError(
            f"{sources}: group column {group_col!r} is empty at {locate.where(missing_group)}. "
            f"Every row needs a group; fill these cells or drop the rows."
        )

    # --- ids: given (present, unique) or made
    if id_col is None:
        id_col = "id"
        ids = pd.Series(np.arange(len(frame), dtype=np.int64))
    else:
        ids = frame[id_col]
        missing_ids = np.flatnonzero(_blank(ids))
        if len(missing_ids):
            raise InputError(
                f"{sources}: id column {id_col!r} is empty at {locate.where(missing_ids)}. "
                f"Every row needs a unique id."
            )
        duplicated = ids.duplicated(keep=False).to_numpy()
        if duplicated.any():
            positions = np.flatnonzero(duplicated)
            by_id: dict = {}
            for pos in positions:
                by_id.setdefault(ids.iat[pos], []).append(pos)
            shown = [
                f"{_show_values([key])} at {locate.where(rows, note=False)}"
                for key, rows in list(by_id.items())[:_MAX_SHOWN]
            ]
            more = f"; and {len(by_id) - _MAX_SHOWN} more duplicated ids" if len(by_id) > _MAX_SHOWN else ""
            raise InputError(
                f"{sources}: id column {id_col!r} has duplicate ids: {'; '.join(shown)}{more} "
                f"({ROWS_NOTE}). Ids must be unique; remove duplicate rows or pass another "
                f"--id-col."
            )

    # --- features: numeric and finite everywhere (labelled and pool rows)
    problems = []
    converted = {}
    for column in features:
        values, bad = _to_float(frame[column], allow_bool=True)
        bad_rows = np.flatnonzero(bad)
        if len(bad_rows):
            problems.append(
                f"feature column {column!r} has non-numeric values at {locate.where(bad_rows)}: "
                f"{_show_values(frame[column].to_numpy()[bad_rows])}"
            )
            continue
        nan_rows = np.flatnonzero(np.isnan(values))
        if len(nan_rows):
            problems.append(f"feature column {column!r} has missing (NaN/empty) values at {locate.where(nan_rows)}")
        inf_rows = np.flatnonzero(np.isinf(values))
        if len(inf_rows):
            problems.append(
                f"feature column {column!r} has infinite values at {locate.where(inf_rows)}: "
                f"{_show_values(values[inf_rows])}"
            )
        if not pd.api.types.is_numeric_dtype(frame[column].dtype) or pd.api.types.is_bool_dtype(frame[column].dtype):
            converted[column] = values
    if problems:
        how = (
            "the features were chosen by default (all numeric columns except group, target, "
            "id); choose them with --feature-cols"
            if feature_cols is None
            else "fix or remove these rows, or leave the column out of --feature-cols"
        )
        shown = problems[:_MAX_SHOWN] + ([f"and {len(problems) - _MAX_SHOWN} more columns"] if len(problems) > _MAX_SHOWN else [])
        raise InputError(f"{sources}: " + "; ".join(shown) + f". Features must be finite numbers: {how}.")

    out = frame.copy()
    out[target_col] = target
    # Labels as str (stripped: "cubic" and " cubic" after a comma are the same group).
    out[group_col] = frame[group_col].astype(str).str.strip()
    if id_col not in out.columns:
        out.insert(0, id_col, ids.to_numpy())
    for column, values in converted.items():
        out[column] = values
    out = out.reset_index(drop=True)
    out.attrs = {
        "etal": {
            "group": group_col,
            "target": target_col,
            "id": id_col,
            "features": list(features),
            "source": source,
            "sha256": sha256,
        }
    }
    return Dataset(
        frame=out,
        group_col=group_col,
        target_col=target_col,
        id_col=id_col,
        feature_cols=list(features),
        source=source,
        sha256=sha256,
        pool_source=pool_source,
        pool_sha256=pool_sha256,
    )


def _read_pool(pool_path: str | os.PathLike | None) -> tuple[pd.DataFrame | None, str | None, str | None]:
    if pool_path is None:
        return None, None, None
    from .provenance import file_sha256

    path = Path(pool_path)
    frame = read_file(path)
    return frame, str(path), file_sha256(path)


# --------------------------------------------------------------------------- public loaders


def from_frame(
    frame: pd.DataFrame,
    *,
    group_col: str,
    target_col: str,
    id_col: str | None = None,
    feature_cols: str | Sequence[str] | None = None,
    source: str = "<DataFrame>",
) -> Dataset:
    """Validate an in-memory DataFrame (copied, never modified) into a :class:`Dataset`.

    ``sha256`` is :func:`etal.provenance.frame_sha256` of the frame as given. Row numbers
    in errors are 1-based positions in the frame. See the module docstring for the rules.
    """
    from .provenance import frame_sha256

    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"from_frame needs a pandas DataFrame, got {type(frame).__name__}")
    return _assemble(
        frame,
        source=source,
        sha256=frame_sha256(frame),
        group_col=group_col,
        target_col=target_col,
        id_col=id_col,
        feature_cols=feature_cols,
    )


def load_table(
    path: str | os.PathLike,
    *,
    group_col: str,
    target_col: str,
    id_col: str | None = None,
    feature_cols: str | Sequence[str] | None = None,
    pool_path: str | os.PathLike | None = None,
) -> Dataset:
    """Read a CSV / Parquet / JSON-lines file and validate it into a :class:`Dataset`.

    ``pool_path`` names an optional second file of unlabelled candidates with the same
    columns (its target column absent or empty); its rows are appended as pool rows.
    ``sha256`` is the SHA-256 of the main file's bytes (``pool_sha256`` of the pool file's).
    """
    from .provenance import file_sha256

    path = Path(path)
    frame = read_file(path)
    pool, pool_source, pool_sha = _read_pool(pool_path)
    return _assemble(
        frame,
        source=str(path),
        sha256=file_sha256(path),
        group_col=group_col,
        target_col=target_col,
        id_col=id_col,
        feature_cols=feature_cols,
        pool=pool,
        pool_source=pool_source,
        pool_sha256=pool_sha,
    )


def _embedded_name(data: str) -> str | None:
    from .datasets import list_datasets

    key = data.strip().lower()
    return key if key in list_datasets() else None


def load_data(
    data: str | os.PathLike | pd.DataFrame | None = None,
    *,
    group_col: str | None = None,
    target_col: str | None = None,
    id_col: str | None = None,
    feature_cols: str | Sequence[str] | None = None,
    pool_path: str | os.PathLike | None = None,
) -> Dataset:
    """Load whatever the user pointed at: an embedded dataset, a file or a DataFrame.

    * ``None`` or an embedded dataset name (``"oqmd8"``; see
      :func:`etal.datasets.list_datasets`): that dataset, with the group / target / id /
      feature defaults of :func:`etal.datasets.dataset_info`. A column given explicitly
      overrides its default; a column moved into the group / target / id role is dropped
      from the default features. A name wins over a file of the same name.
    * a path: :func:`load_table` (``group_col`` and ``target_col`` are then required).
    * a DataFrame: :func:`from_frame`; defaults come from ``frame.attrs["etal"]`` when the
      frame carries them (as :func:`etal.datasets.synthetic` frames do).
    """
    from .datasets import dataset_info, list_datasets, load_dataset

    if isinstance(data, pd.DataFrame):
        defaults = data.attrs.get("etal", {}) if isinstance(data.attrs.get("etal"), dict) else {}
        group_col = group_col or defaults.get("group")
        target_col = target_col or defaults.get("target")
        if id_col is None and defaults.get("id") in data.columns:
            id_col = defaults.get("id")
        if feature_cols is None and defaults.get("features") is not None:
            feature_cols = [c for c in defaults["features"] if c not in (group_col, target_col, id_col)]
        pool, pool_source, pool_sha = _read_pool(pool_path)
        from .provenance import frame_sha256

        return _assemble(
            data,
            source="<DataFrame>",
            sha256=frame_sha256(data),
            group_col=group_col,
            target_col=target_col,
            id_col=id_col,
            feature_cols=feature_cols,
            pool=pool,
            pool_source=pool_source,
            pool_sha256=pool_sha,
        )

    name = "oqmd8" if data is None else (_embedded_name(data) if isinstance(data, str) else None)
    if name is not None:
        info = dataset_info(name)
        explicit = {group_col, target_col, id_col} - {None}
        group_col = group_col or info.group
        target_col = target_col or info.target
        id_col = id_col or info.id
        if feature_cols is None:
            feature_cols = [c for c in info.features if c not in explicit]
        pool, pool_source, pool_sha = _read_pool(pool_path)
        return _assemble(
            load_dataset(name),
            source=info.name,
            sha256=info.sha256,
            group_col=group_col,
            target_col=target_col,
            id_col=id_col,
            feature_cols=feature_cols,
            pool=pool,
            pool_source=pool_source,
            pool_sha256=pool_sha,
        )

    if not isinstance(data, (str, os.PathLike)):
        raise InputError(
            f"data must be a file path, an embedded dataset name or a DataFrame, got {type(data).__name__}"
        )
    path = Path(data)
    if not path.exists():
        raise InputError(
            f"{str(data)!r} is neither an existing file (looked for {path.absolute()}) nor an "
            f"embedded dataset; embedded datasets are: {', '.join(list_datasets())}. Check "
            f"the path."
        )
    if not group_col or not target_col:
        frame_columns = list(read_file(path).columns)
        role, flag = ("group", "--group-col") if not group_col else ("target", "--target-col")
        raise InputError(
            f"{path}: no {role} column given; name it with {flag} ({role}_col=). Available "
            f"columns: {', '.join(map(str, frame_columns))}."
        )
    return load_table(
        path,
        group_col=group_col,
        target_col=target_col,
        id_col=id_col,
        feature_cols=feature_cols,
        pool_path=pool_path,
    )
