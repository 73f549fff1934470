"""Comparison of a bias report's groups with a reference dataset (e.g. a full database).

Adds ``reference_n``, ``reference_entropy`` and ``entropy_deficit`` = reference − data
entropy per group (nats; positive = less diverse than the reference) to the report's
rows, and rows for groups only the reference has. The reference is estimated on its own
dataset-wide resolution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..entropy import estimate_entropy
from ..errors import InputError
from .inputs import as_dataset, group_values, has_default
from .scores import dataset_resolution

__all__ = ["compare_with_reference"]


def compare_with_reference(
    rows, values, notes, reference, reference_group_col, reference_target_col, group_col, target_col,
    *, method, window,
) -> dict[str, Any]:  # fmt: skip
    """Add the reference columns to ``rows`` (and rows for groups only the reference has)."""
    if reference_group_col is None and not has_default(reference, "group"):
        reference_group_col = group_col
    if reference_target_col is None and not has_default(reference, "target"):
        reference_target_col = target_col
    try:
        ref = as_dataset(reference, reference_group_col, reference_target_col, "reference")
    except InputError as exc:
        param = {"group_col": "reference_group_col", "target_col": "reference_target_col"}.get(exc.param, exc.param)
        raise InputError(
            f"{exc} (in the reference table; name its columns with reference_group_col= and "
            f"reference_target_col=)",
            param=param,
        ) from exc
    rvalues, rn = group_values(ref)
    rres = dataset_resolution(np.concatenate(list(rvalues.values())))
    restimates = {
        label: estimate_entropy(x, method=method, window=window, ties="floor", resolution=rres)
        for label, x in rvalues.items()
    }
    for row in rows:
        r = restimates.get(row["group"])
        row["reference_n"] = r.n if r else 0
        row["reference_entropy"] = r.entropy if r else np.nan
        row["entropy_deficit"] = (r.entropy - row["entropy"]) if r else np.nan
    absent = [label for label in rvalues if label not in values]
    for label in absent:
        r = restimates[label]
        rows.append(
            {
                "group": label, "n": 0, "entropy": np.nan, "ci_low": np.nan,
                "ci_high": np.nan, "status": "too_few", "ties": 0, "floored": 0,
                "method": None, "window": None, "target_min": np.nan,
                "target_median": np.nan, "target_max": np.nan,
                "reference_n": r.n, "reference_entropy": r.entropy,
                "entropy_deficit": np.nan,
            }
        )  # fmt: skip
    if absent:
        notes.append(
            f"group(s) present in the reference but with no labelled row here: "
            f"{', '.join(map(str, absent))}"
        )
    return {"source": str(ref.source), "group": ref.group_col, "target": ref.target_col, "n_labelled": rn}
