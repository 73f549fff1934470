"""Helpers shared by the sub-commands: the data/column flags, ``--out`` and text tables.

Every command that reads a table uses :func:`add_data_arguments` and
:func:`dataset_from_args`, so ``DATA``, ``--group-col``, ``--target-col``, ``--id-col``,
``--feature-cols`` and ``--pool-file`` mean the same everywhere.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from ..data import Dataset, load_data

__all__ = ["add_data_arguments", "add_output_argument", "dataset_from_args", "format_table", "print_table"]

_DEFAULT_DATA_DEST = "etal_default_data"


def add_data_arguments(parser: argparse.ArgumentParser, *, default_data: str | None = "oqmd8") -> None:
    """Add ``DATA`` and the column flags to ``parser``.

    ``DATA`` (optional positional) is a CSV / Parquet / JSON-lines file or an embedded
    dataset name; left out, ``default_data`` (an embedded dataset) is used with its
    default columns.
    """
    from ..datasets import list_datasets

    names = ", ".join(list_datasets())
    parser.add_argument(
        "data",
        nargs="?",
        default=None,
        metavar="DATA",
        help=(
            f"table file (.csv, .csv.gz, .tsv, .parquet, .jsonl, .ndjson, .json) or embedded "
            f"dataset name ({names}); default: {default_data or 'oqmd8'}. Rows with an empty target "
            f"are the unlabelled pool."
        ),
    )
    parser.add_argument(
        "--group-col",
        metavar="COL",
        help="column holding the groups whose bias is measured (embedded oqmd8: crystal_system)",
    )
    parser.add_argument(
        "--target-col",
        metavar="COL",
        help="column holding the continuous target (embedded oqmd8: formation_energy_per_atom, eV/atom)",
    )
    parser.add_argument(
        "--id-col",
        metavar="COL",
        help="column of unique row ids (default: a column 'id' numbered 0..n-1 is made)",
    )
    parser.add_argument(
        "--feature-cols",
        metavar="COLS",
        nargs="+",
        action="extend",
        help=(
            "feature columns for the model: names, globs ('frac_*') or comma-separated "
            "lists; may be repeated (default: all numeric columns except group, target and "
            "id). Put DATA before this option."
        ),
    )
    parser.add_argument(
        "--pool-file",
        metavar="FILE",
        help="extra table of unlabelled candidates (same columns; target absent or empty)",
    )
    parser.set_defaults(**{_DEFAULT_DATA_DEST: default_data})


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    """Load and validate the table named by the flags of :func:`add_data_arguments`."""
    data = getattr(args, "data", None)
    if data is None:
        data = getattr(args, _DEFAULT_DATA_DEST, None)
    return load_data(
        data,
        group_col=getattr(args, "group_col", None),
        target_col=getattr(args, "target_col", None),
        id_col=getattr(args, "id_col", None),
        feature_cols=getattr(args, "feature_cols", None),
        pool_path=getattr(args, "pool_file", None),
    )


def add_output_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """Add ``--out DIR`` (a :class:`pathlib.Path`; ``default`` when not given)."""
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path(default),
        help=f"output directory (created if missing; default: {default})",
    )


def _cell(value, floatfmt: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "NA"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "NA"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return format(value, floatfmt)
    return str(value)


def _is_numeric_column(values: list) -> bool:
    return all(
        v is None or v is pd.NA or (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)))
        for v in values
    )


def format_table(frame: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """Fixed-width text rendering of ``frame`` (numbers right-aligned, text left-aligned).

    A non-default index (named, or not 0..n-1) is shown as the first column. NaN prints
    as ``NA``; floats use ``floatfmt``.
    """
    index = frame.index
    show_index = index.name is not None or not index.equals(pd.RangeIndex(len(frame)))
    columns: list[tuple[str, list]] = []
    if show_index:
        columns.append((str(index.name) if index.name is not None else "", list(index)))
    for name in frame.columns:
        columns.append((str(name), frame[name].tolist()))
    rendered = []
    for header, values in columns:
        cells = [_cell(v, floatfmt) for v in values]
        width = max([len(header)] + [len(c) for c in cells])
        right = _is_numeric_column(values) and bool(values)
        align = str.rjust if right else str.ljust
        rendered.append([align(header, width)] + [align(c, width) for c in cells])
    if not rendered:
        return ""
    lines = ["  ".join(col[i] for col in rendered).rstrip() for i in range(len(frame) + 1)]
    rule = "  ".join("-" * len(col[0]) for col in rendered)
    return "\n".join([lines[0], rule] + lines[1:])


def print_table(frame: pd.DataFrame, floatfmt: str = ".4f", *, file: TextIO | None = None) -> None:
    """Print ``frame`` as a readable fixed-width text table (to stdout by default)."""
    print(format_table(frame, floatfmt), file=file if file is not None else sys.stdout)
