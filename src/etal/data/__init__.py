"""Load and validate user tables: one row per item, a group, a target and features.

The I/O + validation edge of etal (floor 1); it does no entropy math. Every table a
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
  numeric column (True/False columns count, as 1/0) except the group, target and id
  columns and pandas' ``"Unnamed: N"`` index columns; a column left out because a few
  cells are not numbers is named in a warning.

Every problem raises :class:`etal.errors.InputError` whose message names the file, the
column, the first bad rows and what to do (and whose ``param`` names the parameter).
Row numbers are **1-based data rows, the header line not counted** (CSV: data row k is
file line k + 1; JSON lines: line k; Parquet and DataFrames: the k-th row).

Modules: :mod:`~etal.data.formats` (reading files, CSV delimiter / decimal-comma
detection), :mod:`~etal.data.columns` (cell parsing, feature selection, row locations),
:mod:`~etal.data.validate` (every check, once), :mod:`~etal.data.dataset` (the
:class:`Dataset` and the loaders).
"""

from __future__ import annotations

from .columns import ROWS_NOTE, resolve_feature_columns
from .dataset import Dataset, from_frame, load_data, load_table, smallest_gap
from .formats import SUPPORTED_SUFFIXES, read_file, sniff_csv

__all__ = [
    "ROWS_NOTE",
    "SUPPORTED_SUFFIXES",
    "Dataset",
    "from_frame",
    "load_data",
    "read_file",
    "load_table",
    "resolve_feature_columns",
    "smallest_gap",
    "sniff_csv",
]
