"""Coverage of the bias report's entropy confidence intervals: how often does the nominal
interval contain the TRUE differential entropy?

Usage::

    python benchmarks/bench_bias_coverage.py [--quick] [--json PATH] [--reps R]
        [--bootstrap B] [--sizes 8,25,...] [--dists normal,...] [--no-gap]

Why the true entropy: the spacing estimators are biased at small n (e.g. about -0.23
nats for normal data at n=8, positive for heavy tails at n=400), so the estimator's
expectation is NOT the true entropy; an interval that only describes the estimator's
spread around itself can be tight and still miss the truth. Coverage of the true value
is the honest criterion.

Per-group section. For every distribution and sample size, ``--reps`` samples are drawn;
each sample's ``auto`` estimate (SciPy's rule, default window) gets an interval from
every candidate method, with ``--bootstrap`` replicates each:

* ``percentile``     plain bootstrap quantiles (the report's old default)
* ``basic``          plain bootstrap, reverse percentile: 2 h - quantiles
* ``sm-percentile``  smoothed bootstrap (resample + Gaussian jitter, Silverman x 1),
  quantiles
* ``sm-centred``     smoothed (Silverman x 0.5), centred on the estimate: 2 h - quantiles
* ``smoothed@F``     smoothed (Silverman x F), pivotal: h - (quantiles - H_kde), where
  H_kde is the true entropy of the kernel density the resamples are drawn from, so the
  replicates' offset from it estimates the estimator's bias as well as its spread
* ``sm-normal@F``    h - (mean - H_kde) +- z sd of the smoothed replicates (x F)
* ``jackknife``      bias-corrected jackknife estimate +- z jackknife SE (same method
  and window with n-1 values)

The shipped methods (``percentile``, ``basic``, ``smoothed`` = smoothed@0.5) are computed
with the functions ``etal.bias.bias_report`` uses. Coverage has a Monte Carlo standard
error of about sqrt(0.95 x 0.05 / R) (1.5 % at R=200). "width" is the mean interval
width in nats.

Gap section: three normal groups with sd 0.5, 1 and 2 (true entropy_gap = ln 4) at
several group sizes, the interval of ``entropy_gap`` from ``bias_report`` itself for
each ``ci_method``; and three identical N(0, 1) groups (true gap 0).

True entropies: closed forms (normal 0.5 ln(2 pi e s^2), uniform ln(b - a), exponential
1 - ln(rate)), ``scipy.stats.<dist>.entropy()`` (gamma, lognormal, Student t) and
adaptive quadrature of -f ln f (the two-component normal mixture).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.stats as st
from scipy.integrate import quad

from etal.bias import bootstrap as bias_module
from etal.bias import bias_report
from etal.entropy import entropy_of_sorted, estimate_entropy
from etal.provenance import atomic_write_json, package_versions

SIZES = (8, 25, 100, 400, 1500)
FACTORS = (0.5, 0.7, 1.0)
DEFAULT_FACTOR = bias_module._SMOOTHING_FACTOR


# ------------------------------------------------------------------ distributions


def _mixture_pdf(t: np.ndarray | float) -> np.ndarray | float:
    # Bimodal with unequal widths: Silverman's rule oversmooths the narrow mode.
    return 0.5 * st.norm.pdf(t, -2.0, 1.0) + 0.5 * st.norm.pdf(t, 2.0, 0.5)


def _mixture_entropy() -> float:
    def integrand(t: float) -> float:
        f = _mixture_pdf(t)
        return -f * math.log(f) if f > 0 else 0.0

    return quad(integrand, -14.0, 12.0, points=[-2.0, 0.0, 2.0], limit=400)[0]


def _mixture_sample(rng: np.random.Generator, n: int) -> np.ndarray:
    first = rng.random(n) < 0.5
    return np.where(first, rng.normal(-2.0, 1.0, n), rng.normal(2.0, 0.5, n))


Sampler = Callable[[np.random.Generator, int], np.ndarray]
#: name -> (sampler(rng, n), function returning the true entropy in nats)
DISTRIBUTIONS: dict[str, tuple[Sampler, Callable[[], float]]] = {
    "normal": (lambda r, n: r.normal(0.0, 1.0, n), lambda: 0.5 * math.log(2 * math.pi * math.e)),
    "uniform": (lambda r, n: r.uniform(0.0, 2.0, n), lambda: math.log(2.0)),
    "exponential": (lambda r, n: r.exponential(1.0 / 2.0, n), lambda: 1.0 - math.log(2.0)),
    "gamma(2)": (lambda r, n: r.gamma(2.0, 1.0, n), lambda: float(st.gamma(2.0).entropy())),
    "lognormal(0.5)": (
        lambda r, n: r.lognormal(0.0, 0.5, n), lambda: float(st.lognorm(0.5).entropy())
    ),
    "student-t(3)": (lambda r, n: r.standard_t(3.0, n), lambda: float(st.t(3.0).entropy())),
    "bimodal": (_mixture_sample, _mixture_entropy),
}


# ------------------------------------------------------------------ one sample


def _jackknife(
    x: np.ndarray, estimate: float, method: str, window: int, resolution: float, z: float
) -> tuple[float, float]:
    n = x.size
    keep = ~np.eye(n, dtype=bool)
    leave_one_out = np.broadcast_to(x, (n, n))[keep].reshape(n, n - 1)  # rows stay sorted
    h = entropy_of_sorted(leave_one_out, method, window, resolution)
    centre = estimate - (n - 1) * (h.mean() - estimate)
    se = math.sqrt((n - 1) / n * np.sum((h - h.mean()) ** 2))
    return centre - z * se, centre + z * se


def intervals_for_sample(
    x: np.ndarray, rng: np.random.Generator, n_bootstrap: int, confidence: float
) -> dict[str, tuple[float, float]]:
    """Every candidate's interval for one sorted sample."""
    alpha = 1.0 - confidence
    z = float(st.norm.ppf(1 - alpha / 2))
    e = estimate_entropy(x)
    h = e.entropy
    out: dict[str, tuple[float, float]] = {}
    plain = bias_module.bootstrap_entropies(x, n_bootstrap, rng, e.method, e.window, e.resolution)
    out["percentile"] = bias_module.interval(h, plain, h, alpha, "percentile")
    out["basic"] = bias_module.interval(h, plain, h, alpha, "basic")
    index_rng, noise_rng = rng.spawn(2)
    for factor in FACTORS:
        bandwidth = bias_module.smoothing_bandwidth(x, factor)
        world = bias_module.smoothed_entropy(x, bandwidth)
        reps = bias_module.smoothed_bootstrap_entropies(
            x, n_bootstrap, index_rng, noise_rng, e.method, e.window, e.resolution, bandwidth
        )
        lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
        out[f"smoothed@{factor:g}"] = bias_module.interval(h, reps, world, alpha, "smoothed")
        if factor == 1.0:
            out["sm-percentile"] = (float(lo), float(hi))
        centre, sd = h - (reps.mean() - world), reps.std(ddof=1)
        if factor == DEFAULT_FACTOR:
            out["sm-centred"] = (2 * h - hi, 2 * h - lo)
        if factor in (0.5, 1.0):
            out[f"sm-normal@{factor:g}"] = (centre - z * sd, centre + z * sd)
    out["jackknife"] = _jackknife(x, h, e.method, e.window, e.resolution, z)
    return out


METHOD_ORDER = (
    "percentile", "basic", "sm-percentile", "sm-centred",
    *(f"smoothed@{f:g}" for f in FACTORS), "sm-normal@0.5", "sm-normal@1", "jackknife",
)  # fmt: skip


def per_group_coverage(
    dists: list[str], sizes: list[int], reps: int, n_bootstrap: int, confidence: float, seed: int
) -> list[dict[str, Any]]:
    rows = []
    for d_index, name in enumerate(dists):
        sampler, truth_fn = DISTRIBUTIONS[name]
        truth = truth_fn()
        for n in sizes:
            rng = np.random.default_rng([seed, d_index, n])
            started = time.perf_counter()
            hits: dict[str, list[bool]] = {m: [] for m in METHOD_ORDER}
            widths: dict[str, list[float]] = {m: [] for m in METHOD_ORDER}
            estimates = []
            for _ in range(reps):
                x = np.sort(sampler(rng, n))
                estimates.append(estimate_entropy(x).entropy)
                found = intervals_for_sample(x, rng, n_bootstrap, confidence)
                for method, (lo, hi) in found.items():
                    hits[method].append(lo <= truth <= hi)
                    widths[method].append(hi - lo)
            row = {
                "distribution": name,
                "n": n,
                "true_entropy": truth,
                "estimator_bias": float(np.mean(estimates) - truth),
                "estimator_sd": float(np.std(estimates, ddof=1)),
                "coverage": {m: float(np.mean(hits[m])) for m in METHOD_ORDER},
                "width": {m: float(np.mean(widths[m])) for m in METHOD_ORDER},
                "seconds": time.perf_counter() - started,
            }
            rows.append(row)
            print(_row_text(row), flush=True)
    return rows


def _row_text(row: dict[str, Any]) -> str:
    cells = "".join(
        f" {row['coverage'][m]:6.2f}/{row['width'][m]:<6.2f}" for m in METHOD_ORDER
    )
    return f"{row['distribution']:<15}{row['n']:>5} {row['estimator_bias']:+6.3f}{cells}"


def _header() -> str:
    names = "".join(f" {m:<13}" for m in METHOD_ORDER)
    units = " " * 27 + "     cov/width" * len(METHOD_ORDER)
    return f"{'distribution':<15}{'n':>5} {'bias':>6}{names}\n{units}"


def summarise(rows: list[dict[str, Any]], confidence: float) -> list[dict[str, Any]]:
    out = []
    for m in METHOD_ORDER:
        cov = np.array([r["coverage"][m] for r in rows])
        rel = np.array([r["width"][m] / r["width"][f"smoothed@{DEFAULT_FACTOR:g}"] for r in rows])
        out.append(
            {
                "method": m,
                "mean_abs_error": float(np.mean(np.abs(cov - confidence))),
                "min_coverage": float(cov.min()),
                "mean_coverage": float(cov.mean()),
                "cells_below_0.85": int(np.sum(cov < 0.85)),
                "width_vs_default": float(np.exp(np.mean(np.log(rel)))),
            }
        )
    return out


# ------------------------------------------------------------------ gap


def gap_coverage(
    sizes: list[int], reps: int, n_bootstrap: int, confidence: float, seed: int
) -> list[dict[str, Any]]:
    scenarios = [(f"sd 0.5/1/2, n={n} each", (0.5, 1.0, 2.0), (n, n, n)) for n in sizes]
    scenarios.append(("sd 0.5/1/2, n=25/100/400", (0.5, 1.0, 2.0), (25, 100, 400)))
    scenarios.append(("sd 2/1/0.5, n=25/100/400", (2.0, 1.0, 0.5), (25, 100, 400)))
    scenarios += [(f"identical N(0,1), n={n} each", (1.0, 1.0, 1.0), (n, n, n)) for n in sizes[:2]]
    rows = []
    for s_index, (label, sds, ns) in enumerate(scenarios):
        truth = math.log(max(sds) / min(sds))
        rng = np.random.default_rng([seed, 99, s_index])
        hits: dict[str, list[bool]] = {m: [] for m in bias_module.CI_METHODS}
        widths: dict[str, list[float]] = {m: [] for m in bias_module.CI_METHODS}
        started = time.perf_counter()
        for rep in range(reps):
            frame = pd.DataFrame(
                {
                    "g": np.repeat(["a", "b", "c"], ns),
                    "y": np.concatenate([rng.normal(0.0, sd, n) for sd, n in zip(sds, ns)]),
                }
            )
            for method in bias_module.CI_METHODS:
                s = bias_report(
                    frame, "g", "y", n_bootstrap=n_bootstrap, confidence=confidence,
                    ci_method=method, seed=rep,
                ).scores  # fmt: skip
                lo, hi = s["entropy_gap_ci_low"], s["entropy_gap_ci_high"]
                hits[method].append(lo <= truth <= hi)
                widths[method].append(hi - lo)
        row = {
            "scenario": label,
            "true_gap": truth,
            "coverage": {m: float(np.mean(v)) for m, v in hits.items()},
            "width": {m: float(np.mean(v)) for m, v in widths.items()},
            "seconds": time.perf_counter() - started,
        }
        rows.append(row)
        cells = "".join(
            f"  {row['coverage'][m]:5.2f}/{row['width'][m]:<5.2f}" for m in bias_module.CI_METHODS
        )
        print(f"{label:<32}{truth:6.3f}{cells}", flush=True)
    return rows


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="30 samples per cell, 200 resamples")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write JSON here")
    parser.add_argument("--reps", type=int, default=None, help="samples per cell (default 200)")
    parser.add_argument("--bootstrap", type=int, default=None, help="resamples (default 500)")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--sizes", default=None, help="comma-separated n (default 8,25,...,1500)")
    parser.add_argument("--dists", default=None, help="comma-separated: " + ",".join(DISTRIBUTIONS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-gap", action="store_true", help="skip the entropy_gap section")
    args = parser.parse_args(argv)

    reps = args.reps or (30 if args.quick else 200)
    n_bootstrap = args.bootstrap or (200 if args.quick else 500)
    sizes = [int(v) for v in args.sizes.split(",")] if args.sizes else list(SIZES)
    dists = args.dists.split(",") if args.dists else list(DISTRIBUTIONS)
    unknown = [d for d in dists if d not in DISTRIBUTIONS]
    if unknown:
        parser.error(f"unknown distribution(s) {unknown}; choose from {list(DISTRIBUTIONS)}")

    started = time.perf_counter()
    print(
        f"Coverage of the true entropy by nominal {args.confidence:.0%} intervals: "
        f"{reps} samples per cell, {n_bootstrap} resamples, seed {args.seed}; "
        f"shipped default: smoothed@{DEFAULT_FACTOR:g}"
    )
    print(_header())
    rows = per_group_coverage(dists, sizes, reps, n_bootstrap, args.confidence, args.seed)
    summary = summarise(rows, args.confidence)
    print("\nsummary over all cells (width_vs_default: geometric mean of width / smoothed@"
          f"{DEFAULT_FACTOR:g} width)")
    print(
        f"{'method':<15}{'mean|cov-nom|':>14}{'min cov':>9}{'mean cov':>9}{'<0.85':>7}"
        f"{'width ratio':>12}"
    )
    for s in summary:
        print(
            f"{s['method']:<15}{s['mean_abs_error']:>14.3f}{s['min_coverage']:>9.2f}"
            f"{s['mean_coverage']:>9.3f}{s['cells_below_0.85']:>7d}{s['width_vs_default']:>12.2f}"
        )

    gap_rows: list[dict[str, Any]] = []
    if not args.no_gap:
        gap_sizes = [n for n in sizes if 25 <= n <= 400] or sizes[:1]
        gap_reps = max(10, reps // 2)
        print(
            f"\nentropy_gap interval from bias_report ({gap_reps} data sets per scenario): "
            "coverage/width per ci_method " + ", ".join(bias_module.CI_METHODS)
        )
        gap_rows = gap_coverage(gap_sizes, gap_reps, n_bootstrap, args.confidence, args.seed)

    elapsed = time.perf_counter() - started
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"\n{elapsed:.0f} s; load average {load}")
    if args.json:
        atomic_write_json(
            args.json,
            {
                "benchmark": "bias_coverage",
                "argv": sys.argv[1:] if argv is None else argv,
                "confidence": args.confidence,
                "reps": reps,
                "n_bootstrap": n_bootstrap,
                "seed": args.seed,
                "default_smoothing_factor": DEFAULT_FACTOR,
                "per_group": rows,
                "summary": summary,
                "gap": gap_rows,
                "seconds": elapsed,
                "load_average": load,
                "python": platform.python_version(),
                "packages": package_versions(),
            },
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
