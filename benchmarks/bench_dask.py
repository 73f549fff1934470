"""Benchmark of the Dask scale-out (issue 13): a giant Parquet pool and an experiment grid.

Usage::

    python benchmarks/bench_dask.py [--quick] [--json PATH]
        [--candidates 10000000] [--partitions 32] [--labelled 200] [--features 4]
        [--workers 2] [--memory-limit 2GiB] [--runs 40] [--budget 10]
        [--no-pool] [--no-grid] [--check]

(a) Pool: a Parquet folder of ``--candidates`` candidates of one group (``--partitions``
    files, written here partition by partition), a GP fitted on ``--labelled`` rows, and
    one pick (:func:`etal.scale.pool.score_partitions`) on a LocalCluster of
    ``--workers`` worker processes (1 thread each, ``--memory-limit`` each: Dask pauses
    or restarts a worker that exceeds it). Printed: the seconds of the pick, split into
    the stages, and each worker's peak resident memory (``ru_maxrss`` of the worker
    process: since its start, so the whole benchmark). ``--check`` also makes the pick
    without a scheduler (partition by partition here) and compares.
(b) Grid: ``--runs`` experiment runs (strategies etal, random, balanced, uncertainty x
    split seeds, OQMD-8, pool of 150, budget ``--budget``) through
    :func:`etal.scale.grid.run_tasks` on 1 and on 2 worker processes: wall time of each
    and whether both gave the same results.

The machine is shared: the load average is printed next to the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# --------------------------------------------------------------------------- (a) pool


def _truth(x: np.ndarray) -> np.ndarray:
    return np.sin(1.3 * x[:, 0]) + 0.4 * x[:, 1] - 0.2 * x[:, -1] ** 2


def write_pool(folder: Path, n: int, parts: int, d: int, seed: int) -> float:
    """One Parquet file per partition, generated partition by partition (bounded memory)."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sizes = np.full(parts, n // parts)
    sizes[: n % parts] += 1
    start = 0
    for i, size in enumerate(sizes):
        rng = np.random.default_rng([seed, i])
        frame = pd.DataFrame(rng.normal(size=(size, d)) * 1.5, columns=[f"x{j}" for j in range(d)])
        frame.insert(0, "group", "target")
        frame.insert(0, "id", np.arange(start, start + size, dtype=np.int64))
        frame.to_parquet(folder / f"part-{i:05d}.parquet", index=False)
        start += size
    return time.perf_counter() - started


def bench_pool(args) -> dict:
    from threadpoolctl import threadpool_limits

    from etal import GPSurrogate
    from etal.scale.cluster import connect
    from etal.scale.pool import score_partitions

    tmp = Path(tempfile.mkdtemp(prefix="etal-bench-dask-"))
    try:
        folder = tmp / "pool"
        seconds_write = write_pool(folder, args.candidates, args.partitions, args.features, seed=1)
        size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(f"pool: {args.candidates:,} candidates in {args.partitions} Parquet files ({size_mb:.0f} MB), "
              f"written in {seconds_write:.1f} s")
        rng = np.random.default_rng(0)
        X = rng.normal(size=(args.labelled, args.features))
        y = _truth(X) + 0.05 * rng.normal(size=args.labelled)
        with threadpool_limits(1):
            model = GPSurrogate().fit(X, y)
        features = [f"x{j}" for j in range(args.features)]
        kwargs = dict(surrogate=model, values=y, group="target", group_col="group", id_col="id",
                      feature_cols=features)
        stage_times: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if done == total:
                stage_times[stage] = time.perf_counter() - t0

        client = connect(f"local:{args.workers}", memory_limit=args.memory_limit)
        try:
            client.run(lambda: None)  # workers up
            t0 = time.perf_counter()
            pick = score_partitions(folder, client=client, progress=progress, **kwargs)
            seconds = time.perf_counter() - t0
            peaks = client.run(_peak_rss_mb)
            load = _load()
        finally:
            client.close()
        print(f"one pick on {args.workers} workers: {seconds:.1f} s (load {load}); stages done at "
              + ", ".join(f"{k} {v:.1f} s" for k, v in stage_times.items()))
        print(f"  pick id {pick.id} (file {Path(pick.file).name}, row {pick.row}), EI {pick.ei:.6g} nats, "
              f"approximate screening: {pick.approximate}")
        for i, (worker, mb) in enumerate(sorted(peaks.items())):
            print(f"  worker {i} ({worker}): peak RSS {mb:.0f} MB "
                  f"({'within' if mb <= 2048 else 'ABOVE'} 2 GiB)")
        result = {"candidates": args.candidates, "partitions": args.partitions, "labelled": args.labelled,
                  "features": args.features, "workers": args.workers, "seconds_pick": seconds,
                  "stage_done_at": stage_times, "worker_peak_rss_mb": sorted(peaks.values()),
                  "pick_id": int(pick.id), "approximate": pick.approximate, "load": load,
                  "seconds_write": seconds_write, "pool_mb": size_mb}
        if args.check:
            t0 = time.perf_counter()
            with threadpool_limits(1):
                local = score_partitions(folder, **kwargs)
            local_s = time.perf_counter() - t0
            same = local.id == pick.id and local.ei == pick.ei
            print(f"  without a scheduler (partition by partition here): {local_s:.1f} s, peak RSS "
                  f"{_peak_rss_mb():.0f} MB, same pick: {same}")
            result.update(seconds_local=local_s, same_pick_local=bool(same), local_peak_rss_mb=_peak_rss_mb())
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- (b) grid


def grid_tasks(n_runs: int, budget: int):
    from etal.data import load_data
    from etal.experiment import ExperimentConfig, RunConfig, SplitConfig, plan_runs
    from etal.split import biased_split

    strategies = ["etal", "random", "balanced", "uncertainty"]
    n_splits = -(-n_runs // len(strategies))
    config = ExperimentConfig(
        split=SplitConfig(pool_size=150, seeds=list(range(n_splits))),
        run=RunConfig(strategies=strategies, budget=budget, n_jobs=1),
    ).validate()
    ds = load_data("oqmd8")  # as run_experiment loads it: the dataset's own feature columns
    splits = {s: biased_split(ds, pool_size=150, seed=s) for s in range(n_splits)}
    specs = plan_runs(config, splits, ds.group_col)[:n_runs]
    columns = {"group_col": ds.group_col, "target_col": ds.target_col, "id_col": ds.id_col,
               "feature_cols": list(ds.feature_cols)}
    tasks = [(sp, splits[sp.split_seed].labelled, splits[sp.split_seed].pool, columns, config.run) for sp in specs]
    labels = [f"{sp.strategy}-split{sp.split_seed}" for sp in specs]
    return tasks, labels


def bench_grid(args) -> dict:
    from etal.experiment import execute_run
    from etal.scale.cluster import connect
    from etal.scale.grid import run_tasks

    tasks, labels = grid_tasks(args.runs, args.budget)
    print(f"grid: {len(tasks)} experiment runs (budget {args.budget} each)")
    out: dict = {"runs": len(tasks), "budget": args.budget}
    selected = {}
    for workers in (1, 2):
        client = connect(f"local:{workers}")
        try:
            client.run(lambda: None)
            t0 = time.perf_counter()
            results = run_tasks(execute_run, tasks, client=client, labels=labels)
            seconds = time.perf_counter() - t0
        finally:
            client.close()
        selected[workers] = [r.result.selected for r in results]
        load = _load()
        print(f"  {workers} worker(s): {seconds:.1f} s wall (load {load})")
        out[f"seconds_{workers}_workers"] = seconds
        out[f"load_{workers}_workers"] = load
    out["same_results"] = selected[1] == selected[2]
    print(f"  speed-up {out['seconds_1_workers'] / out['seconds_2_workers']:.2f}x; same acquisitions on 1 and 2 "
          f"workers: {out['same_results']}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000,000 candidates, 40 runs of budget 4")
    parser.add_argument("--candidates", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--labelled", type=int, default=200)
    parser.add_argument("--features", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GiB")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--budget", type=int, default=10)
    parser.add_argument("--no-pool", action="store_true")
    parser.add_argument("--no-grid", action="store_true")
    parser.add_argument("--check", action="store_true", help="also pick without a scheduler and compare")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    if args.quick:
        args.candidates, args.budget = min(args.candidates, 1_000_000), min(args.budget, 4)
    import etal

    print(f"etal {etal.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, load {_load()}")
    report: dict = {"load_start": _load()}
    if not args.no_pool:
        report["pool"] = bench_pool(args)
    if not args.no_grid:
        report["grid"] = bench_grid(args)
    if args.json:
        from etal.provenance import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":  # worker processes re-import this file: keep the guard
    sys.exit(main())
