"""Helpers shared by the sub-commands: data flags, ``--out``, text tables, messages in flags.

The data/column flags, the output folder, text tables and the translation of library
messages (which name Python parameters) into flags.

Every command that reads a table uses :func:`add_data_arguments` and
:func:`dataset_from_args`, so ``DATA``, ``--group-col``, ``--target-col``, ``--id-col``,
``--feature-cols`` and ``--pool-file`` mean the same everywhere.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from ..data import Dataset, load_data

__all__ = [
    "FLAGS",
    "add_data_arguments",
    "add_output_argument",
    "cli_message",
    "dataset_from_args",
    "format_table",
    "manifest_arguments",
    "plain_help",
    "print_table",
]

_DEFAULT_DATA_DEST = "etal_default_data"

#: Python parameter (as named by library errors) -> command-line flag.
FLAGS: dict[str, str] = {
    "group_col": "--group-col",
    "target_col": "--target-col",
    "id_col": "--id-col",
    "feature_cols": "--feature-cols",
    "pool_path": "--pool-file",
    "ties": "--ties",
    "n_bootstrap": "--bootstrap",
    "confidence": "--confidence",
    "ci_method": "--ci-method",
    "window": "--window",
    "test_fraction": "--test-fraction",
    "pool_size": "--pool-size",
    "filter": "--filter",
    "base_url": "--base-url",
    "max_entries": "--max-entries",
    "page_limit": "--page-limit",
    "elements": "--elements",
    "chemsys": "--chemsys",
    "symprec": "--symprec",
    "method": "--method",
    "reference_group_col": "--reference-group-col",
    "reference_target_col": "--reference-target-col",
    "reference_id_col": "--reference-id-col",
    "force": "--force",
    "out": "--out",
}


def cli_message(error: BaseException | str, flags: dict[str, str] | None = None) -> str:
    """A library message in the CLI's words: ``ties='floor'`` -> ``--ties floor``,
    ``group_col=`` -> ``--group-col``; an error whose ``param`` has a flag not yet named
    in the text gets ``(option --flag)`` appended."""
    flags = FLAGS if flags is None else flags
    text = str(error)
    for param, flag in flags.items():
        # \b does not fire inside reference_group_col, so group_col leaves it alone.
        text = re.sub(rf"\b{param}='([^']*)'", lambda m, f=flag: f"{f} {m.group(1)}", text)
        text = re.sub(rf"\b{param}=True\b", flag, text)  # a switch: force=True -> --force
        text = re.sub(rf"\b{param}=(?![\w'\"])", flag, text)
    flag = flags.get(getattr(error, "param", None) or "")
    if flag and flag not in text:
        text += f" (option {flag})"
    return text


def plain_help(text: str | None) -> str:
    """Docstring text for ``--help``: reST markup (double backticks, ``:func:`` roles) removed."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text or "")
    return text.replace("``", "")


def _looks_like_data(value: str) -> bool:
    """True for a value that names a table (an existing file, a table file name or an
    embedded dataset), not a feature column."""
    from ..data import SUPPORTED_SUFFIXES
    from ..datasets import list_datasets

    lowered = value.strip().lower()
    return os.path.isfile(value) or lowered.endswith(SUPPORTED_SUFFIXES) or lowered in list_datasets()


class _Data(argparse.Action):
    """The ``DATA`` positional; when argparse fills it with its default (no value left),
    a table already taken from the end of ``--feature-cols`` stays."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values == self.default and getattr(namespace, self.dest, None) is not None:
            return
        setattr(namespace, self.dest, values)


class _FeatureColumns(argparse.Action):
    """``--feature-cols A B ...`` (repeatable; items may be comma-separated). A last item
    naming a table, given before any ``DATA``, is ``DATA``: so both ``DATA --feature-cols
    f1 f2`` and ``--feature-cols f1 f2 DATA`` work."""

    def __call__(self, parser, namespace, values, option_string=None):
        values = list(values)
        if len(values) > 1 and getattr(namespace, "data", None) is None and _looks_like_data(values[-1]):
            namespace.data = values.pop()
        items = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, items + values)


def add_data_arguments(
    parser: argparse.ArgumentParser,
    *,
    default_data: str | None = "oqmd8",
    features: bool = True,
    pool_file: bool = True,
    pool_folder: bool = False,
) -> None:
    """Add ``DATA`` and the column flags to ``parser``.

    ``DATA`` (optional positional) is a CSV / Parquet / JSON-lines file or an embedded
    dataset name; left out, ``default_data`` (an embedded dataset) is used with its
    default columns. ``features`` / ``pool_file`` add ``--feature-cols`` / ``--pool-file``
    (commands that use no features or pool leave them out); ``pool_folder``: the command
    also takes a folder of Parquet files there (a partitioned pool).
    """
    from ..datasets import list_datasets

    names = ", ".join(list_datasets())
    parser.add_argument(
        "data",
        nargs="?",
        default=None,
        action=_Data,
        metavar="DATA",
        help=(
            f"table file (.csv, .csv.gz, .tsv, .parquet, .jsonl, .ndjson, .json) or embedded "
            f"dataset name ({names}); default: {default_data or 'oqmd8'}. Rows with an empty target "
            f"are the unlabelled pool. CSV delimiter (, ; TAB |) and decimal comma are detected."
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
    if features:
        parser.add_argument(
            "--feature-cols",
            metavar="COLS",
            nargs="+",
            action=_FeatureColumns,
            help=(
                "feature columns for the model: names, globs ('frac_*') or comma-separated "
                "lists; may be repeated (default: all numeric columns except group, target and "
                "id). DATA may come before or after this option."
            ),
        )
    if pool_file:
        parser.add_argument(
            "--pool-file",
            metavar="FILE|DIR" if pool_folder else "FILE",
            help="extra table of unlabelled candidates (same columns; target absent or empty)"
            + ("; or a folder of Parquet files (a partitioned pool, scored partition by partition; "
               "see --scheduler)" if pool_folder else ""),
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


#: Namespace entries the CLI sets for itself (not the user's arguments).
_INTERNAL_ARGS = ("func", "etal_default_out", "etal_out_given")


def manifest_arguments(args: argparse.Namespace) -> dict:
    """The user's arguments as they go into ``manifest.json`` (paths as text)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in _INTERNAL_ARGS}


def add_output_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """Add ``--out DIR`` (a :class:`pathlib.Path`; None when not given) and ``--force``.

    Use :func:`output_dir` to resolve and prepare the folder.
    """
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=None,
        help=f"output directory (created if missing; default: {default}); must be empty, "
        "or hold an earlier run of the same command when left at its default",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="use a non-empty --out anyway: etal's own files there are removed first, others kept",
    )
    parser.set_defaults(etal_default_out=default)


def output_dir(
    args: argparse.Namespace, *, command: str, own: Sequence[str], hint: str | None = None, check_only: bool = False
) -> Path:
    """The ``--out`` folder, made ready by :func:`etal.provenance.prepare_output_dir`.

    The command's default folder (``--out`` not given) may be replaced when it holds only
    an earlier run of the same command; a folder the user named must be empty or be
    cleared with ``--force``.
    """
    from ..provenance import prepare_output_dir

    chosen = getattr(args, "etal_out_given", None)
    if chosen is None:
        chosen = args.etal_out_given = getattr(args, "out", None) is not None
    path = Path(args.out) if args.out is not None else Path(args.etal_default_out)
    args.out = path
    return prepare_output_dir(
        path, command=command, own=own, force=bool(getattr(args, "force", False)),
        replace_same_command=not chosen, hint=hint, check_only=check_only,
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
