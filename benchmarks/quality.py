"""Quality benchmark of acquisition strategies (issue 10): D against acquisitions.

Runs every strategy on biased splits of several datasets (:mod:`etal.benchmark.runner`),
writes ``curves.csv`` (D, entropy_gap, lowest entropy after every acquisition),
``per_split.csv``, ``summary.csv`` / ``summary.json`` (share of the clairvoyant bound,
picks to reach random's D, area under the D curve, splits won), ``manifest.json`` and one
figure per dataset (``D_<dataset>.png``: mean D over split seeds with a min-max band).

    PYTHONPATH=src python benchmarks/quality.py --datasets oqmd8 --seeds 0-4 --budget 150 \
        --out benchmarks/results/quality-oqmd8
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_STRATEGIES = (
    "oracle", "random", "balanced", "uncertainty", "etal", "etal-paper",
    "gain", "pooled-uncertainty", "pooled-etal", "pooled-gain", "pooled-gain-ucb",
)  # fmt: skip


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
    """D against acquisitions: mean over split seeds (random: also over loop seeds), min-max band."""
    import matplotlib.pyplot as plt

    from etal.plots import save_figure

    part = curves[curves.dataset == dataset]
    per_split = part.groupby(["strategy", "split_seed", "acquisitions"]).entropy_deficit.mean().reset_index()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for st, s in per_split.groupby("strategy", sort=False):
        stats = s.groupby("acquisitions").entropy_deficit.agg(["mean", "min", "max"])
        style = dict(ls="--", color="k") if st == "oracle" else {}
        line, = ax.plot(stats.index, stats["mean"], label=st + (" (sees labels)" if st == "oracle" else ""), lw=1.4, **style)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.12, lw=0)
    n = part.split_seed.nunique()
    ax.set_xlabel("acquisitions")
    ax.set_ylabel("mean entropy deficit D (nats)")
    ax.set_title(f"{dataset}: D vs acquisitions, mean and min-max over {n} split seeds")
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, out, f"D_{dataset}")


def main(argv: list[str] | None = None) -> int:
    from etal.benchmark.runner import DATASETS, curves_frame, per_split_table, run_grid, summary_table
    from etal.provenance import atomic_write_json, atomic_write_text, write_manifest

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="oqmd8", help=f"comma list of {', '.join(DATASETS)}")
    p.add_argument("--seeds", default="0-4", help="split seeds, e.g. 0-4 or 5,6,7")
    p.add_argument("--budget", type=int, default=150)
    p.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES))
    p.add_argument("--random-repeats", type=int, default=3, help="loop seeds of random per split")
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/quality"))
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    seeds = _seeds(args.seeds)
    t0 = time.perf_counter()
    load0 = os.getloadavg()
    records = run_grid(datasets, seeds, strategies, args.budget, args.random_repeats, args.n_jobs,
                       progress=not args.no_progress)
    wall = time.perf_counter() - t0
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    curves = curves_frame(records)
    per_split = per_split_table(records)
    summary = summary_table(per_split)
    atomic_write_text(out / "curves.csv", curves.to_csv(index=False))
    atomic_write_text(out / "per_split.csv", per_split.to_csv(index=False))
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    atomic_write_json(out / "summary.json", {"summary": summary.to_dict(orient="records"),
                                             "wall_seconds": wall, "load_before": load0,
                                             "load_after": os.getloadavg()})
    for d in datasets:
        figure(curves, d, out)
    write_manifest(out, command="benchmarks/quality.py", arguments={k: str(v) for k, v in vars(args).items()},
                   seed=None, extra={"wall_seconds": wall, "load_before": load0, "load_after": os.getloadavg()})
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.round(3).to_string(index=False))
    print(f"wall {wall:.1f} s; load before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
