"""Quality benchmark of acquisition strategies (issue 10): D against acquisitions.

Runs every strategy (the registry's, :data:`etal.strategies.STRATEGIES`, plus the
clairvoyant bound ``oracle``, which sees labels) on biased splits of several datasets
(:mod:`etal.benchmark.runner`) and writes into ``--out``:

* ``quality_runs.csv`` / ``quality_curves.csv`` — the schemas of
  :mod:`etal.evaluation.quality` (``BENCHMARK_RUN_COLUMNS`` from ``run_metrics``,
  ``BENCHMARK_CURVE_COLUMNS``);
* ``report.html`` — the benchmark section (:func:`etal.report.write_benchmark_report`);
* ``curves.csv.gz`` (D, entropy_gap, lowest entropy after every acquisition and loop seed),
  ``per_split.csv``, ``summary.csv`` / ``summary.md`` / ``summary.json`` (share of the
  clairvoyant bound, picks to reach random's D, area under D, splits won, ms per pick,
  wall time and load), ``manifest.json`` and one figure per dataset (``D_<dataset>.png``).

    PYTHONPATH=src python benchmarks/quality.py --datasets oqmd8 --seeds 0-4 --budget 150 \
        --out benchmarks/results/quality-oqmd8
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from pathlib import Path

import pandas as pd


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def figure(curves: pd.DataFrame, dataset: str, out: Path) -> list[Path]:
    """Left: D against acquisitions, mean over split seeds with a min-max band. Right: D minus
    random's D on the same split (random averaged over its loop seeds), mean and min-max band."""
    import matplotlib.pyplot as plt

    from etal.plots import save_figure

    part = curves[curves.dataset == dataset]
    per_split = part.groupby(["strategy", "split_seed", "acquisitions"]).entropy_deficit.mean()
    rnd = per_split.xs("random", level="strategy") if "random" in per_split.index.get_level_values(0) else None
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    colours = plt.get_cmap("tab20").colors
    for k, st in enumerate(per_split.index.get_level_values(0).unique()):
        s = per_split.xs(st, level="strategy")
        style = {"ls": "--", "color": "k"} if st == "oracle" else {"color": colours[(2 * k) % 20 if k < 10 else (2 * k + 1) % 20]}
        label = st + (" (sees labels)" if st == "oracle" else "")
        for ax, data in ((axes[0], s), (axes[1], None if rnd is None else s - rnd)):
            if data is None:
                continue
            stats = data.groupby(level="acquisitions").agg(["mean", "min", "max"])
            ax.plot(stats.index, stats["mean"], label=label, lw=1.4, **style)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=style["color"], alpha=0.08, lw=0)
    n = part.split_seed.nunique()
    axes[0].set_ylabel("mean entropy deficit D (nats)")
    axes[0].set_title(f"{dataset}: D, mean and min-max over {n} split seeds")
    axes[1].set_ylabel("D minus random's D on the same split (nats)")
    axes[1].set_title("advantage over random (below 0 = fairer), min-max band")
    axes[1].axhline(0, color="grey", lw=0.8)
    for ax in axes:
        ax.set_xlabel("acquisitions")
    axes[0].legend(fontsize=7, ncol=2)
    return save_figure(fig, out, f"D_{dataset}")


def markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (share in %, picks, area, splits won, ms per pick)."""
    cols = {
        "dataset": "dataset", "strategy": "strategy", "share_mean": "share of bound (mean)",
        "share_min": "share (worst split)", "picks_to_random_median": "picks to random's final D (median)",
        "never_reached": "splits never reaching it", "auc_mean": "area under D (mean)",
        "best_auc_splits": "splits with lowest area", "ms_per_pick": "ms/pick",
    }  # fmt: skip
    t = summary[list(cols)].rename(columns=cols).copy()
    for c in ("share of bound (mean)", "share (worst split)"):
        t[c] = (100 * t[c]).map(lambda v: f"{v:.0f} %")
    return t.to_markdown(index=False, floatfmt=".1f") + "\n"


def main(argv: list[str] | None = None) -> int:
    from etal.benchmark.runner import (
        BENCHMARK_STRATEGIES,
        DATASETS,
        curves_frame,
        per_split_table,
        quality_tables,
        run_grid,
        summary_table,
    )
    from etal.evaluation.quality import BENCHMARK_CURVES_CSV, BENCHMARK_RUNS_CSV
    from etal.provenance import (
        atomic_write_bytes,
        atomic_write_json,
        atomic_write_text,
        write_manifest,
    )
    from etal.cli.scale_flags import add_scheduler_argument, client_from_args
    from etal.report import write_benchmark_report

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="oqmd8", help=f"comma list of {', '.join(DATASETS)}")
    p.add_argument("--seeds", default="0-4", help="split seeds, e.g. 0-4 or 5,6,7")
    p.add_argument("--budget", type=int, default=150)
    p.add_argument("--strategies", default=",".join(BENCHMARK_STRATEGIES),
                   help="comma list (default: every registry strategy and the clairvoyant 'oracle')")
    p.add_argument("--random-repeats", type=int, default=3, help="loop seeds of random per split")
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/quality"))
    p.add_argument("--no-progress", action="store_true")
    add_scheduler_argument(p)  # --scheduler ADDRESS|local:N: every run a Dask task
    p.add_argument("--replot", type=Path, metavar="DIR", help="only redraw the figures from DIR/curves.csv.gz")
    args = p.parse_args(argv)
    if args.replot is not None:
        curves = pd.read_csv(args.replot / "curves.csv.gz")
        for d in curves.dataset.unique():
            figure(curves, d, args.replot)
        return 0
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    seeds = _seeds(args.seeds)
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    with client_from_args(args) as client:
        records = run_grid(datasets, seeds, strategies, args.budget, args.random_repeats, args.n_jobs,
                           progress=not args.no_progress, client=client)
    wall = time.perf_counter() - t0
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    curves = curves_frame(records)
    per_split = per_split_table(records)
    summary = summary_table(per_split)
    atomic_write_bytes(out / "curves.csv.gz", gzip.compress(curves.to_csv(index=False).encode(), mtime=0))
    runs, quality_curves = quality_tables(records)
    atomic_write_text(out / BENCHMARK_RUNS_CSV, runs.to_csv(index=False))
    atomic_write_text(out / BENCHMARK_CURVES_CSV, quality_curves.to_csv(index=False))
    atomic_write_text(out / "per_split.csv", per_split.to_csv(index=False))
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(out / "summary.md", markdown(summary))
    atomic_write_json(out / "summary.json", {"summary": summary.to_dict(orient="records"),
                                             "wall_seconds": wall, "load_before": load0,
                                             "load_after": os.getloadavg()})
    for d in datasets:
        figure(curves, d, out)
    write_manifest(out, command="benchmarks/quality.py", arguments={k: str(v) for k, v in vars(args).items()},
                   seed=None, extra={"wall_seconds": wall, "load_before": load0, "load_after": os.getloadavg()})
    report = write_benchmark_report(out)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.round(3).to_string(index=False))
    print(f"wall {wall:.1f} s; load before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}; report: {report}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
