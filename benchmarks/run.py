"""ONE runner for etal's performance figures: prints a table, writes JSON.

Usage::

    python benchmarks/run.py [--quick] [--json PATH] [--no-demo] [--no-sweep]
        [--no-accuracy] [--no-threads] [--max-labelled N]

Sections (``docs/performance.md`` explains every figure):

(a) acquisition: expected entropy by quadrature vs Monte Carlo on the same GP posterior
    (``bench_acquisition.section_speed``: our vectorised 1000-draw ``mc`` and the paper's
    recipe of re-estimating the entropy after every draw), and one whole ET-AL iteration
    through ``etal.engine.ETAL`` with ``estimator="quadrature"`` vs ``"mc"``;
(b) end-to-end ``etal demo`` wall time (a subprocess; ``--quick``: ``etal demo --quick``);
(c) one ET-AL iteration for a sweep of labelled rows x candidates in the target group
    (``bench_iteration.py``, one subprocess per case) with the issue's two targets
    marked PASS/FAIL;
(d) accuracy of the approximations against the exact GP where both run: the huge-pool
    std (and whether the ET-AL pick changes, with and without the exact re-scoring of
    the shortlist) and the large-group inducing-point GP (hyper-parameters on 1,000
    rows, 1,000 inducing points; also 1,000 and 2,000 points at the exact GP's
    hyper-parameters);
(e) BLAS threads: exact GP fits with 1 vs 2 OpenBLAS threads, as the machine is and with
    one core kept busy by a spinning subprocess; the huge-pool prediction with threaded
    BLAS vs one BLAS thread per chunk.

``--quick`` runs reduced versions of everything (under ~2 minutes on an idle 2-core
machine). The machine's load average is recorded: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_acquisition  # noqa: E402
import bench_iteration  # noqa: E402

DEFAULT_JSON = HERE / "results" / "latest.json"


def _load() -> float:
    return os.getloadavg()[0]


# --------------------------------------------------------------------------- (a)


def loop_iteration_seconds(n_labelled: int, n_candidates: int, estimator: str, iterations: int = 2) -> float:
    """Best wall seconds of one warm ET-AL iteration (suggest + tell) with ``estimator``."""
    from etal.engine import ETAL

    labelled, pool, labels, features = bench_iteration.build_case(n_labelled, n_candidates)
    loop = ETAL(group_col="group", target_col="target", feature_cols=features, progress=False,
                estimator=estimator, seed=0)
    loop.start(labelled, pool)
    best = np.inf
    for i in range(iterations + 1):  # the first one has the cold GP fit: not counted
        t0 = time.perf_counter()
        ids = loop.suggest()
        loop.tell(ids, labels[np.asarray(ids, dtype=np.int64)])
        if i:
            best = min(best, time.perf_counter() - t0)
    return float(best)


def section_acquisition(quick: bool) -> dict:
    speed = bench_acquisition.section_speed([300, 3000] if quick else [300, 3000, 30000], repeats=3 if quick else 5)
    loops = []
    for n_labelled, n_candidates in ([(200, 3000)] if quick else [(200, 3000), (2000, 30000)]):
        q = loop_iteration_seconds(n_labelled, n_candidates, "quadrature")
        m = loop_iteration_seconds(n_labelled, n_candidates, "mc")
        loops.append({"labelled": n_labelled, "candidates": n_candidates, "quadrature_s": q, "mc1000_s": m,
                      "ratio_mc_over_quadrature": m / q, "load_average": _load()})
    return {"acquisition_only": speed, "loop_iteration": loops}


def print_acquisition(a: dict) -> None:
    s = a["acquisition_only"]
    print(f"\n(a) expected entropy of every candidate, {s['labelled']} labelled values, one GP posterior "
          f"(best CPU s; paper recipe = re-estimate after each of 1000 draws, timed on 5 candidates):")
    print(f"{'candidates':>10} {'quadrature':>11} {'mc (1000)':>10} {'mc/quad':>8} {'paper recipe':>13} {'paper/quad':>10}")
    for r in s["rows"]:
        print(f"{r['candidates']:>10} {r['quadrature_cpu_s']:>11.4f} {r['mc1000_cpu_s']:>10.4f} "
              f"{r['ratio_mc_over_quadrature']:>7.1f}x {r['paper_recipe_cpu_s_estimated']:>13.2f} "
              f"{r['ratio_paper_over_quadrature']:>9.0f}x")
    print("    one warm ET-AL iteration through etal.engine.ETAL (fit + posterior + expected entropy + EI + pick):")
    for r in a["loop_iteration"]:
        print(f"    {r['labelled']} labelled x {r['candidates']} candidates: quadrature {r['quadrature_s']:.3f} s, "
              f"mc {r['mc1000_s']:.3f} s ({r['ratio_mc_over_quadrature']:.1f}x); load {r['load_average']:.1f}")


# --------------------------------------------------------------------------- (b)


def section_demo(quick: bool, timeout: float = 1800.0) -> dict:
    check = subprocess.run([sys.executable, "-m", "etal", "demo", "--help"], capture_output=True, text=True)
    if check.returncode != 0:
        return {"status": "not available", "detail": (check.stderr or check.stdout).strip().splitlines()[-1:]}
    with tempfile.TemporaryDirectory(prefix="etal-demo-bench-") as out:
        command = [sys.executable, "-m", "etal", "demo", "--out", out, "--no-progress"] + (["--quick"] if quick else [])
        load = _load()
        t0 = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"status": "timeout", "seconds": timeout, "command": " ".join(command[1:])}
        seconds = time.perf_counter() - t0
    status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
    detail = [] if done.returncode == 0 else (done.stderr or done.stdout).strip().splitlines()[-3:]
    return {"status": status, "seconds": seconds, "command": "etal demo" + (" --quick" if quick else ""),
            "load_average": load, "detail": detail}


# --------------------------------------------------------------------------- (d)


def _ei_scores(values: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    from etal.acquisition import expected_entropy, expected_improvement
    from etal.entropy import estimate_entropy

    mean, std = expected_entropy(values, mu, sigma)
    return np.asarray(expected_improvement(mean, std, estimate_entropy(values).entropy))


def _target_group(n_labelled: int, n_candidates: int, seed: int):
    labelled, pool, _, features = bench_iteration.build_case(n_labelled, n_candidates, seed=seed)
    lab = labelled[labelled["group"] == "target"]
    cand = pool[pool["group"] == "target"]
    return lab[features].to_numpy(), lab["target"].to_numpy(), cand[features].to_numpy()


def huge_pool_accuracy(n_labelled: int, n_candidates: int, seeds: list[int]) -> dict:
    """Exact GP posterior vs the huge-pool path (exact mean, std through 256 inducing points)."""
    from etal.strategies import REFINE_TOP
    from etal.surrogate import GPSurrogate

    trials = []
    for seed in seeds:
        X, y, C = _target_group(n_labelled, n_candidates, seed)
        model = GPSurrogate().fit(X, y)
        t0 = time.perf_counter()
        mu_e, sd_e = model.predict(C, approximate=False)
        exact_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        mu_a, sd_a = model.predict(C, approximate=True)
        approx_s = time.perf_counter() - t0
        ei_exact = _ei_scores(y, mu_e, sd_e)
        ei_approx = _ei_scores(y, mu_a, sd_a)
        best = int(np.argmax(ei_exact))
        rank = np.empty(C.shape[0], dtype=np.int64)
        rank[np.argsort(-ei_approx, kind="stable")] = np.arange(C.shape[0])
        shortlist = np.sort(np.argsort(-ei_approx, kind="stable")[:REFINE_TOP])
        refined = int(shortlist[np.argmax(ei_exact[shortlist])])  # exact re-scoring, as the strategy does
        unrefined = int(np.argmax(ei_approx))
        ratio = sd_a / sd_e
        top10 = np.argsort(-ei_exact)[:10]
        trials.append({
            "seed": seed, "exact_predict_s": exact_s, "approx_predict_s": approx_s,
            "max_abs_mean_diff_over_exact_std": float(np.max(np.abs(mu_a - mu_e) / sd_e)),
            "std_ratio_quantiles_1_50_99": [float(q) for q in np.quantile(ratio, [0.01, 0.5, 0.99])],
            "approx_rank_of_exact_best": int(rank[best]),
            "max_approx_rank_of_exact_top10": int(rank[top10].max()),
            "pick_same_without_refinement": unrefined == best,
            "pick_same_with_refinement": refined == best,
            "relative_ei_regret_without_refinement": float((ei_exact[best] - ei_exact[unrefined]) / ei_exact[best]),
        })
    return {"labelled": n_labelled, "candidates": n_candidates, "n_inducing_predict": 256, "refine_top": REFINE_TOP,
            "trials": trials}


def large_group_accuracy(n_labelled: int, n_candidates: int, max_exact: int | None, seed: int = 0) -> dict:
    """Exact GP (hyper-parameters optimised on all rows) vs the default large-group GP."""
    from etal.surrogate import GPSurrogate

    X, y, C = _target_group(n_labelled, n_candidates, seed)
    t0 = time.perf_counter()
    exact = GPSurrogate(max_exact=n_labelled).fit(X, y)
    exact_fit_s = time.perf_counter() - t0
    options = {} if max_exact is None else {"max_exact": max_exact}
    t0 = time.perf_counter()
    approx = GPSurrogate(**options).fit(X, y)
    approx_fit_s = time.perf_counter() - t0
    mu_e, sd_e = exact.predict(C, approximate=False)
    ei_exact = _ei_scores(y, mu_e, sd_e)
    best = int(np.argmax(ei_exact))
    y_sd = float(np.std(y))

    def compare(model: Any) -> dict:
        mu_a, sd_a = model.predict(C, approximate=False)
        ei_approx = _ei_scores(y, mu_a, sd_a)
        pick = int(np.argmax(ei_approx))
        rank = np.empty(C.shape[0], dtype=np.int64)
        rank[np.argsort(-ei_approx, kind="stable")] = np.arange(C.shape[0])
        return {
            "rmse_mean_diff_over_target_std": float(np.sqrt(np.mean((mu_a - mu_e) ** 2)) / y_sd),
            "rms_mean_diff_over_exact_std": float(np.sqrt(np.mean(((mu_a - mu_e) / sd_e) ** 2))),
            "std_ratio_quantiles_1_50_99": [float(q) for q in np.quantile(sd_a / sd_e, [0.01, 0.5, 0.99])],
            "pick_same": pick == best, "approx_rank_of_exact_best": int(rank[best]),
            "relative_ei_regret": float((ei_exact[best] - ei_exact[pick]) / ei_exact[best]),
        }

    # the inducing-point posterior alone: at the exact GP's hyper-parameters, 1,000 and 2,000 points
    same_hyper = GPSurrogate(optimize=False, hyperparameters=exact.hyperparameters, **options).fit(X, y)
    more_points = GPSurrogate(optimize=False, hyperparameters=exact.hyperparameters, n_inducing=2000,
                              **options).fit(X, y)
    return {
        "labelled": n_labelled, "candidates": n_candidates, "mode": approx.mode_,
        "n_hyperparameter_rows": approx.fit_info_["n_hyperparameter_rows"], "n_inducing": approx.fit_info_.get("n_inducing"),
        "exact_fit_s": exact_fit_s, "approx_fit_s": approx_fit_s,
        "hyperparameters_exact": exact.hyperparameters, "hyperparameters_approx": approx.hyperparameters,
        "default": compare(approx), "inducing_at_exact_hyperparameters": compare(same_hyper),
        "inducing_2000_at_exact_hyperparameters": compare(more_points),
    }


def section_accuracy(quick: bool, large_group_rows: int | None = None) -> dict:
    huge = huge_pool_accuracy(2000, 100_000, [0] if quick else [0, 1, 2, 3, 4])
    rows = large_group_rows or (2000 if quick else 4000)
    # the default large-group mode starts above max_exact = 3,000 rows; below, force it
    large = large_group_accuracy(rows, 20_000, max_exact=None if rows > 3000 else rows * 3 // 4)
    return {"huge_pool": huge, "large_group": large}


def print_accuracy(d: dict) -> None:
    h = d["huge_pool"]
    print(f"\n(d1) huge-pool path vs exact GP posterior, {h['labelled']} labelled x {h['candidates']} candidates "
          f"(std through {h['n_inducing_predict']} inducing points; exact re-scoring of the top {h['refine_top']}):")
    print(f"{'seed':>4} {'exact s':>8} {'approx s':>8} {'max|dmu|/sd':>11} {'sd ratio p1/p50/p99':>21} "
          f"{'rank best':>9} {'rank top10':>10} {'same pick':>9} {'refined':>7} {'regret':>8}")
    for t in h["trials"]:
        q = t["std_ratio_quantiles_1_50_99"]
        print(f"{t['seed']:>4} {t['exact_predict_s']:8.2f} {t['approx_predict_s']:8.2f} "
              f"{t['max_abs_mean_diff_over_exact_std']:11.1e} {q[0]:6.2f}/{q[1]:5.2f}/{q[2]:5.2f}      "
              f"{t['approx_rank_of_exact_best']:>9} {t['max_approx_rank_of_exact_top10']:>10} "
              f"{str(t['pick_same_without_refinement']):>9} {str(t['pick_same_with_refinement']):>7} "
              f"{t['relative_ei_regret_without_refinement']:8.1e}")
    g = d["large_group"]
    print(f"(d2) large-group GP ({g['mode']}: hyper-parameters on {g['n_hyperparameter_rows']} rows, "
          f"{g['n_inducing']} inducing points) vs exact GP on all {g['labelled']} rows, {g['candidates']} candidates; "
          f"fit {g['approx_fit_s']:.1f} s vs {g['exact_fit_s']:.1f} s (cold)")
    print(f"{'variant':>32} {'RMSE dmu/target sd':>18} {'RMS dmu/exact sd':>16} {'sd ratio p1/p50/p99':>20} "
          f"{'same pick':>9} {'rank best':>9} {'EI regret':>9}")
    for label, key in (("default (hyper on subsample)", "default"),
                       ("m=1000 at exact hyper", "inducing_at_exact_hyperparameters"),
                       ("m=2000 at exact hyper", "inducing_2000_at_exact_hyperparameters")):
        r = g[key]
        q = r["std_ratio_quantiles_1_50_99"]
        print(f"{label:>32} {r['rmse_mean_diff_over_target_std']:18.1e} {r['rms_mean_diff_over_exact_std']:16.2f} "
              f"{q[0]:6.2f}/{q[1]:5.2f}/{q[2]:5.2f}    {str(r['pick_same']):>9} {r['approx_rank_of_exact_best']:>9} "
              f"{r['relative_ei_regret']:9.1e}")


# --------------------------------------------------------------------------- (e)


def section_threads(quick: bool) -> dict:
    """Exact GP fits (cold, then warm with one more row) with 1 vs 2 BLAS threads, as the
    machine is, and with one core kept busy by a spinning subprocess (what another
    colleague's job does); the surrogate's own one-thread rule is off for the measurement."""
    rows = _thread_rows(quick, busy=False)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        rows += _thread_rows(quick, busy=True)
    finally:
        spinner.kill()
        spinner.wait()
    import etal.surrogate as surrogate_module

    return {"rows": rows, "single_thread_max_rows": surrogate_module.SINGLE_THREAD_MAX_ROWS,
            "huge_pool_predict": _predict_threads(100_000 if quick else 1_000_000)}


def _predict_threads(n_candidates: int) -> dict:
    """The huge-pool predict (2,000 rows): cache-sized chunks with the default BLAS threads in
    one Python thread, vs etal's one BLAS thread per chunk over worker threads."""
    from contextlib import nullcontext

    import etal.surrogate as surrogate_module

    X, y, C = _target_group(2000, n_candidates, seed=0)
    model = surrogate_module.GPSurrogate().fit(X, y)
    model.predict(C[:1000], approximate=True)  # builds the screening posterior
    out: dict[str, Any] = {"labelled": 2000, "candidates": n_candidates}
    saved = (surrogate_module._one_blas_thread, surrogate_module._PREDICT_WORKERS)
    try:
        surrogate_module._one_blas_thread = nullcontext
        surrogate_module._PREDICT_WORKERS = 1
        t0 = time.perf_counter()
        model.predict(C, approximate=True)
        out["default_blas_threads_serial_s"] = time.perf_counter() - t0
    finally:
        surrogate_module._one_blas_thread, surrogate_module._PREDICT_WORKERS = saved
    t0 = time.perf_counter()
    model.predict(C, approximate=True)
    out["one_blas_thread_per_worker_s"] = time.perf_counter() - t0
    out["workers"] = surrogate_module._PREDICT_WORKERS
    out["load_average"] = _load()
    return out


def _thread_rows(quick: bool, busy: bool) -> list[dict]:
    from threadpoolctl import threadpool_limits

    import etal.surrogate as surrogate_module
    from etal.datasets import synthetic

    frame = synthetic(3001, groups=1, n_features=8, spread_skew=0.0, seed=0)
    X = frame[[f"f{j}" for j in range(8)]].to_numpy()
    y = frame["target"].to_numpy()
    saved = surrogate_module.SINGLE_THREAD_MAX_ROWS
    surrogate_module.SINGLE_THREAD_MAX_ROWS = 0
    rows = []
    try:
        for n in ([300, 1000] if quick else [100, 300, 1000, 2000]):
            row: dict[str, Any] = {"rows": n, "busy_core": busy}
            for threads in (1, 2):
                cold, warm = np.inf, np.inf
                for _ in range(2):
                    with threadpool_limits(limits=threads, user_api="blas"):
                        model = surrogate_module.GPSurrogate(reoptimize_growth=None)
                        t0 = time.perf_counter()
                        model.fit(X[:n], y[:n])
                        cold = min(cold, time.perf_counter() - t0)
                        t0 = time.perf_counter()
                        model.fit(X[: n + 1], y[: n + 1])
                        warm = min(warm, time.perf_counter() - t0)
                row[f"cold_s_{threads}"], row[f"warm_s_{threads}"] = cold, warm
            row["load_average"] = _load()
            rows.append(row)
    finally:
        surrogate_module.SINGLE_THREAD_MAX_ROWS = saved
    return rows


def print_threads(t: dict) -> None:
    print(f"\n(e) exact GP fit with 1 vs 2 BLAS threads (best of 2; etal uses 1 thread up to "
          f"{t['single_thread_max_rows']} rows):")
    print(f"{'rows':>6} {'busy core':>9} {'cold 1':>8} {'cold 2':>8} {'warm 1':>8} {'warm 2':>8} {'load':>5}")
    for r in t["rows"]:
        print(f"{r['rows']:>6} {str(r['busy_core']):>9} {r['cold_s_1']:8.3f} {r['cold_s_2']:8.3f} {r['warm_s_1']:8.3f} "
              f"{r['warm_s_2']:8.3f} {r['load_average']:5.1f}")
    p = t["huge_pool_predict"]
    print(f"    huge-pool predict, {p['labelled']} labelled x {p['candidates']} candidates: default BLAS threads "
          f"{p['default_blas_threads_serial_s']:.2f} s vs one BLAS thread x {p['workers']} workers "
          f"{p['one_blas_thread_per_worker_s']:.2f} s (load {p['load_average']:.1f})")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced versions of every section")
    parser.add_argument("--json", metavar="PATH", default=str(DEFAULT_JSON),
                        help=f"where to write the JSON (default {DEFAULT_JSON.relative_to(HERE.parent)})")
    parser.add_argument("--no-demo", action="store_true", help="skip the end-to-end 'etal demo' timing")
    parser.add_argument("--no-sweep", action="store_true", help="skip the iteration sweep")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the accuracy section")
    parser.add_argument("--no-threads", action="store_true", help="skip the BLAS-threads section")
    parser.add_argument("--large-group-rows", type=int, default=None,
                        help="(d2): labelled rows of the large-group comparison (default 4000, quick 2000; the "
                             "exact GP's cold fit costs ~40 s at 4000, several minutes at 8000)")
    parser.add_argument("--max-labelled", type=int, default=None,
                        help="sweep: skip cases with more labelled rows (e.g. 10000 skips the long 1e5 cases)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "quick": args.quick, "python": sys.version.split()[0], "platform": platform.platform(),
        "cpus": os.cpu_count(), "load_average_start": os.getloadavg(),
    }
    print(f"etal performance run ({'quick' if args.quick else 'full'}): cpus {os.cpu_count()}, "
          f"load {_load():.1f}")

    results["acquisition"] = section_acquisition(args.quick)
    print_acquisition(results["acquisition"])

    if args.no_demo:
        results["demo"] = {"status": "skipped"}
    else:
        results["demo"] = section_demo(args.quick)
    d = results["demo"]
    print(f"\n(b) etal demo{' --quick' if args.quick else ''}: {d['status']}"
          + (f", {d['seconds']:.1f} s wall (load {d['load_average']:.1f})" if "seconds" in d and d["status"] == "ok" else "")
          + (f" {d.get('detail')}" if d.get("detail") else ""))

    if not args.no_sweep:
        labelled = [100, 1000] if args.quick else [100, 1000, 10_000, 100_000]
        candidates = [1000, 100_000] if args.quick else [1000, 10_000, 100_000, 1_000_000]
        extra = [(t["labelled"], t["candidates"]) for t in bench_iteration.TARGETS.values()]
        print("\n(c) one ET-AL iteration (suggest + tell) per case, one subprocess each; cold = iteration 1, "
              "warm = iteration 2; fit/pred/rest = the warm iteration's GP fit, pool posterior, and everything else")
        rows = bench_iteration.sweep(labelled, candidates, 2, max_labelled=args.max_labelled, extra_cases=extra)
        targets = bench_iteration.check_targets(rows)
        results["sweep"] = {"rows": rows, "targets": targets}
        for t in targets:
            print(f"TARGET {t['target']}: {t['status']}" + (
                f" - warm {t['warm_s']:.2f} s (cold {t['cold_s']:.2f} s), peak RSS {t['peak_rss_mb']:.0f} MB; limit "
                f"{t['limit_s']:.0f} s" + (f" and {t['limit_peak_mb']:.0f} MB" if t["limit_peak_mb"] else "")
                if "warm_s" in t else ""))

    if not args.no_accuracy:
        results["accuracy"] = section_accuracy(args.quick, args.large_group_rows)
        print_accuracy(results["accuracy"])

    if not args.no_threads:
        results["threads"] = section_threads(args.quick)
        print_threads(results["threads"])

    results["load_average_end"] = os.getloadavg()
    results["total_s"] = time.perf_counter() - started
    from etal.provenance import atomic_write_json, package_versions

    results["versions"] = package_versions()
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.json, results)
    print(f"\ntotal {results['total_s']:.0f} s; load {results['load_average_start'][0]:.1f} -> "
          f"{results['load_average_end'][0]:.1f}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
