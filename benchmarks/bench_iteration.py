"""Benchmark of ONE ET-AL iteration through the real code path, from small to huge groups.

Usage::

    python benchmarks/bench_iteration.py [--quick] [--json PATH]
        [--labelled 100 1000 10000 100000] [--candidates 1000 10000 100000 1000000]
        [--max-labelled N] [--iterations K] [--threads N] [--timeout S]
        [--case LABELLED CANDIDATES]... [--profile PATH]

What is timed: ``ETAL.suggest()`` + ``ETAL.tell()`` of ``etal.engine.ETAL`` with the default
strategy (``"etal"``: lowest-entropy group, GP posterior, quadrature expected entropy,
EI, pick) and the default surrogate (``etal.surrogate.GPSurrogate()``), i.e. the target
group's GP fit (cold in iteration 1, warm refit with one more row after that), its
posterior for all of the group's pool rows, the expected entropy and EI of every
candidate, the pick, and the bookkeeping of the acquisition.

Data (``etal.datasets.synthetic``, 8 features): a target group with ``LABELLED`` labelled
rows and ``CANDIDATES`` pool rows, and a second group ("wide", 200 labelled + 20 pool
rows, targets x10) whose entropy is higher, so every iteration targets the big group.

Every case runs in its own subprocess, so the memory figures do not pollute each other:
``rss_mb`` is the resident set before the iteration (data, loop state), ``peak_rss_mb``
the peak during it (``VmHWM`` after resetting it through ``/proc/self/clear_refs``; where
that is not allowed, ``ru_maxrss``), ``delta`` their difference. Seconds are wall-clock
(the machine is shared: the load average is printed with every case).

``--max-labelled`` skips the long 100,000-row cases; ``--case L C`` (repeatable) adds
cases (alone, it runs only those). ``--case L C --profile out.prof`` profiles one case
in this process (cProfile of iteration 2 when ``--iterations`` >= 2, else 1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

#: Targets of the performance issue (docs/performance.md): seconds per iteration.
TARGETS = {
    "1e6 candidates x 2,000 labelled": {"labelled": 2000, "candidates": 1_000_000, "seconds": 10.0, "peak_mb": 2048.0},
    "50,000 labelled x 1e5 candidates": {"labelled": 50_000, "candidates": 100_000, "seconds": 30.0, "peak_mb": None},
}
N_FEATURES = 8
WIDE_LABELLED, WIDE_POOL = 200, 20


# --------------------------------------------------------------------------- one case


def build_case(n_labelled: int, n_candidates: int, seed: int = 0):
    """(labelled frame, pool frame without target, pool labels by id position, feature names)."""
    import pandas as pd

    from etal.datasets import synthetic

    target = synthetic(n_labelled + n_candidates, groups=1, n_features=N_FEATURES, spread_skew=0.0, seed=seed)
    target["group"] = "target"
    wide = synthetic(WIDE_LABELLED + WIDE_POOL, groups=1, n_features=N_FEATURES, spread_skew=0.0, seed=seed + 1)
    wide["group"] = "wide"
    wide["target"] = 10.0 * wide["target"]
    wide["id"] += n_labelled + n_candidates
    labelled = pd.concat([target.iloc[:n_labelled], wide.iloc[:WIDE_LABELLED]], ignore_index=True)
    pool = pd.concat([target.iloc[n_labelled:], wide.iloc[WIDE_LABELLED:]], ignore_index=True)
    labels = np.empty(n_labelled + n_candidates + WIDE_LABELLED + WIDE_POOL)
    labels[pool["id"].to_numpy()] = pool["target"].to_numpy()
    features = [f"f{j}" for j in range(N_FEATURES)]
    return labelled, pool.drop(columns="target"), labels, features


def _status_mb(field: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.M)
    return int(match.group(1)) / 1024 if match else None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False if not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _instrument(loop) -> list[dict]:
    """Record the wall time of every fit / predict of the loop's surrogates."""
    calls: list[dict] = []
    new_surrogate = loop._new_surrogate

    def instrumented():
        surrogate = new_surrogate()
        fit, predict = surrogate.fit, surrogate.predict

        def timed_fit(X, y):
            t0 = time.perf_counter()
            result = fit(X, y)
            calls.append({"call": "fit", "seconds": time.perf_counter() - t0, "rows": len(X)})
            return result

        def timed_predict(X, **options):
            t0 = time.perf_counter()
            result = predict(X, **options)
            info = getattr(surrogate, "predict_info_", {}) or {}
            calls.append({"call": "predict", "seconds": time.perf_counter() - t0, "rows": len(X),
                          "approximate": bool(info.get("approximate"))})
            return result

        surrogate.fit, surrogate.predict = timed_fit, timed_predict
        return surrogate

    loop._new_surrogate = instrumented
    return calls


def run_case(n_labelled: int, n_candidates: int, iterations: int, profile: str | None = None) -> dict:
    """Build the case, start the loop, time ``iterations`` iterations (in this process)."""
    from etal.engine import ETAL

    t0 = time.perf_counter()
    labelled, pool, labels, features = build_case(n_labelled, n_candidates)
    data_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = ETAL(group_col="group", target_col="target", feature_cols=features, progress=False, seed=0)
    calls = _instrument(loop)
    loop.start(labelled, pool)
    start_s = time.perf_counter() - t0
    del labelled, pool
    out: dict[str, Any] = {
        "labelled": n_labelled, "candidates": n_candidates, "data_s": data_s, "start_s": start_s,
        "iterations": [],
    }
    for i in range(iterations):
        calls.clear()
        profiler = None
        if profile and i == min(iterations, 2) - 1:
            import cProfile

            profiler = cProfile.Profile()
        rss_before = _status_mb("VmRSS") or 0.0
        hwm_ok = _reset_peak()
        maxrss_before = _maxrss_mb()
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        ids = loop.suggest()
        loop.tell(ids, labels[np.asarray(ids, dtype=np.int64)])
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - t0
        peak = _status_mb("VmHWM") if hwm_ok else None
        if peak is None:
            peak = max(_maxrss_mb(), rss_before)
        surrogate = loop._groups["target"].surrogate  # the benchmark may look inside
        last = loop.history.iloc[-1]
        fit = getattr(surrogate, "fit_info_", {}) or {}
        fit_s = sum(c["seconds"] for c in calls if c["call"] == "fit")
        pool_predict = [c for c in calls if c["call"] == "predict" and c["rows"] == n_candidates]
        predict_s = sum(c["seconds"] for c in pool_predict)
        refine_s = sum(c["seconds"] for c in calls if c["call"] == "predict") - predict_s
        out["iterations"].append({
            "iteration": i + 1,
            "seconds": seconds,
            "fit_s": fit_s,
            "predict_s": predict_s,
            "refine_s": refine_s,
            "rest_s": seconds - fit_s - predict_s - refine_s,
            "mode": fit.get("mode"),
            "optimized": fit.get("optimized"),
            "n_hyperparameter_rows": fit.get("n_hyperparameter_rows"),
            "approximate": any(c.get("approximate") for c in pool_predict),
            "group": str(last["group"]),
            "rss_mb": rss_before,
            "peak_rss_mb": peak,
            "peak_delta_mb": peak - rss_before,
            "peak_measure": "VmHWM" if hwm_ok else "ru_maxrss",
            "maxrss_growth_mb": _maxrss_mb() - maxrss_before,
            "load_average": load,
        })
        if profiler is not None:
            profiler.dump_stats(profile)
    return out


# --------------------------------------------------------------------------- the sweep


def _worker(args: argparse.Namespace) -> int:
    limiter: Any = nullcontext()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.threads)
    with limiter:
        result = run_case(args.worker[0], args.worker[1], args.iterations, args.profile)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def run_in_subprocess(n_labelled: int, n_candidates: int, iterations: int, threads: int | None = None,
                      timeout: float | None = None) -> dict:
    """One case in a fresh interpreter (memory figures per case); returns its result dict."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(n_labelled), str(n_candidates),
               "--iterations", str(iterations)]
    if threads is not None:
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"labelled": n_labelled, "candidates": n_candidates, "error": f"timed out after {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["process_s"] = time.perf_counter() - started
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"labelled": n_labelled, "candidates": n_candidates, "error": " | ".join(tail) or f"exit {done.returncode}"}


def summarize(result: dict) -> dict:
    """Cold (iteration 1) and warm (the last iteration) figures of one case."""
    if "error" in result:
        return {"labelled": result["labelled"], "candidates": result["candidates"], "error": result["error"]}
    its = result["iterations"]
    cold, warm = its[0], its[-1]
    return {
        "labelled": result["labelled"], "candidates": result["candidates"],
        "cold_s": cold["seconds"], "warm_s": warm["seconds"] if len(its) > 1 else None,
        "warm_fit_s": warm["fit_s"], "warm_predict_s": warm["predict_s"], "warm_refine_s": warm["refine_s"],
        "warm_rest_s": warm["rest_s"], "warm_optimized": warm["optimized"],
        "mode": warm["mode"], "approximate": warm["approximate"],
        "peak_rss_mb": max(i["peak_rss_mb"] for i in its), "peak_delta_mb": max(i["peak_delta_mb"] for i in its),
        "start_s": result["start_s"], "load_average": max(i["load_average"] for i in its),
        "group_ok": all(i["group"] == "target" for i in its),
    }


def check_targets(rows: list[dict]) -> list[dict]:
    """PASS/FAIL of the issue's targets on the warm iteration (cold figures reported alongside)."""
    out = []
    for name, target in TARGETS.items():
        row = next((r for r in rows if r["labelled"] == target["labelled"] and r["candidates"] == target["candidates"]
                    and "error" not in r), None)
        if row is None:
            out.append({"target": name, "status": "NOT RUN"})
            continue
        seconds = row["warm_s"] if row["warm_s"] is not None else row["cold_s"]
        ok = seconds <= target["seconds"] and (target["peak_mb"] is None or row["peak_rss_mb"] <= target["peak_mb"])
        out.append({"target": name, "status": "PASS" if ok else "FAIL", "warm_s": row["warm_s"], "cold_s": row["cold_s"],
                    "peak_rss_mb": row["peak_rss_mb"], "limit_s": target["seconds"], "limit_peak_mb": target["peak_mb"]})
    return out


HEADER = (f"{'labelled':>9} {'cands':>9} {'mode':>9} {'approx':>6} {'cold s':>7} {'warm s':>7} {'fit':>6} "
          f"{'pred':>6} {'refine':>6} {'rest':>6} {'peak MB':>8} {'delta':>7} {'load':>5}")


def format_row(r: dict) -> str:
    if "error" in r:
        return f"{r['labelled']:>9} {r['candidates']:>9}  {r['error']}"
    warm = f"{r['warm_s']:7.2f}" if r["warm_s"] is not None else f"{'-':>7}"
    return (f"{r['labelled']:>9} {r['candidates']:>9} {r['mode']:>9} {str(r['approximate']):>6} {r['cold_s']:7.2f} "
            f"{warm} {r['warm_fit_s']:6.2f} {r['warm_predict_s']:6.2f} {r['warm_refine_s']:6.2f} {r['warm_rest_s']:6.2f} "
            f"{r['peak_rss_mb']:8.0f} {r['peak_delta_mb']:7.0f} {r['load_average']:5.1f}")


def sweep(labelled: list[int], candidates: list[int], iterations: int, *, max_labelled: int | None = None,
          threads: int | None = None, extra_cases: list[tuple[int, int]] = (), timeout: float | None = None,
          verbose: bool = True) -> list[dict]:
    cases = [(n, c) for n in labelled for c in candidates] + [tuple(c) for c in extra_cases]
    seen, rows = set(), []
    if verbose:
        print(HEADER, flush=True)
    for n, c in cases:
        if (n, c) in seen:
            continue
        seen.add((n, c))
        if max_labelled is not None and n > max_labelled:
            rows.append({"labelled": n, "candidates": c, "error": "skipped (--max-labelled)"})
            if verbose:
                print(format_row(rows[-1]), flush=True)
            continue
        row = summarize(run_in_subprocess(n, c, iterations, threads, timeout))
        rows.append(row)
        if verbose:
            print(format_row(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short sweep (< 1 minute)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--labelled", type=int, nargs="+", help="labelled rows of the target group")
    parser.add_argument("--candidates", type=int, nargs="+", help="pool rows of the target group")
    parser.add_argument("--max-labelled", type=int, default=None, help="skip cases with more labelled rows")
    parser.add_argument("--iterations", type=int, default=2, help="iterations per case (1 = cold only; default 2)")
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    parser.add_argument("--case", type=int, nargs=2, metavar=("LABELLED", "CANDIDATES"), action="append",
                        default=[], help="an extra case (repeatable)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case before giving up")
    parser.add_argument("--profile", metavar="PATH", help="with one --case: profile it in this process (cProfile of iteration 2) and write the stats here")
    parser.add_argument("--worker", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)
    if args.profile:
        if len(args.case) != 1:
            parser.error("--profile needs exactly one --case LABELLED CANDIDATES")
        result = run_case(*args.case[0], args.iterations, args.profile)
        print(json.dumps(result, indent=1))
        print(f"profile written to {args.profile} (python -m pstats {args.profile})")
        return 0
    if args.case and not (args.quick or args.labelled or args.candidates):
        labelled, candidates = [], []  # only the given cases
    elif args.quick:
        labelled = args.labelled or [100, 1000]
        candidates = args.candidates or [1000, 100_000]
    else:
        labelled = args.labelled or [100, 1000, 10_000, 100_000]
        candidates = args.candidates or [1000, 10_000, 100_000, 1_000_000]
    extra = list(args.case)
    if not args.quick and not args.labelled and not args.candidates and not args.case:
        extra += [(t["labelled"], t["candidates"]) for t in TARGETS.values()]
    print(f"ET-AL iteration benchmark: python {platform.python_version()}, cpus {os.cpu_count()}, "
          f"BLAS threads {args.threads or 'default'}, load {os.getloadavg()[0]:.1f}; cold = iteration 1 (cold GP fit), "
          f"warm = iteration {args.iterations} (warm refit)")
    started = time.perf_counter()
    rows = sweep(labelled, candidates, args.iterations, max_labelled=args.max_labelled, threads=args.threads,
                 extra_cases=extra, timeout=args.timeout)
    targets = check_targets(rows)
    for t in targets:
        print(f"target {t['target']}: {t['status']}" + (
            f" (warm {t['warm_s']:.2f} s, cold {t['cold_s']:.2f} s, peak RSS {t['peak_rss_mb']:.0f} MB; limit "
            f"{t['limit_s']:.0f} s" + (f", {t['limit_peak_mb']:.0f} MB)" if t["limit_peak_mb"] else ")")
            if "warm_s" in t else ""))
    total = time.perf_counter() - started
    print(f"total {total:.0f} s, load {os.getloadavg()[0]:.1f}")
    if args.json:
        from etal.provenance import atomic_write_json, package_versions

        atomic_write_json(args.json, {
            "benchmark": "iteration", "arguments": vars(args), "rows": rows, "targets": targets,
            "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                        "load_average_end": os.getloadavg()},
            "versions": package_versions(), "total_s": total,
        })
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
