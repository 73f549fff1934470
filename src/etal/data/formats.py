"""Read one table file into an unvalidated DataFrame, whatever its format.

CSV (``.csv``, ``.tsv``, optionally ``.gz``; the delimiter and a decimal comma are
detected from a sample), Parquet (``.parquet``, ``.pq``; needs the ``parquet`` extra) and
JSON lines (``.jsonl``, ``.ndjson``, ``.json``, optionally ``.gz``; a ``.json`` file
holding one JSON array of records is accepted too). Reader failures become
:class:`etal.errors.InputError` naming the file. Validation is :mod:`etal.data.validate`'s job.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from pathlib import Path

import pandas as pd

from ..errors import InputError

__all__ = ["SUPPORTED_SUFFIXES", "read_file", "sniff_csv"]

#: File name endings :func:`etal.data.load_table` reads.
SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".csv", ".csv.gz", ".tsv", ".tsv.gz",
    ".parquet", ".pq",
    ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz",
)  # fmt: skip

_SNIFF_BYTES = 64 * 1024  # sample read to detect the delimiter and the decimal mark
_DELIMITERS = ",;\t|"
# A decimal-comma number: optional sign, digits, a comma, digits (e.g. -0,53 or 1,2e-3).
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+([eE][-+]?\d+)?\s*$")


def sniff_csv(path: str | os.PathLike, default_sep: str = ",") -> tuple[str, str]:
    """Guess ``(delimiter, decimal mark)`` of a CSV file from its first 64 KiB.

    The delimiter is the one of ``, ; TAB |`` that :class:`csv.Sniffer` finds consistent
    over the sample's lines; ``default_sep`` when the sample has a single column or is
    ambiguous. The decimal mark is ``","`` only when the delimiter is not a comma and
    the sample's fields include decimal-comma numbers (``-0,53``) but no decimal-point
    ones, else ``"."``.
    """
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            sample = fh.read(_SNIFF_BYTES)
    except (OSError, UnicodeDecodeError, EOFError):
        return default_sep, "."  # the reader itself reports the problem
    lines = sample.splitlines()
    if len(lines) > 1 and len(sample) == _SNIFF_BYTES:
        lines = lines[:-1]  # the last line may be cut
    if not lines:
        return default_sep, "."
    sep = default_sep
    header = lines[0]
    if default_sep not in header:
        try:
            sep = csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=_DELIMITERS).delimiter
        except csv.Error:
            sep = default_sep
    decimal = "."
    if sep != ",":
        fields = [f.strip().strip('"') for line in lines[1:200] for f in line.split(sep)]
        commas = sum(bool(_DECIMAL_COMMA.match(f)) for f in fields)
        points = sum(bool(re.match(r"^\s*[-+]?\d*\.\d+([eE][-+]?\d+)?\s*$", f)) for f in fields)
        if commas and not points:
            decimal = ","
    return sep, decimal


def _read_csv(path: Path, suffix: str) -> pd.DataFrame:
    default_sep = "\t" if suffix.startswith(".tsv") else ","
    sep, decimal = sniff_csv(path, default_sep)
    return pd.read_csv(path, sep=sep, decimal=decimal)



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
            frame = _read_csv(path, suffix)
        elif kind == "Parquet":
            from ..errors import require

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
