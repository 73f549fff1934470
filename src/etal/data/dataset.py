"""The validated :class:`Dataset` and the ways to get one: a file, a frame, an embedded set.

Every command works on a :class:`Dataset` made here at the edge; the layers above trust
it (see :mod:`etal.data.validate` for the checks, :mod:`etal.data.formats` for reading).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .formats import read_file
from .validate import validate_table

__all__ = ["Dataset", "from_frame", "load_data", "load_table", "smallest_gap"]


def smallest_gap(values) -> float:
    """Smallest positive gap between two distinct finite values (target units); NaN
    when there are fewer than two distinct values. NumPy only (the data layer sits below
    :mod:`etal.entropy`; this equals :func:`etal.entropy.data_resolution` of the sorted values)."""
    x = np.sort(np.asarray(values, dtype=float).ravel())
    x = x[np.isfinite(x)]
    gaps = np.diff(x)
    gaps = gaps[gaps > 0]
    return float(gaps.min()) if gaps.size else float("nan")


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
    def resolution(self) -> float:
        """Dataset-wide resolution of the labelled target (target units): the smallest
        positive gap between two distinct labelled values; NaN if all are equal. The
        bias report estimates every group with it, so a constant group gets a finite entropy."""
        return smallest_gap(self.frame[self.target_col].to_numpy(dtype=float))

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


def _assemble(
    main: pd.DataFrame,
    *,
    source: str,
    sha256: str,
    group_col: str | None,
    target_col: str | None,
    id_col: str | None,
    feature_cols: str | Sequence[str] | None,
    pool_path: str | os.PathLike | None = None,
) -> Dataset:
    """Validate ``main`` (+ the pool file at ``pool_path``) and wrap it, with its
    provenance, in a :class:`Dataset`."""
    pool, pool_source, pool_sha256 = _read_pool(pool_path)
    clean = validate_table(
        main, source=source, group_col=group_col, target_col=target_col, id_col=id_col,
        feature_cols=feature_cols, pool=pool, pool_source=pool_source,
    )  # fmt: skip
    clean.frame.attrs = {
        "etal": {
            "group": clean.group_col,
            "target": clean.target_col,
            "id": clean.id_col,
            "features": list(clean.feature_cols),
            "source": source,
            "sha256": sha256,
        }
    }
    return Dataset(
        frame=clean.frame,
        group_col=clean.group_col,
        target_col=clean.target_col,
        id_col=clean.id_col,
        feature_cols=list(clean.feature_cols),
        source=source,
        sha256=sha256,
        pool_source=pool_source,
        pool_sha256=pool_sha256,
    )


def _read_pool(pool_path: str | os.PathLike | None) -> tuple[pd.DataFrame | None, str | None, str | None]:
    if pool_path is None:
        return None, None, None
    from ..provenance import file_sha256

    path = Path(pool_path)
    frame = read_file(path)
    return frame, str(path), file_sha256(path)


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
    from ..provenance import frame_sha256

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
    from ..provenance import file_sha256

    path = Path(path)
    return _assemble(
        read_file(path), source=str(path), sha256=file_sha256(path), group_col=group_col,
        target_col=target_col, id_col=id_col, feature_cols=feature_cols, pool_path=pool_path,
    )  # fmt: skip


def _embedded_name(data: str) -> str | None:
    from ..datasets import list_datasets

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
    from ..datasets import dataset_info, load_dataset

    if isinstance(data, pd.DataFrame):
        defaults = data.attrs.get("etal", {}) if isinstance(data.attrs.get("etal"), dict) else {}
        group_col = group_col or defaults.get("group")
        target_col = target_col or defaults.get("target")
        if id_col is None and defaults.get("id") in data.columns:
            id_col = defaults.get("id")
        if feature_cols is None and defaults.get("features") is not None:
            feature_cols = [c for c in defaults["features"] if c not in (group_col, target_col, id_col)]
        from ..provenance import frame_sha256

        main, source, sha256 = data, "<DataFrame>", frame_sha256(data)
    else:
        name = "oqmd8" if data is None else (_embedded_name(data) if isinstance(data, str) else None)
        if name is None:
            return _load_path(data, group_col, target_col, id_col, feature_cols, pool_path)
        info = dataset_info(name)
        explicit = {group_col, target_col, id_col} - {None}
        group_col = group_col or info.group
        target_col = target_col or info.target
        id_col = id_col or info.id
        if feature_cols is None:
            feature_cols = [c for c in info.features if c not in explicit]
        main, source, sha256 = load_dataset(name), info.name, info.sha256
    return _assemble(
        main, source=source, sha256=sha256, group_col=group_col, target_col=target_col,
        id_col=id_col, feature_cols=feature_cols, pool_path=pool_path,
    )  # fmt: skip


def _load_path(data, group_col, target_col, id_col, feature_cols, pool_path) -> Dataset:
    """:func:`load_data` of something that is not a frame or an embedded name: a file."""
    from ..datasets import list_datasets

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
        role = "group" if not group_col else "target"
        raise InputError(
            f"{path}: no {role} column given; name it with {role}_col=. Available "
            f"columns: {', '.join(map(str, frame_columns))}.",
            param=f"{role}_col",
        )
    return load_table(
        path,
        group_col=group_col,
        target_col=target_col,
        id_col=id_col,
        feature_cols=feature_cols,
        pool_path=pool_path,
    )
