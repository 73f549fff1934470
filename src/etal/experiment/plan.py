"""Planning the runs of an experiment: which strategy runs on which split with which loop seed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .config import ExperimentConfig, RunConfig

__all__ = ["RunSpec", "plan_runs"]


@dataclass(frozen=True)
class RunSpec:
    """One loop run: a strategy on a split with a loop seed.

    ``seed`` is the value in the tables' ``seed`` column (see the module docstring).
    """

    strategy: str
    seed: int
    split_seed: int
    loop_seed: int


def _is_deterministic(strategy: str, run: RunConfig, labelled: pd.DataFrame, pool: pd.DataFrame, group_col: str) -> bool:
    """Does the strategy make no random choice on this split (so one run per split suffices)?

    ``etal-deficit``, ``etal`` (quadrature) and ``uncertainty`` pick by argmax; they draw at random only in a
    group with pool candidates and fewer than MIN_GP_ROWS labelled rows (no GP yet), and
    ``etal`` with the Monte Carlo estimator and ``etal-paper`` draw their samples from the
    loop's generator.
    """
    from ..strategies import MIN_GP_ROWS

    if strategy in ("uncertainty", "etal-deficit") or (strategy == "etal" and run.estimator == "quadrature"):
        counts = labelled[group_col].astype(str).value_counts()
        pool_groups = set(pool[group_col].astype(str))
        return all(int(counts.get(g, 0)) >= MIN_GP_ROWS for g in pool_groups)
    return False


def plan_runs(config: ExperimentConfig, splits: Mapping[int, Any], group_col: str) -> list[RunSpec]:
    """The runs of an experiment, in report order (strategy order, then seed).

    ``splits`` maps split seed -> :class:`etal.split.Split`. See the module docstring for
    which strategy runs with which seeds.
    """
    specs = []
    if config.split.seeds is not None:
        for strategy in config.run.strategies:
            for s in config.split.seeds:
                specs.append(RunSpec(strategy, s, s, s))
        return specs
    (split_seed, split), = splits.items()
    seeds = config.run_seeds()
    for strategy in config.run.strategies:
        if _is_deterministic(strategy, config.run, split.labelled, split.pool, group_col):
            chosen = seeds[:1]
        else:
            chosen = seeds
        specs += [RunSpec(strategy, s, split_seed, s) for s in chosen]
    return specs


def _effective_jobs(n_jobs: int, n_tasks: int) -> int:
    """Workers actually used for ``n_tasks`` tasks (joblib's conventions for negative ``n_jobs``)."""
    if n_tasks <= 1:
        return 1
    cores = os.cpu_count() or 1
    workers = cores if n_jobs < 0 else n_jobs
    if n_jobs < -1:
        workers = max(1, cores + 1 + n_jobs)  # joblib's convention: -2 = all cores but one
    return max(1, min(workers, n_tasks))


def _split_rules(config: ExperimentConfig) -> dict[str, str] | None:
    """``[split] rules`` as :func:`etal.split.biased_split` takes them."""
    rules = config.split.rules
    if rules == "paper":
        return None  # biased_split: the paper's rules for crystal systems, else none
    if rules == "none":
        return {}
    return dict(rules)

