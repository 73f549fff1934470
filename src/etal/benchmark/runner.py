"""Run strategies x datasets x split seeds x budget through the engine; collect D per acquisition.

Each run is one :class:`etal.engine.ETAL` run on one biased split (:func:`etal.split.biased_split`):
the loop sees the pool without labels and an oracle reveals them (only the clairvoyant
bound is handed the pool's labels). After every acquisition the group entropies are
scored by :mod:`etal.evaluation.quality`. Strategies other than ``etal-paper`` run without
the patience exclusion and the fairness stop, so every run uses its whole budget.

Datasets (:data:`DATASETS`; each ``build(seed)`` returns a fully labelled frame and the
split settings):

* ``oqmd8`` — embedded OQMD-8, formation energy (eV/atom) by crystal system, the paper's
  depletion rules;
* ``oqmd8-volume`` — the same table, target volume per atom (Å^3/atom; features without it),
  depletion of the large volumes of three systems;
* ``synthetic`` — :func:`etal.datasets.synthetic` (6 groups), depletion of one tail of three
  groups; the table is drawn with the split seed;
* ``diabetes`` — scikit-learn's offline diabetes table (442 patients; target: disease
  progression after one year), grouped by sex x age tercile, high progression depleted in
  two groups and low in one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evaluation.quality import (
    BOUND_STRATEGY,
    REFERENCE_STRATEGY,
    area_under_curve,
    pad_curve,
    picks_to_reach,
    run_metrics,
    score_curves,
    share_of_bound,
)

__all__ = [
    "BENCHMARK_STRATEGIES", "DATASETS", "DatasetSpec", "RunRecord", "make_benchmark_strategy", "make_split",
    "quality_tables", "run_grid", "run_one",
]  # fmt: skip


@dataclass(frozen=True)
class DatasetSpec:
    """A benchmark dataset: a fully labelled table, its columns and the biased-split settings."""

    name: str
    build: Callable[[int], pd.DataFrame]
    group_col: str
    target_col: str
    feature_cols: tuple[str, ...]
    rules: Callable[[pd.DataFrame], dict] | None = None  # frame -> {group: condition}; None = paper's
    pool_size: int = 1000
    test_fraction: float = 0.3
    id_col: str = "id"
    note: str = ""


def _oqmd8(seed: int) -> pd.DataFrame:
    from ..datasets import load_dataset

    return load_dataset("oqmd8")


_OQMD_FRACTIONS = tuple(f"frac_{el}" for el in ("Co", "Ni", "W", "Al", "Cr", "Fe", "Ti", "Cu"))


def _quantile_rules(frame: pd.DataFrame, group_col: str, target_col: str, spec: dict) -> dict:
    """{group: "target > q"} from {group: (">" or "<", quantile of the group's target)}."""
    rules = {}
    for g, (op, q) in spec.items():
        v = frame.loc[frame[group_col] == g, target_col].to_numpy(dtype=float)
        rules[g] = f"target {op} {float(np.quantile(v, q)):.10g}"
    return rules


def _synthetic(seed: int) -> pd.DataFrame:
    from ..datasets import synthetic

    return synthetic(n=3000, groups=6, size_skew=0.8, spread_skew=1.0, noise=0.05, seed=seed)


def _diabetes(seed: int) -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    raw = load_diabetes(as_frame=True, scaled=False).frame
    tercile = pd.qcut(raw["age"], 3, labels=["young", "middle", "old"]).astype(str)
    sex = np.where(raw["sex"].to_numpy() == raw["sex"].min(), "s1", "s2")
    frame = raw.drop(columns=["sex"]).rename(columns={"target": "progression"})
    frame.insert(0, "group", [f"{a}-{b}" for a, b in zip(sex, tercile)])
    frame.insert(0, "id", np.arange(len(frame)))
    return frame


DATASETS: dict[str, DatasetSpec] = {
    "oqmd8": DatasetSpec(
        "oqmd8", _oqmd8, "crystal_system", "formation_energy_per_atom",
        _OQMD_FRACTIONS + ("volume_per_atom", "natoms"),
        note="OQMD-8, formation energy (eV/atom) by crystal system; the paper's depletion rules",
    ),
    "oqmd8-volume": DatasetSpec(
        "oqmd8-volume", _oqmd8, "crystal_system", "volume_per_atom", _OQMD_FRACTIONS + ("natoms",),
        rules=lambda f: _quantile_rules(
            f, "crystal_system", "volume_per_atom",
            {"tetragonal": (">", 0.5), "orthorhombic": ("<", 0.5), "cubic": (">", 0.6)},
        ),
        note="OQMD-8, volume per atom (Å^3/atom) by crystal system; large/small volumes of 3 systems depleted",
    ),
    "synthetic": DatasetSpec(
        "synthetic", _synthetic, "group", "target", tuple(f"f{j}" for j in range(8)),
        rules=lambda f: _quantile_rules(f, "group", "target", {"g1": (">", 0.4), "g3": ("<", 0.6), "g4": (">", 0.5)}),
        note="etal.datasets.synthetic(n=3000, groups=6, seed=split seed); one tail of g1, g3, g4 depleted",
    ),
    "diabetes": DatasetSpec(
        "diabetes", _diabetes, "group", "progression",
        ("age", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"),
        rules=lambda f: _quantile_rules(
            f, "group", "progression", {"s1-old": (">", 0.4), "s2-young": (">", 0.4), "s2-middle": ("<", 0.5)},
        ),
        pool_size=120,
        note="scikit-learn diabetes (442 patients, offline), progression by sex x age tercile",
    ),
}


def make_split(dataset: str | DatasetSpec, seed: int):
    """The biased split (:class:`etal.split.Split`) of ``dataset`` for split seed ``seed``."""
    from ..split import biased_split

    spec = DATASETS[dataset] if isinstance(dataset, str) else dataset
    frame = spec.build(seed)
    rules = spec.rules(frame) if spec.rules is not None else None
    return biased_split(
        frame, group_col=spec.group_col, target_col=spec.target_col, rules=rules,
        test_fraction=spec.test_fraction, pool_size=spec.pool_size, seed=seed,
    )


# ------------------------------------------------------------------------- strategies


def _benchmark_strategies() -> tuple[str, ...]:
    from ..strategies import STRATEGIES

    return (BOUND_STRATEGY, *STRATEGIES)


#: Every strategy the benchmark runs by default: the registry's (:data:`etal.strategies.STRATEGIES`)
#: and the clairvoyant bound ``oracle`` (SEES LABELS; benchmarks only, never in ``etal run``).
BENCHMARK_STRATEGIES: tuple[str, ...] = _benchmark_strategies()


def make_benchmark_strategy(name: str, labels: dict):
    """A registry strategy by name, or the clairvoyant bound (``"oracle"``), which is handed
    the pool's ``labels`` (id -> value) and is the only one that sees them."""
    if name == BOUND_STRATEGY:
        from .oracle import ClairvoyantStrategy

        return ClairvoyantStrategy(labels)
    from ..strategies import STRATEGIES, make_strategy

    if name not in STRATEGIES:
        raise InputError(f"unknown benchmark strategy {name!r}; choose one of {', '.join(BENCHMARK_STRATEGIES)}")
    return make_strategy(name)


#: Strategies run with their own stop rules (the published method); every other strategy runs
#: without the patience exclusion and the fairness stop, so that it uses the whole budget.
OWN_STOP_RULES = ("etal-paper",)


@dataclass
class RunRecord:
    """One run: D, entropy_gap, lowest entropy after 0..budget acquisitions, and timings."""

    dataset: str
    split_seed: int
    strategy: str
    loop_seed: int
    budget: int
    n_acquired: int
    seconds: float
    deficit: np.ndarray
    gap: np.ndarray
    lowest: np.ndarray
    pick_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    groups: list = field(default_factory=list)


def run_one(dataset: str, split_seed: int, strategy: str, budget: int, loop_seed: int = 0,
            split=None) -> RunRecord:
    """One strategy on one biased split for ``budget`` acquisitions (one BLAS thread)."""
    from threadpoolctl import threadpool_limits

    from ..engine import ETAL
    from ..oracles import LookupOracle

    spec = DATASETS[dataset]
    split = make_split(spec, split_seed) if split is None else split
    labels = dict(zip(split.pool[spec.id_col].tolist(), split.pool[spec.target_col].astype(float).tolist()))
    strat = make_benchmark_strategy(strategy, labels)
    settings = {} if strategy in OWN_STOP_RULES else {"patience": "off", "fairness_stop": False}
    cols = list(spec.feature_cols)
    loop = ETAL(
        group_col=spec.group_col, target_col=spec.target_col, feature_cols=cols, id_col=spec.id_col,
        strategy=strat, budget=budget, seed=loop_seed, progress=False, **settings,
    )
    oracle = LookupOracle(split.pool[[spec.id_col, spec.target_col]], id_col=spec.id_col, target_col=spec.target_col)
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        result = loop.run(split.labelled, split.pool.drop(columns=[spec.target_col]), oracle)
    seconds = time.perf_counter() - t0
    ent = result.entropies
    ent = ent.drop(columns=[c for c in ("iteration",) if c in ent.columns])
    scores = score_curves(ent)
    hist = result.history
    return RunRecord(
        dataset, int(split_seed), strategy, int(loop_seed), int(budget), len(hist), seconds,
        pad_curve(scores["entropy_deficit"], budget), pad_curve(scores["entropy_gap"], budget),
        pad_curve(scores["entropy_min"], budget),
        hist["seconds"].to_numpy(dtype=float) if len(hist) else np.zeros(0), list(ent.columns),
    )


def _run_task(task: tuple) -> RunRecord:
    return run_one(*task)


def run_grid(datasets: Sequence[str], split_seeds: Iterable[int], strategies: Sequence[str], budget: int,
             random_repeats: int = 3, n_jobs: int = 1, progress: bool = True, client=None) -> list[RunRecord]:
    """Every strategy on every split; ``random`` repeated with ``random_repeats`` loop seeds.

    ``client``: a ``dask.distributed`` client (``etal.scale``); every run is then one task
    (retried if its worker dies) and ``n_jobs`` is unused. The records are the same.
    """
    tasks = []
    for ds in datasets:
        for s in split_seeds:
            for st in strategies:
                for loop_seed in range(random_repeats if st == "random" else 1):
                    tasks.append((ds, int(s), st, int(budget), loop_seed))
    # longest first, so that parallel workers finish together
    slow = {"etal-paper": 0, "oracle": 2}
    tasks.sort(key=lambda t: slow.get(t[2], 1))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), desc="benchmark runs", unit="run")
    out: list[RunRecord] = []
    if client is not None:
        from ..scale.grid import run_tasks

        labels = [f"benchmark-{ds}-split{s}-{st}-loop{ls}" for ds, s, st, _, ls in tasks]
        out = run_tasks(run_one, tasks, client=client, labels=labels, progress=bar)
    elif n_jobs <= 1:
        for t in tasks:
            out.append(_run_task(t))
            if bar is not None:
                bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            for rec in pool.map(_run_task, tasks, chunksize=1):
                out.append(rec)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return out


# ------------------------------------------------------------------------- tables

#: Strategies that see labels; left out of "best non-clairvoyant" comparisons.
CLAIRVOYANT = (BOUND_STRATEGY,)


def curves_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Long table: one row per run and acquisition count (D, gap, lowest entropy in nats)."""
    parts = []
    for r in records:
        t = np.arange(r.budget + 1)
        parts.append(pd.DataFrame({
            "dataset": r.dataset, "split_seed": r.split_seed, "strategy": r.strategy, "loop_seed": r.loop_seed,
            "acquisitions": t, "entropy_deficit": r.deficit, "entropy_gap": r.gap, "entropy_min": r.lowest,
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def per_split_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per dataset x split x strategy (random: curves averaged over its loop seeds).

    Columns: D at 0 and at the budget, area under the D curve, picks to reach random's
    D at the budget, share of the clairvoyant D-reduction, gap and lowest entropy at the
    budget, whether its area is the lowest of the non-clairvoyant strategies, time per pick.
    """
    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.dataset, r.split_seed, r.strategy), []).append(r)
    rows = []
    for (ds, s, st), recs in groups.items():
        d = np.mean([r.deficit for r in recs], axis=0)
        rows.append({
            "dataset": ds, "split_seed": s, "strategy": st, "runs": len(recs), "budget": recs[0].budget,
            "acquired": float(np.mean([r.n_acquired for r in recs])),
            "D_start": d[0], "D_end": d[-1], "auc": area_under_curve(d),
            "gap_end": float(np.mean([r.gap[-1] for r in recs])),
            "min_end": float(np.mean([r.lowest[-1] for r in recs])),
            "seconds": float(np.mean([r.seconds for r in recs])),
            # median: the first pick also pays one-off set-up (imports, hyper-parameter fits)
            "ms_per_pick": 1e3 * float(np.mean([np.median(r.pick_seconds) if r.pick_seconds.size else np.nan for r in recs])),
            "first_pick_s": float(np.mean([r.pick_seconds[0] if r.pick_seconds.size else np.nan for r in recs])),
            "_curve": d,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    out = []
    for (ds, s), part in table.groupby(["dataset", "split_seed"], sort=True):
        part = part.copy()
        ref = part.loc[part.strategy == REFERENCE_STRATEGY, "D_end"]
        bound = part.loc[part.strategy.isin(CLAIRVOYANT), "D_end"]
        ref = float(ref.iloc[0]) if len(ref) else np.nan
        bound = float(bound.iloc[0]) if len(bound) else np.nan
        part["random_D_end"] = ref
        part["picks_to_random"] = [picks_to_reach(c, ref) for c in part["_curve"]]
        part["share"] = [share_of_bound(a, b, bound) for a, b in zip(part.D_start, part.D_end)]
        real = part[~part.strategy.isin(CLAIRVOYANT)]
        best = real.auc.min() if len(real) else np.nan
        part["best_auc"] = (~part.strategy.isin(CLAIRVOYANT)) & (part.auc <= best + 1e-12)
        out.append(part)
    return pd.concat(out, ignore_index=True).drop(columns=["_curve"])


def summary_table(per_split: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x strategy: mean share, median picks to random's D, mean area, splits won."""
    g = per_split.groupby(["dataset", "strategy"], sort=False)
    summary = pd.DataFrame({
        "splits": g.size(),
        "share_mean": g.share.mean(),
        "share_min": g.share.min(),
        "picks_to_random_median": g.picks_to_random.median(),
        "never_reached": g.picks_to_random.apply(lambda s: int(s.isna().sum())),
        "D_end_mean": g.D_end.mean(),
        "auc_mean": g.auc.mean(),
        "best_auc_splits": g.best_auc.sum().astype(int),
        "gap_end_mean": g.gap_end.mean(),
        "ms_per_pick": g.ms_per_pick.mean(),
        "first_pick_s": g.first_pick_s.mean(),
        "seconds_per_run": g.seconds.mean(),
    })  # fmt: skip
    return summary.reset_index()


def quality_tables(records: Sequence[RunRecord]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two benchmark tables of :mod:`etal.evaluation.quality`: (runs, curves).

    ``curves`` has :data:`~etal.evaluation.quality.BENCHMARK_CURVE_COLUMNS` (one D curve per
    dataset, split seed and strategy; ``random``'s averaged over its loop seeds), ``runs``
    :data:`~etal.evaluation.quality.BENCHMARK_RUN_COLUMNS` from
    :func:`~etal.evaluation.quality.run_metrics` (paired with random and the bound by split).
    """
    from ..evaluation.quality import BENCHMARK_CURVE_COLUMNS, BENCHMARK_RUN_COLUMNS

    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.dataset, r.split_seed, r.strategy), []).append(r)
    parts = []
    for (ds, seed, st), recs in groups.items():
        d = np.mean([r.deficit for r in recs], axis=0)
        parts.append(pd.DataFrame({"dataset": ds, "split_seed": seed, "strategy": st,
                                   "acquisition": np.arange(d.size), "entropy_deficit": d}))  # fmt: skip
    curves = pd.concat(parts, ignore_index=True)[list(BENCHMARK_CURVE_COLUMNS)]
    runs = run_metrics(curves)[list(BENCHMARK_RUN_COLUMNS)]
    return runs, curves
