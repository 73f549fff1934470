"""The experiment's headline score: the mean entropy deficit D per run and paired between strategies.

D (nats; lower = fairer) is :func:`etal.bias.scores.entropy_deficit` of the group
entropies after every acquisition (``entropy_deficit`` in ``bias_summary.csv``). Per run
(:data:`QUALITY_COLUMNS`, ``quality.csv``): D at the start and after the budget, the area
under the D curve and the picks needed to reach random's final D on the same split
(:func:`etal.evaluation.run_metrics`). Between strategies (``quality_paired.csv``): the
compared strategy (by default the registry's default strategy) minus every other one,
paired by split seed, with a t-interval (:func:`etal.evaluation.paired_by_split`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .outputs import QUALITY_COLUMNS, QUALITY_PAIRED_COLUMNS

#: The per-run scores compared between strategies, paired by split seed.
_PAIRED_SCORES = ("final_D", "auc_D")


def _quality_scores(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    strategies: Sequence[str],
    focus: str,
    budget: int,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Per-run quality table, ``focus`` − every other strategy paired by split, and a summary dict.

    ``summary``: :func:`etal.evaluation.summarise_bias_trajectory` (``iteration`` =
    acquisitions so far); ``runs``: ``runs.csv`` (strategy, seed, split_seed, n_acquired).
    A run that stopped early keeps its last D up to ``budget``.
    """
    from ..evaluation import paired_by_split, run_metrics

    keys = runs[["strategy", "seed", "split_seed", "n_acquired"]]
    curves = summary.merge(
        keys, on=["strategy", "seed"], how="left", validate="many_to_one"
    )
    metrics = run_metrics(
        curves,
        run=("strategy", "seed", "split_seed"),
        split=("split_seed",),
        budget=budget,
        acquisition="iteration",
    )
    per_run = metrics.merge(keys, on=["strategy", "seed", "split_seed"], how="left")[
        list(QUALITY_COLUMNS)
    ]

    rows = []
    for other in strategies:
        if (
            other == focus
            or focus not in set(per_run["strategy"])
            or other not in set(per_run["strategy"])
        ):
            continue
        for column in _PAIRED_SCORES:
            rows.append(
                paired_by_split(per_run, column, focus, other, confidence=confidence)
            )
    paired = pd.DataFrame(rows, columns=list(QUALITY_PAIRED_COLUMNS))

    per_strategy: dict[str, Any] = {}
    for strategy in strategies:
        block = per_run[per_run["strategy"] == strategy]
        if block.empty:
            continue
        picks = block["picks_to_random"].to_numpy(dtype=float)
        per_strategy[strategy] = {
            "runs": len(block),
            "splits": int(block["split_seed"].nunique()),
            "D_start": float(block["D_start"].mean()),
            "final_D": float(block["final_D"].mean()),
            "auc_D": float(block["auc_D"].mean()),
            "picks_to_random_median": float(np.median(picks[np.isfinite(picks)]))
            if np.isfinite(picks).any()
            else math.nan,
            "never_reached_random": int((~np.isfinite(picks)).sum()),
        }
    info = {
        "strategy": focus,
        "budget": int(budget),
        "confidence": confidence,
        "per_strategy": per_strategy,
        "paired": paired.to_dict("records"),
    }
    return per_run, paired, info
