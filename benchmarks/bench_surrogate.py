"""Benchmark of the GP surrogate: fit / predict time and memory, and the accuracy of the
large-group approximations against the exact GP.

Usage::

    python benchmarks/bench_surrogate.py [--quick] [--json PATH] [--threads N]

Data: a smooth synthetic function of ``--features`` standard-normal features plus 5 %
noise. For every labelled size the script times a cold fit, a warm refit after one more
labelled row (what the ET-AL loop does after each acquisition) and predictions for each
candidate count. "peak MB" is the peak of NumPy allocations seen by ``tracemalloc``
during that step (BLAS work buffers are not included); the process's peak RSS is printed
at the end. The machine's load average is recorded: on a shared 2-core machine timings
vary, and several BLAS threads competing for busy cores can be far slower than one
(try ``--threads 1``).

The accuracy section fits hyper-parameters once, then compares, at those same
hyper-parameters, the exact GP on all rows with the inducing-point posterior (several m)
and the subsample mode: RMSE of the mean and std differences, relative to the target std,
on held-out points, and each model's R^2 against the noise-free function.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc
from contextlib import nullcontext
from typing import Any, Callable

import numpy as np

from etal.provenance import atomic_write_json, package_versions
from etal.surrogate import GPSurrogate

NOISE = 0.05


def target_function(X: np.ndarray) -> np.ndarray:
    """Smooth, anisotropic, with an interaction; all features matter a little."""
    d = X.shape[1]
    weights = 1.0 / (1.0 + np.arange(d))
    return np.sin(X) @ weights + 0.3 * X[:, 0] * X[:, 1 % d] + 0.2 * np.cos(2.0 * X[:, -1])


def make_data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    f = target_function(X)
    return X, f + NOISE * f.std() * rng.normal(size=n)


def measured(step: Callable[[], Any]) -> tuple[Any, float, float]:
    """Run ``step``; return (result, seconds, peak MB of traced allocations)."""
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - started
    peak = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    return result, seconds, peak


def bench_sizes(args: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []
    d = args.features
    candidates_pool = make_data(max(args.candidates), d, seed=999)[0]
    for n in args.labelled:
        X, y = make_data(n + 1, d, seed=n)
        model = GPSurrogate(
            max_exact=args.max_exact,
            n_inducing=args.n_inducing,
            n_hyperparameter_rows=args.hyperparameter_rows,
        )
        _, fit_s, fit_mb = measured(lambda: model.fit(X[:n], y[:n]))
        mode = model.mode_
        warnings_cold = len(model.fit_info_["warnings"])
        hyper_rows, n_inducing = model.fit_info_["n_hyperparameter_rows"], model.fit_info_.get("n_inducing")
        _, refit_s, refit_mb = measured(lambda: model.fit(X, y))
        for n_cand in args.candidates:
            if mode == "exact" and n * n_cand > args.max_exact_work:
                print(f"  skip exact n={n} x {n_cand} candidates (> --max-exact-work)", flush=True)
                continue
            (mean, std), pred_s, pred_mb = measured(lambda: model.predict(candidates_pool[:n_cand]))
            assert np.all(np.isfinite(mean)) and np.all(std >= 0)
            row = {
                "mode": mode,
                "n_labelled": n,
                "n_hyperparameter_rows": hyper_rows,
                "n_inducing": n_inducing,
                "fit_cold_s": fit_s,
                "fit_cold_peak_mb": fit_mb,
                "refit_warm_s": refit_s,
                "refit_warm_peak_mb": refit_mb,
                "n_candidates": n_cand,
                "predict_s": pred_s,
                "predict_peak_mb": pred_mb,
                "chunk_size": model.default_chunk_size(),
                "fit_plus_predict_s": fit_s + pred_s,
                "convergence_warnings": warnings_cold,
                "load_average": os.getloadavg()[0],
            }
            rows.append(row)
            print(
                f"{mode:9s} {n:>7d} {row['n_hyperparameter_rows']:>6d} {str(row['n_inducing'] or '-'):>5s} "
                f"{fit_s:8.2f} {refit_s:8.2f} {fit_mb:8.0f} {n_cand:>9d} {pred_s:8.2f} {pred_mb:8.0f} "
                f"{n_cand / max(pred_s, 1e-9):>10.0f} {row['load_average']:5.1f}",
                flush=True,
            )
    return rows


def bench_accuracy(args: argparse.Namespace) -> dict:
    d, n = args.features, args.accuracy_n
    X, y = make_data(n, d, seed=12345)
    X_test = make_data(2000, d, seed=54321)[0]
    truth = target_function(X_test)
    hyper_model, hyper_s, _ = measured(
        lambda: GPSurrogate(max_exact=args.accuracy_hyper_rows).fit(X[: args.accuracy_hyper_rows], y[: args.accuracy_hyper_rows])
    )
    hyper = hyper_model.hyperparameters
    exact, exact_s, exact_mb = measured(lambda: GPSurrogate(optimize=False, hyperparameters=hyper, max_exact=n).fit(X, y))
    m_exact, s_exact = exact.predict(X_test)
    y_std = float(np.std(y))

    def r2(mean: np.ndarray) -> float:
        return float(1.0 - np.mean((mean - truth) ** 2) / np.var(truth))

    out = {
        "n_labelled": n,
        "features": d,
        "hyperparameters": hyper,
        "hyperparameter_fit_rows": args.accuracy_hyper_rows,
        "hyperparameter_fit_s": hyper_s,
        "exact": {"fit_s": exact_s, "fit_peak_mb": exact_mb, "r2_vs_truth": r2(m_exact),
                  "mean_std_over_target_std": float(np.mean(s_exact) / y_std)},
        "approximations": [],
    }
    print(f"\naccuracy at n={n}, d={d} (same hyper-parameters; exact R^2 = {out['exact']['r2_vs_truth']:.4f}, "
          f"mean latent std / target std = {out['exact']['mean_std_over_target_std']:.4f})")
    print(f"{'model':24s} {'fit s':>7s} {'RMSE dmean/sd':>14s} {'RMSE dstd/sd':>13s} {'max|dmean|/sd':>14s} "
          f"{'RMS dmean/std_exact':>20s} {'R2':>7s}")
    variants = [(f"inducing m={m}", {"large": "inducing", "n_inducing": m}) for m in args.accuracy_m]
    variants.append((f"subsample {args.accuracy_sub}", {"large": "subsample"}))
    for label, options in variants:
        max_exact = args.accuracy_sub if options["large"] == "subsample" else args.accuracy_hyper_rows
        model, fit_s, _ = measured(
            lambda: GPSurrogate(optimize=False, hyperparameters=hyper, max_exact=max_exact, **options).fit(X, y)
        )
        mean, std = model.predict(X_test)
        entry = {
            "model": label,
            "fit_s": fit_s,
            "rmse_mean_diff_over_target_std": float(np.sqrt(np.mean((mean - m_exact) ** 2)) / y_std),
            "rmse_std_diff_over_target_std": float(np.sqrt(np.mean((std - s_exact) ** 2)) / y_std),
            "max_abs_mean_diff_over_target_std": float(np.max(np.abs(mean - m_exact)) / y_std),
            # the mean error in units of the exact posterior std (what sampling sees)
            "rms_mean_diff_over_exact_std": float(np.sqrt(np.mean(((mean - m_exact) / s_exact) ** 2))),
            "r2_vs_truth": r2(mean),
            "inducing_jitter": model.fit_info_.get("inducing_jitter"),
        }
        out["approximations"].append(entry)
        print(f"{label:24s} {fit_s:7.2f} {entry['rmse_mean_diff_over_target_std']:14.2e} "
              f"{entry['rmse_std_diff_over_target_std']:13.2e} {entry['max_abs_mean_diff_over_target_std']:14.2e} "
              f"{entry['rms_mean_diff_over_exact_std']:20.3f} "
              f"{entry['r2_vs_truth']:7.4f}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes (about a minute)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    parser.add_argument("--labelled", type=int, nargs="+", help="labelled sizes")
    parser.add_argument("--candidates", type=int, nargs="+", help="candidate counts")
    parser.add_argument("--max-exact", type=int, default=3000)
    parser.add_argument("--n-inducing", type=int, default=1000)
    parser.add_argument("--hyperparameter-rows", type=int, default=None,
                        help="rows of a large group's hyper-parameter fit (default: max-exact)")
    parser.add_argument("--max-exact-work", type=float, default=3.1e9,
                        help="skip exact predictions with n_labelled x n_candidates above this")
    parser.add_argument("--no-accuracy", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.labelled = args.labelled or [100, 1000, 10_000]
        args.candidates = args.candidates or [10_000, 100_000]
        if args.hyperparameter_rows is None:
            args.hyperparameter_rows = 1000
        args.accuracy_n, args.accuracy_hyper_rows, args.accuracy_sub = 2000, 1000, 1000
        args.accuracy_m = [250, 500]
    else:
        args.labelled = args.labelled or [100, 1000, 3000, 10_000, 50_000]
        args.candidates = args.candidates or [10_000, 100_000, 1_000_000]
        args.accuracy_n, args.accuracy_hyper_rows, args.accuracy_sub = 5000, 3000, 3000
        args.accuracy_m = [250, 500, 1000]

    limiter: Any = nullcontext()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=args.threads)

    print(f"GPSurrogate benchmark: {args.features} features, max_exact={args.max_exact}, "
          f"n_inducing={args.n_inducing}, hyper-parameter rows={args.hyperparameter_rows or args.max_exact}, "
          f"cpus={os.cpu_count()}, BLAS threads={args.threads or 'default'}, load={os.getloadavg()[0]:.1f}")
    print(f"{'mode':9s} {'n_lab':>7s} {'h_rows':>6s} {'m':>5s} {'fit s':>8s} {'refit s':>8s} {'fit MB':>8s} "
          f"{'n_cand':>9s} {'pred s':>8s} {'pred MB':>8s} {'cand/s':>10s} {'load':>5s}")
    tracemalloc.start()
    started = time.perf_counter()
    with limiter:
        sizes = bench_sizes(args)
        accuracy = None if args.no_accuracy else bench_accuracy(args)
    tracemalloc.stop()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = time.perf_counter() - started
    print(f"\npeak RSS {peak_rss_mb:.0f} MB, total {total:.0f} s")
    if args.json:
        atomic_write_json(args.json, {
            "benchmark": "surrogate",
            "arguments": {k: v for k, v in vars(args).items()},
            "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                        "cpus": os.cpu_count(), "load_average_end": os.getloadavg()},
            "versions": package_versions(),
            "sizes": sizes,
            "accuracy": accuracy,
            "peak_rss_mb": peak_rss_mb,
            "total_s": total,
        })
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
