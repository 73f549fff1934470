"""A quality-benchmark result folder rendered as report sections and written as ``report.html``.

The folder holds the two tables whose schemas live in :mod:`etal.evaluation.quality`:
:data:`~etal.evaluation.quality.BENCHMARK_RUNS_CSV` (one row per dataset, split seed and
strategy: :data:`~etal.evaluation.quality.BENCHMARK_RUN_COLUMNS`) and
:data:`~etal.evaluation.quality.BENCHMARK_CURVES_CSV` (D after every acquisition:
:data:`~etal.evaluation.quality.BENCHMARK_CURVE_COLUMNS`). Per dataset the report shows a
table of the per-run metrics averaged over split seeds and a figure of D against
acquisitions (mean over seeds, band = 10th–90th percentile over seeds). Nothing is
recomputed beyond these means.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evaluation.quality import (
    BENCHMARK_CURVE_COLUMNS,
    BENCHMARK_CURVES_CSV,
    BENCHMARK_RUN_COLUMNS,
    BENCHMARK_RUNS_CSV,
    BOUND_STRATEGY,
)
from .html import ReportSection, build_report

__all__ = [
    "BENCHMARK_TABLE_COLUMNS",
    "benchmark_sections",
    "benchmark_table",
    "read_benchmark_result",
    "write_benchmark_report",
]

#: Columns of :func:`benchmark_table` (one row per strategy of a dataset), in order.
BENCHMARK_TABLE_COLUMNS: tuple[str, ...] = (
    "strategy", "n_seeds", "final_D", "final_D_sd", "auc_D", "picks_to_random_median", "never_reached_random",
    "share_of_bound",
)  # fmt: skip
_NUMERIC = {
    BENCHMARK_RUNS_CSV: (
        "split_seed",
        "final_D",
        "auc_D",
        "picks_to_random",
        "share_of_bound",
    ),
    BENCHMARK_CURVES_CSV: ("split_seed", "acquisition", "entropy_deficit"),
}


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(
            f"{path} does not exist; a benchmark result folder holds {BENCHMARK_RUNS_CSV} and {BENCHMARK_CURVES_CSV} "
            "(etal.evaluation.quality schemas)"
        )
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path} has no column(s) {missing}; expected {list(columns)} (etal.evaluation.quality), "
            f"found {list(frame.columns)}"
        )
    for col in _NUMERIC[path.name]:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            bad = pd.to_numeric(frame[col], errors="coerce").isna() & frame[col].notna()
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2 if bad.any() else "?"
            raise InputError(
                f"{path}: column {col!r} is not numeric (first bad value on line {row}); fix or rerun"
            )
    frame["dataset"] = frame["dataset"].astype(str)
    frame["strategy"] = frame["strategy"].astype(str)
    return frame


def read_benchmark_result(
    folder: str | os.PathLike,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-run metrics and the D curves of a benchmark result folder, checked.

    Raises :class:`~etal.errors.InputError` naming the file when one is missing, unreadable,
    lacks a schema column or has a non-numeric value where a number belongs, and when a
    (dataset, split seed, strategy[, acquisition]) appears twice.
    """
    folder = Path(folder)
    runs = _read(folder / BENCHMARK_RUNS_CSV, BENCHMARK_RUN_COLUMNS)
    curves = _read(folder / BENCHMARK_CURVES_CSV, BENCHMARK_CURVE_COLUMNS)
    for name, frame, keys in (
        (BENCHMARK_RUNS_CSV, runs, ["dataset", "split_seed", "strategy"]),
        (
            BENCHMARK_CURVES_CSV,
            curves,
            ["dataset", "split_seed", "strategy", "acquisition"],
        ),
    ):
        dup = frame.duplicated(keys, keep=False)
        if dup.any():
            lines = ", ".join(str(i + 2) for i in np.flatnonzero(dup.to_numpy())[:5])
            raise InputError(
                f"{folder / name}: several rows for the same {tuple(keys)} (lines {lines}); write each run once"
            )
    return runs, curves


def benchmark_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One dataset's runs as one row per strategy (:data:`BENCHMARK_TABLE_COLUMNS`), best area first.

    Means over split seeds of ``final_D`` (with its standard deviation across seeds,
    ddof=1), ``auc_D`` and ``share_of_bound`` (over the seeds where it is finite);
    ``picks_to_random_median`` over the seeds that reached random's final D and
    ``never_reached_random`` counting the others. Rows are sorted by ``auc_D`` (the
    clairvoyant bound, which sees labels, is listed last whatever its area).
    """
    rows = []
    for strategy, block in runs.groupby("strategy", sort=False):
        picks = block["picks_to_random"].to_numpy(dtype=float)
        reached = picks[np.isfinite(picks)]
        share = block["share_of_bound"].to_numpy(dtype=float)
        share = share[np.isfinite(share)]
        rows.append(
            {
                "strategy": strategy,
                "n_seeds": int(block["split_seed"].nunique()),
                "final_D": float(block["final_D"].mean()),
                "final_D_sd": float(block["final_D"].std(ddof=1))
                if len(block) > 1
                else np.nan,
                "auc_D": float(block["auc_D"].mean()),
                "picks_to_random_median": float(np.median(reached))
                if reached.size
                else np.nan,
                "never_reached_random": int(picks.size - reached.size),
                "share_of_bound": float(share.mean()) if share.size else np.nan,
            }
        )
    table = pd.DataFrame(rows, columns=list(BENCHMARK_TABLE_COLUMNS))
    order = table.assign(_bound=table["strategy"] == BOUND_STRATEGY).sort_values(
        ["_bound", "auc_D"], kind="stable"
    )
    return order.drop(columns="_bound").reset_index(drop=True)


def _stem(dataset: str) -> str:
    return "benchmark_D_" + (
        re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset).strip("-") or "dataset"
    )


def benchmark_sections(
    folder: str | os.PathLike, figure_dir: str | os.PathLike | None = None
) -> list[ReportSection]:
    """One report section per dataset of a benchmark result folder: the table and the D figure.

    Figures are written (PNG + SVG) to ``figure_dir`` (default: ``folder/figures``) as
    ``benchmark_D_<dataset>``. Datasets appear in the order of the per-run table.
    """
    from ..plots import save_figure
    from ..plots.experiment import plot_deficit_trajectories

    folder = Path(folder)
    runs, curves = read_benchmark_result(folder)
    fig_dir = Path(figure_dir) if figure_dir is not None else folder / "figures"
    sections = []
    for dataset in dict.fromkeys([*runs["dataset"], *curves["dataset"]]):
        block = runs[runs["dataset"] == dataset]
        lines = curves[curves["dataset"] == dataset]
        figures = []
        if len(lines):
            fig = plot_deficit_trajectories(
                lines,
                seed="split_seed",
                x="acquisition",
                title=f"{dataset}: mean entropy deficit D vs acquisitions",
            )
            figures.append(save_figure(fig, fig_dir, _stem(str(dataset)))[0])
        n = (
            int(block["split_seed"].nunique())
            if len(block)
            else int(lines["split_seed"].nunique())
        )
        budget = int(lines["acquisition"].max()) if len(lines) else None
        text = (
            f"{n} split seed(s)"
            + (f", {budget} acquisitions per run" if budget is not None else "")
            + ". "
            "final_D: mean entropy deficit after the budget (nats; lower = fairer), mean over split seeds with its "
            "standard deviation; auc_D: area under the D curve (nats x acquisitions; smaller = less bias over the "
            "whole run); picks_to_random_median: acquisitions needed to reach random's final D on the same split "
            "(median over the seeds that reached it; never_reached_random counts the others); share_of_bound: "
            f"share of the D-reduction of the clairvoyant bound ({BOUND_STRATEGY!r}, which sees the labels and is a "
            "reference, not a strategy). Rows sorted by auc_D."
        )
        tables = (
            [
                (
                    f"{dataset}: per strategy, means over split seeds",
                    benchmark_table(block),
                )
            ]
            if len(block)
            else []
        )
        if not len(block):
            text += f" No per-run metrics for this dataset in {BENCHMARK_RUNS_CSV}."
        sections.append(
            ReportSection(
                f"Quality benchmark: {dataset}",
                text=text,
                figures=figures,
                tables=tables,
            )
        )
    if not sections:
        sections.append(
            ReportSection("Quality benchmark", text=f"{folder} holds no runs.")
        )
    return sections


def write_benchmark_report(
    folder: str | os.PathLike, *, title: str = "etal quality benchmark"
) -> Path:
    """Render a benchmark result folder as ``folder/report.html`` (figures in ``folder/figures``)."""
    folder = Path(folder)
    sections = benchmark_sections(folder)
    runs, _ = read_benchmark_result(folder)
    facts = {
        "datasets": ", ".join(dict.fromkeys(runs["dataset"])),
        "strategies": ", ".join(dict.fromkeys(runs["strategy"])),
        "runs": len(runs),
        "tables": f"{BENCHMARK_RUNS_CSV}, {BENCHMARK_CURVES_CSV}",
    }
    return build_report(folder, title=title, summary=facts, sections=sections)
