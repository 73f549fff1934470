"""Benchmark of trimming: 1,000,000 rows to 10 % (target: <= 60 s and <= 4 GiB on 2 cores).

Usage::

    python benchmarks/bench_trim.py [--rows 1000000] [--keep 0.1] [--groups 5]
                                    [--coverage W] [--json PATH]

The table is :func:`etal.datasets.synthetic` (8 features, Zipf-sized groups). Times the
whole ``etal.trim(...)`` call (validation, the greedy, the before/after bias reports),
and prints the greedy's share, the number of greedy steps, D before/after (nats), the
peak resident memory of the process (``ru_maxrss``) and the load average (the machine
is shared: compare figures taken at similar load). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=float, default=0.1)
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--coverage", type=float, default=0.0, help="coverage weight (default 0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    import etal
    from etal.trimming import greedy

    frame = etal.synthetic(args.rows, groups=args.groups, seed=args.seed)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    spent = {"greedy": 0.0}
    original = greedy.greedy_trim

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            spent["greedy"] += time.perf_counter() - t

    from etal.trimming import api

    api.greedy_trim = timed
    t0, c0 = time.perf_counter(), time.process_time()
    result = etal.trim(frame, args.keep, coverage_weight=args.coverage, progress=sys.stderr.isatty())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    api.greedy_trim = original
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = result.scores
    figures = {
        "rows": args.rows, "keep": args.keep, "groups": args.groups, "coverage_weight": args.coverage,
        "kept": s["n_after"], "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "greedy_s": round(spent["greedy"], 2), "steps": len(result.history),
        "deficit_before": s["entropy_deficit_before"], "deficit_after": s["entropy_deficit_after"],
        "gap_before": s["entropy_gap_before"], "gap_after": s["entropy_gap_after"],
        "peak_rss_mb": round(peak, 1), "rss_after_data_mb": round(rss_data, 1),
        "load_average": os.getloadavg(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__,
    }  # fmt: skip
    print(f"etal.trim: {args.rows:,} rows -> {s['n_after']:,} ({args.keep:g}), {args.groups} groups, "
          f"coverage weight {args.coverage:g}")
    print(f"  wall {wall:.1f} s (greedy {spent['greedy']:.1f} s, {len(result.history)} steps), cpu {cpu:.1f} s "
          f"[limit 60 s: {'PASS' if wall <= 60 else 'FAIL'}]")
    print(f"  peak RSS {peak:,.0f} MB (after building the table: {rss_data:,.0f} MB) "
          f"[limit 4096 MB: {'PASS' if peak <= 4096 else 'FAIL'}]")
    print(f"  D {s['entropy_deficit_before']:.4f} -> {s['entropy_deficit_after']:.4f} nats; "
          f"gap {s['entropy_gap_before']:.4f} -> {s['entropy_gap_after']:.4f} nats")
    print(f"  load average {figures['load_average']}, {figures['cpus']} cpus")
    if args.json:
        from etal.provenance import atomic_write_json

        atomic_write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
