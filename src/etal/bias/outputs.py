"""Files and figures of a bias report: ``bias.csv``, ``bias.json`` and the two plots.

Writes atomically (:mod:`etal.provenance`); figures come from :mod:`etal.plots.bias`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

# `report` below is a BiasReport (bias.report imports this module, so no import back)

__all__ = ["plot_distributions", "plot_entropy", "save_report"]


def plot_distributions(report: Any):
    """Violin plot of the target per group (ordered as in the report's table)."""
    from ..plots.bias import plot_target_distributions

    ordered = {label: report.values.get(label, np.empty(0)) for label in report.table["group"]}
    entropy = dict(zip(report.table["group"], report.table["entropy"]))
    return plot_target_distributions(ordered, report.target, entropy_by_group=entropy)


def plot_entropy(report: Any):
    """Entropy per group with confidence intervals; the title shows ``entropy_gap``."""
    from ..plots.bias import plot_group_entropy

    s = report.scores
    return plot_group_entropy(
        report.table,
        entropy_gap=s.get("entropy_gap"),
        gap_ci=(s.get("entropy_gap_ci_low"), s.get("entropy_gap_ci_high")),
        confidence=s.get("confidence"),
        group_label=report.group,
        target_label=report.target,
    )


def save_report(report: Any, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``bias.csv``, ``bias.json``, ``target_distribution.{png,svg}`` and
    ``group_entropy.{png,svg}`` into ``out_dir``; return the written paths."""
    from ..plots import save_figure
    from ..provenance import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        atomic_write_text(out / "bias.csv", report.table.to_csv(index=False)),
        atomic_write_text(out / "bias.json", report.to_json() + "\n"),
    ]
    paths += save_figure(plot_distributions(report), out, "target_distribution")
    paths += save_figure(plot_entropy(report), out, "group_entropy")
    return paths
