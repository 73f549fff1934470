"""Small table I/O for the materials commands: read a table file, write CSV / Parquet atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from ..errors import InputError, require
from ..provenance import atomic_write_bytes

__all__ = ["TABLE_SUFFIXES", "read_table_file", "table_kind", "write_table"]

#: Table file endings the materials commands read and write.
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet", ".pq", ".jsonl", ".json")


def table_kind(path: str | os.PathLike) -> str | None:
    """``"csv"``, ``"parquet"``, ``"jsonl"`` or ``"json"`` from a file name, else None."""
    name = Path(path).name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    return None


def write_table(frame: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Write ``frame`` (without its index) to ``out``: CSV (``.csv``, ``.csv.gz``) or Parquet
    (``.parquet``, ``.pq``; needs pyarrow, the ``parquet`` extra), chosen by the ending.
    The write is atomic: a reader never sees half a file."""
    out = Path(out)
    kind = table_kind(out)
    if kind == "csv":
        compression = "gzip" if out.name.lower().endswith(".gz") else None
        buffer = io.BytesIO()
        frame.to_csv(buffer, index=False, compression=compression)
        return atomic_write_bytes(out, buffer.getvalue())
    if kind == "parquet":
        require("pyarrow", "parquet", "Writing Parquet files")
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, engine="pyarrow")
        return atomic_write_bytes(out, buffer.getvalue())
    raise InputError(
        f"{out}: unsupported output type; name the file *.csv, *.csv.gz or *.parquet."
    )


def read_table_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV / Parquet / JSON-lines / JSON-records file into a DataFrame."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found (absolute path: {path.absolute()}).")
    kind = table_kind(path)
    try:
        if kind == "csv":
            return pd.read_csv(path)
        if kind == "parquet":
            require("pyarrow", "parquet", "Reading Parquet files")
            return pd.read_parquet(path, engine="pyarrow")
        if kind == "jsonl":
            return pd.read_json(path, lines=True, dtype=False)
        if kind == "json":
            return pd.read_json(path, orient="records", dtype=False)
    except InputError:
        raise
    except ImportError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {path} as a {kind} table: {' '.join(str(exc).split())}.") from None
    raise InputError(f"{path}: unsupported table type; use .csv, .parquet, .jsonl or .json.")
