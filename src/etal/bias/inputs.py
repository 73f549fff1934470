"""The bias report's input: a validated Dataset, and its sorted target values per group.

A DataFrame (plus column names, or its ``attrs["etal"]`` defaults) is validated through
:func:`etal.data.load_data`, the one home of the data checks; a Dataset is trusted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["as_dataset", "group_values", "has_default"]


def is_dataset(obj: Any) -> bool:
    # Duck-typed: any object with the Dataset's attributes (no import of a concrete class).
    return not isinstance(obj, pd.DataFrame) and all(
        hasattr(obj, name) for name in ("frame", "group_col", "target_col", "labelled")
    )


def as_dataset(data: Any, group_col: str | None, target_col: str | None, what: str):
    """A validated Dataset: ``data`` itself (columns overridden if named), or a
    DataFrame validated through :func:`etal.data.load_data` (no features needed)."""
    from ..data import load_data

    if is_dataset(data):
        if group_col in (None, data.group_col) and target_col in (None, data.target_col):
            return data
        data = data.frame  # other columns of the same table: validate those
    if not isinstance(data, pd.DataFrame):
        raise InputError(
            f"the {what} must be a pandas DataFrame or an etal Dataset, got "
            f"{type(data).__name__}; load a file with etal.data.load_data(path) first"
        )
    return load_data(data, group_col=group_col, target_col=target_col, feature_cols=[])


def group_values(dataset) -> tuple[dict[str, np.ndarray], int]:
    """Sorted labelled target values per group (labels in sorted order), and their count."""
    labelled = dataset.labelled
    y = labelled[dataset.target_col].to_numpy(dtype=float)
    codes, labels = pd.factorize(labelled[dataset.group_col], sort=True)
    order = np.lexsort((y, codes))  # by group, then value: one sort on numbers for all groups
    y = y[order]
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    values = {str(lab): y[bounds[i] : bounds[i + 1]] for i, lab in enumerate(labels)}
    return values, int(len(y))


def has_default(data: Any, role: str) -> bool:
    if is_dataset(data):
        return getattr(data, f"{role}_col", None) is not None
    if isinstance(data, pd.DataFrame):
        return bool((data.attrs.get("etal") or {}).get(role))
    return False
