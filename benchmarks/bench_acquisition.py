"""Benchmark of the acquisition: expected entropy by quadrature vs Monte Carlo.

Usage::

    python benchmarks/bench_acquisition.py [--quick] [--json PATH] [--trials N]

1. Speed on one GP posterior: 200 labelled values of a skewed target (formation-energy
   like, eV/atom), 300 candidates whose (mu, sigma) come from a scikit-learn GP fitted on
   3 features. Times ``estimator="quadrature"`` against ``estimator="mc"``
   (n_samples=1000, the paper's recipe, here vectorised with the exact O(1) insertion
   update) and against the paper's literal recipe (every draw appended and the entropy
   re-estimated from scratch; timed on a few candidates and scaled). Best of several
   runs, CPU seconds (the machine is shared; wall seconds are printed too). The same is
   repeated for larger pools, where the quadrature's fixed cost (tables built once per
   call, O(n)) is amortised.
2. Picks: over ``--trials`` random posteriors, each candidate is scored by the EI of a
   200,000-draw Monte Carlo reference of its entropy mean/std (and, separately, of an
   exact piecewise integration); for the quadrature and the 1000-draw Monte Carlo we
   report the reference EI of their argmax pick vs the best (regret), how often they
   pick the reference's best candidate and how often they agree with each other.
3. Large pool: 1,000,000 candidates x 2,000 labelled values, quadrature only: time,
   peak traced memory (tracemalloc: NumPy allocations) and peak RSS, and the accuracy of
   300 random candidates against exact piecewise integration.

``--quick`` runs a reduced version (fewer trials, a 100,000-candidate large pool,
50,000-draw references).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import tracemalloc
from typing import Any, Callable

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from etal.acquisition import (
    DEFAULT_N_NODES,
    _exact_moments,  # exact piecewise integration: the independent reference
    _make_evaluator,
    entropy_after_insertion,
    expected_entropy,
    expected_improvement,
)
from etal.entropy import data_resolution, differential_entropy, entropy_of_sorted
from etal.provenance import atomic_write_json, package_versions


def skewed_target(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Formation-energy-like values (eV/atom): a long tail of unstable compounds."""
    latent = np.sin(1.3 * X[:, 0]) + 0.6 * X[:, 1] + 0.3 * X[:, 2] ** 2
    return -1.2 + 0.45 * np.exp(0.7 * latent) + 0.03 * rng.normal(size=X.shape[0])


def gp_posterior(seed: int, n_labelled: int = 200, n_candidates: int = 300):
    """Labelled values and a scikit-learn GP's posterior (mu, sigma) for the pool."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_labelled + n_candidates, 3))
    y = skewed_target(X, rng)
    kernel = ConstantKernel(0.2) * RBF(np.ones(3)) + WhiteKernel(1e-3)
    gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=seed)
    gp.fit(X[:n_labelled], y[:n_labelled])
    mu, sigma = gp.predict(X[n_labelled:], return_std=True)
    return y[:n_labelled], mu, sigma


def crowded_posterior(seed: int, n_labelled: int = 200, n_candidates: int = 300):
    """A pool of similar candidates: mu spread over the labelled range, sigma within a
    narrow band, so that many candidates have close EI (a hard case for noisy scores)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_labelled, 3))
    labelled = skewed_target(X, rng)
    sd = labelled.std()
    mu = np.quantile(labelled, rng.uniform(0.0, 1.0, n_candidates)) + 0.05 * sd * rng.normal(size=n_candidates)
    sigma = sd * rng.uniform(0.08, 0.12, n_candidates)
    return labelled, mu, sigma


def best_time(step: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Smallest CPU and wall seconds over ``repeats`` runs."""
    cpu, wall = np.inf, np.inf
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        step()
        cpu, wall = min(cpu, time.process_time() - c0), min(wall, time.perf_counter() - w0)
    return cpu, wall


def reference_moments(labelled: np.ndarray, mu: np.ndarray, sigma: np.ndarray, draws: int, seed: int):
    """Monte Carlo reference: ``draws`` draws per candidate, exact entropy of each."""
    x = np.sort(labelled)
    rng = np.random.default_rng(seed)
    mean, std = np.empty(mu.size), np.empty(mu.size)
    for c in range(mu.size):
        h = entropy_after_insertion(x, mu[c] + sigma[c] * rng.standard_normal(draws))
        mean[c], std[c] = h.mean(), h.std()
    return mean, std


def paper_recipe_seconds(labelled: np.ndarray, mu: np.ndarray, sigma: np.ndarray, n_samples: int) -> float:
    """CPU seconds per candidate of the paper's recipe: append each draw, re-estimate."""
    x = np.asarray(labelled)
    rng = np.random.default_rng(0)
    c0 = time.process_time()
    for c in range(mu.size):
        draws = mu[c] + sigma[c] * rng.standard_normal(n_samples)
        rows = np.concatenate((np.broadcast_to(x, (n_samples, x.size)), draws[:, None]), axis=1)
        h = entropy_of_sorted(np.sort(rows, axis=1), "auto", resolution=data_resolution(np.sort(x)))
        h.mean(), h.std()
    return (time.process_time() - c0) / mu.size


def section_speed(pools: list[int], repeats: int) -> dict:
    labelled, mu, sigma = gp_posterior(seed=0)
    rows = []
    rng = np.random.default_rng(1)
    paper = paper_recipe_seconds(labelled, mu[:5], sigma[:5], 1000)
    for pool in pools:
        pick = rng.integers(0, mu.size, pool) if pool != mu.size else np.arange(mu.size)
        m = mu[pick] + (0 if pool == mu.size else 0.01 * rng.normal(size=pool))
        s = sigma[pick]
        q_cpu, q_wall = best_time(lambda: expected_entropy(labelled, m, s), repeats)
        mc_repeats = max(1, repeats // 2) if pool <= 3000 else 1
        mc_cpu, mc_wall = best_time(lambda: expected_entropy(labelled, m, s, "mc", seed=0), mc_repeats)
        rows.append({"candidates": pool, "quadrature_cpu_s": q_cpu, "quadrature_wall_s": q_wall,
                     "mc1000_cpu_s": mc_cpu, "mc1000_wall_s": mc_wall, "ratio_mc_over_quadrature": mc_cpu / q_cpu,
                     "paper_recipe_cpu_s_estimated": paper * pool, "ratio_paper_over_quadrature": paper * pool / q_cpu})
    return {"labelled": int(labelled.size), "sigma_range": [float(sigma.min()), float(sigma.max())],
            "labelled_std": float(labelled.std()), "paper_recipe_cpu_s_per_candidate": paper, "rows": rows}


def section_picks(trials: int, reference_draws: int, posterior: Callable) -> dict:
    per_trial = []
    for trial in range(trials):
        labelled, mu, sigma = posterior(seed=1000 + trial)
        incumbent = differential_entropy(labelled)
        q_mean, q_std = expected_entropy(labelled, mu, sigma)
        m_mean, m_std = expected_entropy(labelled, mu, sigma, "mc", n_samples=1000, seed=trial)
        r_mean, r_std = reference_moments(labelled, mu, sigma, reference_draws, seed=10_000 + trial)
        evaluator = _make_evaluator(np.sort(labelled), "auto", data_resolution(np.sort(labelled)))
        e_mean, e_var = _exact_moments(evaluator, mu, sigma)
        e_std = np.sqrt(e_var)
        ei = {name: expected_improvement(a, b, incumbent)
              for name, (a, b) in {"quadrature": (q_mean, q_std), "mc1000": (m_mean, m_std),
                                   "reference_mc": (r_mean, r_std), "exact": (e_mean, e_std)}.items()}
        picks = {name: int(np.argmax(v)) for name, v in ei.items()}
        row = {"trial": trial, "incumbent": incumbent, "picks": picks,
               "ei_best_reference_mc": float(ei["reference_mc"].max()),
               "ei_best_exact": float(ei["exact"].max())}
        for name in ("quadrature", "mc1000"):
            row[f"regret_{name}_vs_reference_mc"] = float(ei["reference_mc"].max() - ei["reference_mc"][picks[name]])
            row[f"regret_{name}_vs_exact"] = float(ei["exact"].max() - ei["exact"][picks[name]])
        row["max_abs_error_mean"] = {"quadrature_vs_exact": float(np.abs(q_mean - e_mean).max()),
                                     "mc1000_vs_exact": float(np.abs(m_mean - e_mean).max()),
                                     "reference_mc_vs_exact": float(np.abs(r_mean - e_mean).max())}
        row["max_abs_error_std"] = {"quadrature_vs_exact": float(np.abs(q_std - e_std).max()),
                                    "mc1000_vs_exact": float(np.abs(m_std - e_std).max()),
                                    "reference_mc_vs_exact": float(np.abs(r_std - e_std).max())}
        row["median_entropy_std"] = float(np.median(e_std))
        per_trial.append(row)

    def summary(name: str, against: str) -> dict:
        regrets = np.array([r[f"regret_{name}_vs_{against}"] for r in per_trial])
        best = np.array([r[f"ei_best_{against}"] for r in per_trial])
        return {"mean_regret": float(regrets.mean()), "max_regret": float(regrets.max()),
                "mean_relative_regret": float(np.mean(regrets / best)),
                "picked_best": float(np.mean([r["picks"][name] == r["picks"][against] for r in per_trial]))}

    return {"trials": trials, "reference_draws": reference_draws,
            "quadrature_vs_reference_mc": summary("quadrature", "reference_mc"),
            "mc1000_vs_reference_mc": summary("mc1000", "reference_mc"),
            "quadrature_vs_exact": summary("quadrature", "exact"),
            "mc1000_vs_exact": summary("mc1000", "exact"),
            "same_pick_quadrature_mc1000": float(np.mean([r["picks"]["quadrature"] == r["picks"]["mc1000"]
                                                          for r in per_trial])),
            "same_pick_reference_mc_exact": float(np.mean([r["picks"]["reference_mc"] == r["picks"]["exact"]
                                                           for r in per_trial])),
            "per_trial": per_trial}


def section_large(n_candidates: int, n_labelled: int) -> dict:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(n_labelled, 3))
    labelled = skewed_target(X, rng)
    sd = labelled.std()
    mu = np.quantile(labelled, rng.uniform(0.01, 0.99, n_candidates)) + 0.1 * sd * rng.normal(size=n_candidates)
    sigma = sd * rng.uniform(0.03, 0.6, n_candidates)
    tracemalloc.start()
    c0, w0 = time.process_time(), time.perf_counter()
    mean, std = expected_entropy(labelled, mu, sigma)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    check = rng.choice(n_candidates, 300, replace=False)
    evaluator = _make_evaluator(np.sort(labelled), "auto", data_resolution(np.sort(labelled)))
    e_mean, e_var = _exact_moments(evaluator, mu[check], sigma[check])
    sample = check[:200]
    mc_cpu, _ = best_time(lambda: expected_entropy(labelled, mu[sample], sigma[sample], "mc", seed=0), 1)
    return {"candidates": n_candidates, "labelled": n_labelled, "cpu_s": cpu, "wall_s": wall,
            "peak_traced_mb": peak, "max_abs_error_mean": float(np.abs(mean[check] - e_mean).max()),
            "max_abs_error_std": float(np.abs(std[check] - np.sqrt(e_var)).max()),
            "median_entropy_std": float(np.median(std)),
            "mc1000_cpu_s_estimated": mc_cpu / sample.size * n_candidates}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced run (~1 minute)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--trials", type=int, help="posteriors in the pick comparison (default 20, quick 4)")
    args = parser.parse_args(argv)
    quick = args.quick
    trials = args.trials or (4 if quick else 20)
    results: dict[str, Any] = {
        "python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(), "versions": package_versions(), "quick": quick,
        "n_nodes": DEFAULT_N_NODES,
    }

    speed = section_speed([300, 3000] if quick else [300, 3000, 30000], repeats=3 if quick else 5)
    results["speed"] = speed
    print(f"\n1. Speed: {speed['labelled']} labelled, GP posterior sigma "
          f"{speed['sigma_range'][0]:.3f}..{speed['sigma_range'][1]:.3f} eV/atom (labelled std "
          f"{speed['labelled_std']:.3f}); best CPU seconds")
    print(f"{'candidates':>10} {'quadrature':>11} {'mc (1000)':>10} {'mc/quad':>8} "
          f"{'paper recipe':>13} {'paper/quad':>10}")
    for r in speed["rows"]:
        print(f"{r['candidates']:>10} {r['quadrature_cpu_s']:>11.4f} {r['mc1000_cpu_s']:>10.4f} "
              f"{r['ratio_mc_over_quadrature']:>7.1f}x {r['paper_recipe_cpu_s_estimated']:>13.2f} "
              f"{r['ratio_paper_over_quadrature']:>9.0f}x")

    results["picks"] = {}
    for scenario, posterior in (("gp", gp_posterior), ("crowded", crowded_posterior)):
        picks = section_picks(trials, 50_000 if quick else 200_000, posterior)
        results["picks"][scenario] = picks
        print(f"\n2{'ab'[scenario == 'crowded']}. Picks, {scenario} posteriors ({trials} trials, 200 labelled, "
              f"300 candidates): EI regret of the argmax pick, scored by a {picks['reference_draws']}-draw "
              "MC reference and by exact integration")
        print(f"{'estimator':>12} {'scored by':>13} {'mean regret':>12} {'max regret':>11} {'rel. regret':>11} "
              f"{'picked best':>11}")
        for key in ("quadrature_vs_reference_mc", "mc1000_vs_reference_mc", "quadrature_vs_exact", "mc1000_vs_exact"):
            name, against = key.split("_vs_")
            summary = picks[key]
            print(f"{name:>12} {against:>13} {summary['mean_regret']:>12.2e} {summary['max_regret']:>11.2e} "
                  f"{summary['mean_relative_regret']:>11.2e} {summary['picked_best']:>11.0%}")
        print(f"same pick quadrature vs mc1000: {picks['same_pick_quadrature_mc1000']:.0%}; "
              f"reference MC vs exact: {picks['same_pick_reference_mc_exact']:.0%}")
        trial_rows = picks["per_trial"]
        errors = {k: max(r["max_abs_error_mean"][k] for r in trial_rows) for k in trial_rows[0]["max_abs_error_mean"]}
        errors_std = {k: max(r["max_abs_error_std"][k] for r in trial_rows) for k in trial_rows[0]["max_abs_error_std"]}
        picks["max_abs_error_mean"], picks["max_abs_error_std"] = errors, errors_std
        print("max |error| vs exact (nats), mean / std: " + "; ".join(
            f"{k.replace('_vs_exact', '')} {errors[k]:.1e} / {errors_std[k]:.1e}" for k in errors)
            + f" (median entropy std {np.median([r['median_entropy_std'] for r in trial_rows]):.1e})")

    large = section_large(100_000 if quick else 1_000_000, 2000)
    results["large_pool"] = large
    print(f"\n3. Large pool: {large['candidates']} candidates x {large['labelled']} labelled, quadrature: "
          f"{large['cpu_s']:.2f} s CPU ({large['wall_s']:.2f} s wall), peak traced memory "
          f"{large['peak_traced_mb']:.0f} MB; max |error| vs exact on 300 candidates: mean "
          f"{large['max_abs_error_mean']:.1e}, std {large['max_abs_error_std']:.1e} nats "
          f"(median entropy std {large['median_entropy_std']:.1e}); mc1000 would take "
          f"~{large['mc1000_cpu_s_estimated']:.0f} s CPU")
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["load_average_end"] = os.getloadavg()
    print(f"peak RSS of the benchmark process: {results['peak_rss_mb']:.0f} MB; load average "
          f"{results['load_average_start'][0]:.1f} -> {results['load_average_end'][0]:.1f}")
    if args.json:
        atomic_write_json(args.json, results)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
