"""Write a trimming result: kept/removed rows, bias before and after, figure, manifest.

Files (all written atomically, :mod:`etal.provenance`):

* ``kept.csv`` - the kept rows, all their columns;
* ``removed.csv`` - the removed rows, all their columns, plus ``step``, ``order``,
  ``entropy_change`` (nats) and ``reason``;
* ``bias_before.csv`` / ``bias_after.csv`` - the bias report tables (per-group entropy,
  nats) of the labelled rows and of the kept rows;
* ``bias_comparison.csv`` - per group: n and entropy before and after;
* ``trim_history.csv`` - one row per greedy step (group, rows removed, D after);
* ``trim.json`` - the scores (``entropy_gap``, ``entropy_deficit``, lowest entropy,
  before and after), the settings and the per-group comparison;
* ``trim_entropy.png`` / ``.svg`` - each group's entropy before and after;
* ``manifest.json`` - command, arguments, seed, input hash and versions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..provenance import (
    atomic_write_json,
    atomic_write_text,
    to_jsonable,
    write_manifest,
)
from .api import TrimResult

__all__ = ["TRIM_FILES", "save_trim"]

#: Files :func:`save_trim` writes, in order.
TRIM_FILES: tuple[str, ...] = (
    "kept.csv", "removed.csv", "bias_before.csv", "bias_after.csv", "bias_comparison.csv",
    "trim_history.csv", "trim.json", "trim_entropy.png", "trim_entropy.svg", "manifest.json",
)  # fmt: skip


def save_trim(
    result: TrimResult,
    out_dir: str | os.PathLike,
    *,
    arguments: dict[str, Any] | None = None,
    command: str = "trim",
    seed: int | None = None,
) -> list[Path]:
    """Write ``result`` into ``out_dir`` (created if missing); return the paths written."""
    from ..plots import save_figure
    from ..plots.trim import plot_trim_entropy

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    frames = {
        "kept.csv": result.kept,
        "removed.csv": result.removed,
        "bias_before.csv": result.before.table,
        "bias_after.csv": result.after.table,
        "bias_comparison.csv": result.comparison,
        "trim_history.csv": result.history,
    }
    for name, frame in frames.items():
        written.append(atomic_write_text(out / name, frame.to_csv(index=False)))
    s = result.scores
    written.append(atomic_write_json(out / "trim.json", {
        "scores": s, "settings": result.settings,
        "groups": to_jsonable(result.comparison.to_dict(orient="records")),
    }))  # fmt: skip
    fig = plot_trim_entropy(result.comparison, (s["entropy_deficit_before"], s["entropy_deficit_after"]))
    written.extend(save_figure(fig, out, "trim_entropy"))
    inputs = {"data": result.dataset.sha256}
    written.append(write_manifest(
        out, command=command, arguments=arguments if arguments is not None else dict(result.settings),
        inputs=inputs, seed=seed, extra={"data_source": result.dataset.source, "scores": s},
    ))  # fmt: skip
    return written
