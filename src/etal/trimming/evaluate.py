"""Does trimming hurt what models learn? Trimmed vs random vs stratified vs full sets.

The one module of :mod:`etal.trimming` that calls :mod:`etal.evaluation` (the downstream
models and the paired statistics), so that a move of that package is one edit here.

Protocol (:func:`compare_subsets`):

1. hold out ``test_fraction`` of each group's labelled rows as the common test set
   (seeded; groups with fewer than 10 rows stay whole in the training pool);
2. trim the training pool to ``keep`` rows (:func:`etal.trimming.api.trim`) -> ``trimmed``;
3. for each seed: a uniformly random subset of the same size -> ``random``, and a
   group-stratified one (each group's share kept, largest remainder, random within a
   group) -> ``stratified``; the whole pool -> ``full``;
4. train every downstream model (:func:`etal.evaluation.evaluate_downstream`; the model's
   seed is the evaluation seed) on each set, score R² and MAE (target unit) on the test
   set; summarise per set and model the mean over seeds with a 95 % t-interval, and
   compare ``trimmed`` with each other set paired by seed
   (:func:`etal.evaluation.paired_comparison`);
5. the bias scores (D, gap, lowest entropy; nats) of every set, with the mean and a
   95 % t-interval over seeds for the random and stratified sets.

The trimmed and full sets do not change with the seed; their intervals reflect only the
models' seeds. The random and stratified sets change with it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..bias import bias_report
from ..data import Dataset, load_data
from ..errors import InputError
from ..evaluation import MODEL_NAMES, evaluate_downstream, paired_comparison
from .api import bias_scores, resolve_keep, trim

__all__ = ["SUBSETS", "SubsetComparison", "check_evaluation", "compare_subsets", "save_comparison", "stratified_subset"]

#: The training sets compared, in display order.
SUBSETS: tuple[str, ...] = ("trimmed", "random", "stratified", "full")
_SMALL_GROUP = 10  # groups smaller than this are not split into the test set


@dataclass
class SubsetComparison:
    """Result of :func:`compare_subsets`.

    ``downstream``: one row per (subset, model, seed) fit (columns of
    :data:`etal.evaluation.DOWNSTREAM_COLUMNS`, ``strategy`` = the subset).
    ``summary``: per subset and model (plus ``model == "mean of models"``): ``n_train``,
    mean R² and MAE over seeds with 95 % t-intervals. ``paired``: ``trimmed`` minus each
    other subset, paired by seed, per model and metric. ``bias``: per subset ``n``,
    D, gap and lowest entropy (nats; mean over seeds and 95 % t-interval).
    """

    downstream: pd.DataFrame
    summary: pd.DataFrame
    paired: pd.DataFrame
    bias: pd.DataFrame
    bias_by_seed: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def verdict_lines(self) -> list[str]:
        """Plain statements: which subset has the lowest D and the best R², and by how much."""
        lines = []
        bias = self.bias.set_index("subset")
        d_trim = bias.loc["trimmed", "deficit_mean"]
        for other in ("random", "stratified"):
            row = bias.loc[other]
            below = self.bias_by_seed.query("subset == @other")["deficit"] > d_trim
            lines.append(
                f"D: trimmed {d_trim:.4f} vs {other} {row['deficit_mean']:.4f} "
                f"[{row['deficit_ci_low']:.4f}, {row['deficit_ci_high']:.4f}] nats "
                f"(trimmed lower in {int(below.sum())}/{below.size} seeds)"
            )
        mean = self.summary[self.summary["model"] == "mean of models"].set_index("subset")
        same_size = mean.loc[[s for s in SUBSETS[:3] if s in mean.index], "r2_mean"]
        lines.append(
            "R² (mean of models): "
            + ", ".join(f"{s} {mean.loc[s, 'r2_mean']:.4f}" for s in SUBSETS if s in mean.index)
            + f"; best of the same-size subsets: {same_size.idxmax()}"
        )
        pm = self.paired[(self.paired["model"] == "mean of models") & (self.paired["metric"] == "r2")]
        for _, row in pm.iterrows():
            lines.append(
                f"R² trimmed - {row['b']}: {row['mean_diff']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] "
                f"(trimmed better in {row['a_better']:.0%} of seeds)"
            )
        return lines


def _t_mean(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan,) * 3
    mean = float(v.mean())
    if v.size < 2 or np.ptp(v) == 0:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1)) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return mean, mean - half, mean + half


def check_evaluation(
    dataset: Dataset,
    *,
    seeds: int,
    test_fraction: float,
    models: Sequence[str] | None,
    keep: float | None = None,
    seed: int = 0,
) -> None:
    """Raise :class:`InputError` for an evaluation request that cannot run (before any work).

    With ``keep``, also check it against the training pool that the split leaves.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 2:
        raise InputError(f"the evaluation needs at least 2 seeds for intervals, got {seeds!r}")
    if not 0 < float(test_fraction) < 1:
        raise InputError(f"the test fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    unknown = [m for m in (models or []) if m not in MODEL_NAMES]
    if unknown:
        raise InputError(f"unknown downstream model(s) {unknown}; choose from {list(MODEL_NAMES)}")
    if not dataset.feature_cols:
        raise InputError(f"{dataset.source} has no feature columns; the downstream models need some")
    if keep is not None:
        table = dataset.labelled.reset_index(drop=True)
        test = _split(table, dataset.group_col, float(test_fraction), np.random.default_rng(seed))
        _pool_keep(keep, int((~test).sum()), int(test.sum()))


def _pool_keep(keep: float, n_pool: int, n_test: int) -> int:
    try:
        return resolve_keep(keep, n_pool)
    except InputError as exc:
        raise InputError(
            f"for the evaluation, keep counts rows of the training pool ({n_pool} labelled "
            f"rows once {n_test} are held out for testing): {exc}"
        ) from exc


def _split(table: pd.DataFrame, group_col: str, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean test mask: ``fraction`` of each group of at least 10 rows, at random."""
    test = np.zeros(len(table), dtype=bool)
    for idx in table.groupby(group_col, sort=True).indices.values():
        if idx.size >= _SMALL_GROUP:
            k = round(fraction * idx.size)
            test[rng.choice(idx, size=k, replace=False)] = True
    return test


def stratified_subset(groups: np.ndarray, n_keep: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of a group-stratified random subset of ``n_keep`` rows (largest remainder)."""
    labels, codes = np.unique(groups, return_inverse=True)
    sizes = np.bincount(codes)
    share = sizes * n_keep / sizes.sum()
    take = np.floor(share).astype(int)
    extra = n_keep - int(take.sum())
    take[np.argsort(-(share - take), kind="stable")[:extra]] += 1
    picks = [rng.choice(np.flatnonzero(codes == g), size=int(take[g]), replace=False) for g in range(labels.size)]
    return np.sort(np.concatenate(picks)) if picks else np.empty(0, dtype=int)


def compare_subsets(
    data: Dataset | pd.DataFrame | str | Any,
    keep: float,
    *,
    seeds: int = 5,
    test_fraction: float = 0.2,
    models: Sequence[str] | None = None,
    n_jobs: int = -1,
    min_per_group: int | Mapping[str, int] | None = None,
    keep_ids: Iterable | None = None,
    coverage_weight: float = 0.0,
    method: str = "auto",
    seed: int = 0,
    group_col: str | None = None,
    target_col: str | None = None,
    id_col: str | None = None,
    feature_cols: str | list[str] | None = None,
    progress: bool = True,
) -> SubsetComparison:
    """Train the downstream models on trimmed, random, stratified and full sets (module docstring).

    ``keep`` is a count or a fraction of the *training pool* (the labelled rows minus the
    test set). ``seeds`` (>= 2) seeds 0..seeds-1 of the models and of the random and
    stratified subsets; ``seed`` seeds the test split. The other arguments are those of
    :func:`etal.trimming.api.trim`. R² is dimensionless; MAE is in the target's unit.
    """
    dataset = data if isinstance(data, Dataset) else load_data(
        data, group_col=group_col, target_col=target_col, id_col=id_col, feature_cols=feature_cols
    )
    check_evaluation(dataset, seeds=seeds, test_fraction=test_fraction, models=models)
    g, y = dataset.group_col, dataset.target_col
    table = dataset.labelled.reset_index(drop=True)
    test_mask = _split(table, g, float(test_fraction), np.random.default_rng(seed))
    test, pool = table.loc[test_mask].reset_index(drop=True), table.loc[~test_mask].reset_index(drop=True)
    n_keep = _pool_keep(keep, len(pool), len(test))
    pool_ids = set(pool[dataset.id_col].astype(str).str.strip())
    keep_ids = None if keep_ids is None else [i for i in keep_ids if str(i).strip() in pool_ids]
    trimmed = trim(
        Dataset(pool, g, y, dataset.id_col, list(dataset.feature_cols), f"{dataset.source} (training pool)", dataset.sha256),
        n_keep, min_per_group=min_per_group, keep_ids=keep_ids, coverage_weight=coverage_weight,
        method=method, progress=progress,
    ).kept  # fmt: skip

    seed_list = list(range(int(seeds)))
    groups = pool[g].astype(str).to_numpy()
    random_sets, strat_sets = {}, {}
    for s in seed_list:
        rng = np.random.default_rng([seed, s])
        random_sets[s] = pool.iloc[np.sort(rng.choice(len(pool), size=n_keep, replace=False))]
        strat_sets[s] = pool.iloc[stratified_subset(groups, n_keep, rng)]
    training = {"trimmed": trimmed, "random": random_sets, "stratified": strat_sets, "full": pool}

    # ---- bias of each set (per seed for the seed-dependent ones)
    bias_rows = []
    for name, value in training.items():
        for s in seed_list if isinstance(value, dict) else [None]:
            frame = value[s] if s is not None else value
            scores = bias_scores(bias_report(frame, g, y, method=method, n_bootstrap=0))
            bias_rows.append({"subset": name, "seed": s, "n": len(frame), "deficit": scores["entropy_deficit"],
                              "gap": scores["entropy_gap"], "lowest": scores["entropy_lowest"]})
    bias_by_seed = pd.DataFrame(bias_rows)
    bias = []
    for name in SUBSETS:
        part = bias_by_seed[bias_by_seed["subset"] == name]
        row: dict[str, Any] = {"subset": name, "n": int(part["n"].iloc[0])}
        for key in ("deficit", "gap", "lowest"):
            row[f"{key}_mean"], row[f"{key}_ci_low"], row[f"{key}_ci_high"] = _t_mean(part[key].to_numpy())
        bias.append(row)
    bias = pd.DataFrame(bias)

    # ---- downstream models
    downstream = evaluate_downstream(
        training, test, features=list(dataset.feature_cols), targets=[y], models=models,
        seeds=seed_list, n_jobs=n_jobs, progress=progress,
    )  # fmt: skip
    downstream = downstream[downstream["scope"] == "all"]
    per_seed_mean = downstream.groupby(["strategy", "target", "seed", "scope"], as_index=False)[["r2", "mae"]].mean()
    per_seed_mean["model"] = "mean of models"
    both = pd.concat([downstream, per_seed_mean[downstream.columns]], ignore_index=True)
    summary = []
    for (name, model), part in both.groupby(["strategy", "model"], sort=False):
        row = {"subset": name, "model": model, "n_train": int(bias.set_index("subset").loc[name, "n"])}
        for metric in ("r2", "mae"):
            row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = _t_mean(part[metric].to_numpy())
        summary.append(row)
    summary = pd.DataFrame(summary)
    summary["order"] = summary["subset"].map({s: i for i, s in enumerate(SUBSETS)})
    summary = summary.sort_values(["model", "order"], kind="stable").drop(columns="order").reset_index(drop=True)
    paired = pd.concat(
        [paired_comparison(both, "trimmed", other, metric=metric)
         for other in SUBSETS[1:] for metric in ("r2", "mae")],
        ignore_index=True,
    )  # fmt: skip
    settings = {
        "source": dataset.source, "group": g, "target": y, "features": list(dataset.feature_cols),
        "keep": keep, "n_keep": n_keep, "n_pool": len(pool), "n_test": len(test), "seeds": seed_list,
        "seed": seed, "test_fraction": float(test_fraction), "models": list(models or MODEL_NAMES),
        "coverage_weight": coverage_weight, "min_per_group": min_per_group, "method": method,
    }  # fmt: skip
    return SubsetComparison(both, summary, paired, bias, bias_by_seed, settings)


def save_comparison(comparison: SubsetComparison, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``downstream.csv``, ``summary.csv``, ``paired.csv``, ``bias_subsets.csv``,
    ``bias_subsets_by_seed.csv`` and ``evaluation.json`` into ``out_dir``."""
    from ..provenance import atomic_write_json, atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("downstream.csv", comparison.downstream), ("summary.csv", comparison.summary),
                        ("paired.csv", comparison.paired), ("bias_subsets.csv", comparison.bias),
                        ("bias_subsets_by_seed.csv", comparison.bias_by_seed)):
        written.append(atomic_write_text(out / name, frame.to_csv(index=False)))
    written.append(atomic_write_json(out / "evaluation.json", {
        "settings": comparison.settings, "verdict": comparison.verdict_lines(),
        "bias": comparison.bias.to_dict(orient="records"),
        "summary": comparison.summary.to_dict(orient="records"),
    }))  # fmt: skip
    return written
