"""Running an experiment: load, split, run every planned loop, score, fit downstream models, write.

:func:`run_experiment` writes every table, figure and ``manifest.json`` as each stage
finishes; it draws no progress bar (the caller may pass a :data:`ProgressCallback`) and
writes no report (:func:`etal.report.write_experiment_report` renders one from the result).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..strategies import strategy_class
from .config import DEFAULT_OUT, DEFAULT_STRATEGY, ExperimentConfig, RunConfig
from .deficit import _quality_scores
from .depleted import _depleted_groups, _depleted_scores
from .outputs import (
    RUNS_COLUMNS,
    ExperimentResult,
    _run_row,
    _RunOutcome,
    _snapshot,
    _trajectory_rows,
    _write_manifest,
    _Writer,
)
from .plan import RunSpec, _effective_jobs, _split_rules, plan_runs
from .summary import _stop_text, _training_text, plain_summary

__all__ = ["ProgressCallback", "execute_run", "run_experiment"]

#: ``progress(stage, done, total, detail)``: called after each finished unit of work.
#: ``stage`` is ``"runs"`` (one loop run; ``detail`` = "strategy seed s") or
#: ``"downstream"`` (one model fit; ``detail`` = ""). The caller draws the bars.
ProgressCallback = Callable[[str, int, int, str], None]


def _progress_callback(progress: Any) -> ProgressCallback | None:
    """A callable, or None for no progress (``True``/``False`` from older code: no callback)."""
    if progress is None or isinstance(progress, bool):
        return None
    if not callable(progress):
        raise InputError(
            f"progress must be a callable progress(stage, done, total, detail) or None, got {type(progress).__name__}"
        )
    return progress


def _load(config: ExperimentConfig, data: Any):
    """The experiment's table: ``data`` if given (a Dataset, a DataFrame or a path), else ``[data] source``."""
    from ..data import load_data

    d = config.data
    source = data if data is not None else config.source()
    if hasattr(source, "frame") and hasattr(source, "group_col"):  # already a Dataset
        return source
    return load_data(source, group_col=d.group_col, target_col=d.target_col, id_col=d.id_col, feature_cols=d.feature_cols)


def _downstream_columns(config: ExperimentConfig, ds) -> tuple[list[str], list[str]]:
    """Downstream features and targets, checked against the table before the long runs."""
    from ..datasets import dataset_info, list_datasets

    features = list(config.downstream.features or ds.feature_cols)
    if config.downstream.targets is not None:
        targets = list(config.downstream.targets)
    else:
        targets = [ds.target_col]
        name = str(ds.source).lower()
        if name in list_datasets():
            targets += [t for t in dataset_info(name).targets if t != ds.target_col and t in ds.frame.columns]
    where = config.origin or "experiment config"
    for role, cols in (("features", features), ("targets", targets)):
        missing = [c for c in cols if c not in ds.frame.columns]
        if missing:
            raise InputError(
                f"{where}: [downstream] {role} {missing} are not columns of {ds.source}; its columns are: "
                f"{', '.join(map(str, ds.frame.columns))}"
            )
        for c in cols:
            if not pd.api.types.is_numeric_dtype(ds.frame[c]):
                raise InputError(
                    f"{where}: [downstream] {role[:-1]} column {c!r} of {ds.source} is not numeric "
                    f"(dtype {ds.frame[c].dtype})"
                )
    return features, targets


def execute_run(
    spec: RunSpec,
    labelled: pd.DataFrame,
    pool: pd.DataFrame,
    columns: dict[str, Any],
    run: RunConfig,
) -> _RunOutcome:
    """Run one strategy on one split (one task of the grid; also a Dask task, see
    :func:`etal.scale.grid.run_tasks`). The loop gets the pool without its target column;
    the labels stay in the oracle. BLAS is limited to one thread: the GP matrices are small
    (threads only add overhead, 2-5x on a busy 2-core machine) and results then do not
    depend on the machine's thread count."""
    from threadpoolctl import threadpool_limits

    from ..engine import ETAL
    from ..oracles import LookupOracle

    target, id_col = columns["target_col"], columns["id_col"]
    oracle = LookupOracle(pool[[id_col, target]], id_col=id_col, target_col=target)
    unlabelled = pool.drop(columns=[target])
    loop = ETAL(
        group_col=columns["group_col"],
        target_col=target,
        feature_cols=columns["feature_cols"],
        id_col=id_col,
        strategy=spec.strategy,
        estimator=run.estimator,
        n_samples=run.n_samples,
        batch_size=run.batch_size,
        # [run] patience tunes the exclusion rule of strategies that use one by default
        # (ET-AL); the others keep their own default (None: the strategy's, off).
        patience=run.patience if strategy_class(spec.strategy).patience is not None else None,
        budget=run.budget,
        seed=spec.loop_seed,
        progress=False,  # the caller shows progress over runs (ProgressCallback)
    )
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        result = loop.run(labelled, unlabelled, oracle)
    return _RunOutcome(
        spec, result, time.perf_counter() - started, oracle.n_revealed, oracle.n_calls, list(unlabelled.columns)
    )


def run_experiment(
    config: ExperimentConfig | None = None,
    out_dir: str | os.PathLike = DEFAULT_OUT,
    *,
    data: Any = None,
    progress: ProgressCallback | bool | None = None,
    command: str = "etal.experiment.run_experiment",
    arguments: Mapping[str, Any] | None = None,
    client: Any = None,
) -> ExperimentResult:
    """Run the paper's experiment (see :mod:`etal.experiment`) and write its results to ``out_dir``.

    Parameters
    ----------
    config : the settings (default :class:`ExperimentConfig` defaults); validated here.
    out_dir : output folder (created).
    data : optional table overriding ``[data] source``: a DataFrame, a :class:`etal.data.Dataset`
        or a path (the ``[data]`` column settings still apply to a DataFrame or path).
    progress : a :data:`ProgressCallback` told about each finished run and downstream fit
        (the library draws no bar); None (or a bool, from older code) for none.
    command, arguments : recorded in ``manifest.json`` (the CLI passes its own).
    client : a ``distributed.Client`` (:func:`etal.scale.cluster.connect`) to run every
        loop run and every downstream fit as a Dask task (retried if its worker dies;
        ``n_jobs`` is then unused); None (default) runs here and imports no Dask. The
        tables equal those of the local run with the same seeds (apart from timings).

    Files written: ``config.toml`` (resolved settings), ``split/`` (labelled, pool, test,
    summary; ``split/seed-<s>/`` per split seed with several splits), ``split_summary.csv``,
    ``runs.csv``, ``acquisitions.csv`` (every run's history), ``bias_trajectory.csv``,
    ``bias_summary.csv`` (D = ``entropy_deficit``, gap, ... per acquisition),
    ``quality.csv`` (per run: D start and final, area under the D curve, picks to reach
    random's final D), ``quality_paired.csv`` (the compared strategy minus each other one,
    paired by split seed), ``depleted_groups.csv`` (when the split depleted a group),
    ``downstream.csv``, ``paired_comparison.csv``, figures ``entropy_deficit``,
    ``entropy_evolution``, ``entropy_gap``, ``distributions``, ``r2_boxplots`` (PNG + SVG)
    and ``manifest.json``. The compared strategy is the registry's default
    (:data:`etal.experiment.DEFAULT_STRATEGY`) when it runs, else the first strategy. ``report.html`` is written by
    :func:`etal.report.write_experiment_report` from the returned result.
    """
    from ..evaluation import summarise_bias_trajectory
    from ..split import biased_split

    report = _progress_callback(progress)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    config = (config or ExperimentConfig()).validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out)

    # ---- data and split(s)
    t0 = time.perf_counter()
    ds = _load(config, data)
    features, targets = _downstream_columns(config, ds) if config.downstream.enabled else (list(ds.feature_cols), [])
    if len(ds.pool):
        raise InputError(
            f"{ds.source} has {len(ds.pool)} row(s) without a {ds.target_col!r} value; the experiment "
            "splits a fully labelled table (its pool labels are held back and revealed by an oracle). "
            "Drop the unlabelled rows, or label them with an active-learning run (etal.engine.ETAL)"
        )
    columns = {
        "group_col": ds.group_col, "target_col": ds.target_col, "id_col": ds.id_col,
        "feature_cols": list(ds.feature_cols),
    }  # fmt: skip
    splits = {
        s: biased_split(
            ds, rules=_split_rules(config), test_fraction=config.split.test_fraction,
            pool_size=config.split.pool_size, seed=s,
        )
        for s in config.split_seeds()
    }  # fmt: skip
    several_splits = len(splits) > 1
    for s, split in splits.items():
        split.save(out / "split" / f"seed-{s}" if several_splits else out / "split")
    split_summary = pd.concat(
        [sp.summary().assign(split_seed=s) for s, sp in splits.items()], ignore_index=True
    )
    writer.csv("split_summary.csv", split_summary)
    # The resolved settings, written as config.toml: columns filled in, the source made
    # absolute, so that the experiment can be repeated from OUT/config.toml.
    resolved = config.to_dict()
    if data is None:
        source = config.source()
        resolved["data"]["source"] = source if not Path(source).exists() else str(Path(source).resolve())
    else:
        resolved["data"]["source"] = f"<{type(data).__name__} given in Python: {ds.source}>"
    resolved["data"].update(
        group_col=ds.group_col, target_col=ds.target_col, id_col=ds.id_col, feature_cols=list(ds.feature_cols)
    )
    writer.text("config.toml", ExperimentConfig.from_dict(resolved).to_toml())
    timings["data_and_split"] = time.perf_counter() - t0

    specs = plan_runs(config, splits, ds.group_col)
    seeds_info: dict[str, Any] = {
        "split_seeds": config.split_seeds(),
        "run_seeds": config.run_seeds(),
        "downstream_seeds": config.downstream_seeds() if config.downstream.enabled else [],
        "runs": {s: sorted({sp.seed for sp in specs if sp.strategy == s}) for s in config.run.strategies},
        "mode": "several splits" if several_splits else "one split",
        "pairing": (
            "downstream model seed number r uses run r mod n of each strategy (n = its number of runs, "
            "sorted by seed)" + ("; with several splits, split r mod n and its test set" if several_splits else "")
        ),
    }
    manifest_base = {
        "command": command,
        "arguments": {**dict(arguments or {}), "config": resolved},
        "inputs": {"data": ds.sha256},
    }
    # Where the tasks ran (the results do not depend on it).
    execution: dict[str, Any] = (
        {"where": "here", "n_jobs": config.run.n_jobs} if client is None
        else {"where": "dask", "scheduler": str(client.scheduler.address),
              "workers": len(client.scheduler_info().get("workers", {}))}
    )
    _write_manifest(out, manifest_base, {"status": "running: loop runs", "seeds": seeds_info, "timings": timings,
                                         "execution": execution})

    # ---- runs (trajectories written after each one)
    t0 = time.perf_counter()
    done = _run_all(specs, splits, columns, config, writer, report, client)
    timings["runs"] = time.perf_counter() - t0

    trajectory = pd.concat([_trajectory_rows(o) for o in done], ignore_index=True)
    runs = pd.DataFrame([_run_row(o, config.run.budget) for o in done], columns=list(RUNS_COLUMNS))
    summary = summarise_bias_trajectory(trajectory)
    writer.csv("bias_summary.csv", summary)
    focus = DEFAULT_STRATEGY if DEFAULT_STRATEGY in config.run.strategies else config.run.strategies[0]
    quality, quality_paired, quality_info = _quality_scores(
        summary, runs, config.run.strategies, focus, config.run.budget
    )
    writer.csv("quality.csv", quality)
    writer.csv("quality_paired.csv", quality_paired)
    depleted_groups, depleted_rules, depleted_note = _depleted_groups(splits)
    depleted = depleted_paired = None
    depleted_info: dict[str, Any] = {"groups": [], "note": depleted_note}
    if depleted_groups:
        depleted, depleted_paired, depleted_info = _depleted_scores(
            trajectory, depleted_groups, depleted_rules, config.run.strategies, depleted_note
        )
        writer.csv("depleted_groups.csv", depleted)
    stops = {f"{o.spec.strategy}/seed-{o.spec.seed}": {
        "n_acquired": o.result.n_acquired, "stop_reason": o.result.stop_reason,
        "labels_revealed": o.labels_revealed, "seconds": round(o.seconds, 3)} for o in done}  # fmt: skip
    _write_manifest(
        out, manifest_base,
        {"status": "running: downstream", "seeds": seeds_info, "runs": stops, "entropy_deficit": quality_info,
         "depleted_groups": depleted_info, "timings": timings, "execution": execution},
    )  # fmt: skip

    # ---- bias figures (before downstream, so a downstream crash keeps them)
    t0 = time.perf_counter()
    figures = _bias_figures(writer, trajectory, summary, done, splits, focus, ds)
    timings["bias_figures"] = time.perf_counter() - t0

    # ---- downstream
    downstream = paired = None
    used: dict[int, int] = {}
    if config.downstream.enabled:
        t0 = time.perf_counter()
        fits = None if report is None else (lambda d, n: report("downstream", d, n, ""))
        downstream, used = _downstream(config, done, splits, features, targets, ds.group_col, fits, client)
        seeds_info["downstream_acquisitions"] = used
        writer.csv("downstream.csv", downstream)
        present = set(downstream["strategy"])
        # The method compared with random: the default strategy when it ran, else ``etal``.
        main = DEFAULT_STRATEGY if DEFAULT_STRATEGY in present else "etal"
        if {main, "random"} <= present:
            from ..evaluation import paired_comparison

            paired = pd.concat(
                [paired_comparison(downstream, main, "random", metric=m) for m in ("r2", "mae")],
                ignore_index=True,
            )
            writer.csv("paired_comparison.csv", paired)
        timings["downstream"] = time.perf_counter() - t0
        from ..plots.experiment import plot_r2_boxplots

        shown = [s for s in (main, "random") if s in present] or sorted(present)
        figures["r2_boxplots"] = writer.figure(plot_r2_boxplots(downstream, shown), "r2_boxplots")

    # ---- plain-language summary and the final manifest
    before = _snapshot(trajectory, None, "start")
    after = {s: _snapshot(trajectory, s, "end") for s in config.run.strategies}
    text = plain_summary(
        before, after, paired[paired["metric"] == "r2"] if paired is not None else None, quality_info,
        depleted=depleted_info,
    )
    text += "\n\n" + _stop_text(runs, config.run.budget)
    if downstream is not None:
        text += "\n\n" + _training_text(config, used)
    if len(done) > len(config.run.strategies):
        text += (
            "\n\nWhere a strategy has several runs, the entropies and gaps above are means over its runs "
            "(see 'Seeds' below for what varies between runs)."
        )
    timings["total"] = time.perf_counter() - t_start
    extra = {
        "status": "finished", "seeds": seeds_info, "runs": stops, "entropy_deficit": quality_info,
        "depleted_groups": depleted_info,
        "timings": {k: round(v, 3) for k, v in timings.items()}, "outputs": sorted(writer.files),
        "execution": execution,
    }  # fmt: skip
    manifest_path = _write_manifest(out, manifest_base, extra)
    return ExperimentResult(
        out_dir=out, config=config, runs=runs, trajectory=trajectory, trajectory_summary=summary,
        quality=quality, quality_paired=quality_paired, quality_info=quality_info, downstream=downstream, paired=paired, summary_text=text,
        manifest_path=manifest_path, timings=timings,
        files=sorted(writer.files.values()), depleted_groups=list(depleted_groups), depleted=depleted,
        depleted_paired=depleted_paired, depleted_note=depleted_info["note"],
        dataset=ds, splits=splits, figures=figures, seeds_info=seeds_info, depleted_info=depleted_info,
        manifest={"base": manifest_base, "extra": extra},
    )  # fmt: skip


def _run_all(specs, splits, columns, config: ExperimentConfig, writer: _Writer, report, client=None) -> list[_RunOutcome]:
    """Every planned run, in parallel when allowed (or as Dask tasks on ``client``); tables
    rewritten after each finished run.

    Returns the outcomes in plan order.
    """
    outcomes: dict[RunSpec, _RunOutcome] = {}
    order = {s: i for i, s in enumerate(specs)}

    def record(outcome: _RunOutcome) -> None:
        outcomes[outcome.spec] = outcome
        done = sorted(outcomes.values(), key=lambda o: order[o.spec])
        writer.csv("bias_trajectory.csv", pd.concat([_trajectory_rows(o) for o in done], ignore_index=True))
        writer.csv("runs.csv", pd.DataFrame([_run_row(o, config.run.budget) for o in done], columns=list(RUNS_COLUMNS)))
        history = []
        for o in done:
            h = o.result.history.copy()
            h.insert(0, "seed", o.spec.seed)
            h = h.drop(columns=["strategy"]).assign(strategy=o.spec.strategy, split_seed=o.spec.split_seed)
            history.append(h[["strategy", "seed", "split_seed", *[c for c in h.columns if c not in ("strategy", "seed", "split_seed")]]])
        writer.csv("acquisitions.csv", pd.concat(history, ignore_index=True))
        if report is not None:
            report("runs", len(outcomes), len(specs), f"{outcome.spec.strategy} seed {outcome.spec.seed}")

    n_jobs = _effective_jobs(config.run.n_jobs, len(specs))
    # Expensive strategies first (the class's relative_cost), so parallel workers finish together.
    cost = {name: strategy_class(name).relative_cost for name in {s.strategy for s in specs}}
    todo = sorted(specs, key=lambda s: (-cost[s.strategy], order[s]))

    def run_args(sp: RunSpec) -> tuple:
        return sp, splits[sp.split_seed].labelled, splits[sp.split_seed].pool, columns, config.run

    if client is not None:
        from ..scale.grid import run_tasks

        # One task per run; a split's frames are sent to the cluster once (shared objects).
        run_tasks(execute_run, [run_args(sp) for sp in todo], client=client,
                  labels=[f"run-{sp.strategy}-seed{sp.seed}-split{sp.split_seed}" for sp in todo],
                  on_result=lambda i, outcome: record(outcome))
    elif n_jobs == 1:
        for sp in todo:
            record(execute_run(*run_args(sp)))
    else:
        import joblib
        from joblib import Parallel, delayed

        # Results in completion order (joblib >= 1.4); joblib 1.3 only has task order.
        unordered = tuple(int(v) for v in joblib.__version__.split(".")[:2]) >= (1, 4)
        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered" if unordered else "generator")(
            delayed(execute_run)(*run_args(sp)) for sp in todo
        )
        for outcome in results:
            record(outcome)
    return [outcomes[s] for s in specs]


def _downstream(
    config, done, splits, features, targets, group_col, progress=None, client=None
) -> tuple[pd.DataFrame, dict[int, int]]:
    """Fit every model on each strategy's final labelled set; seeds paired as documented.

    Returns the table and, with ``equal_acquisitions``, the number of acquisitions each
    training set used per split seed.
    """
    from ..evaluation import DOWNSTREAM_COLUMNS, evaluate_downstream

    wanted = config.downstream.strategies or config.run.strategies
    by_strategy: dict[str, list[_RunOutcome]] = {}
    for o in done:
        if o.spec.strategy in wanted:
            by_strategy.setdefault(o.spec.strategy, []).append(o)
    for runs in by_strategy.values():
        runs.sort(key=lambda o: o.spec.seed)
    model_seeds = config.downstream_seeds()
    split_seeds = config.split_seeds()
    frames = []
    used: dict[int, int] = {}
    for split_seed in split_seeds:
        # Model seed number r uses run r mod n; with several splits every strategy has one
        # run per split (sorted like split_seeds), so r picks the same split for all.
        positions = [
            i for i in range(len(model_seeds)) if len(split_seeds) == 1 or split_seeds[i % len(split_seeds)] == split_seed
        ]
        if not positions:
            continue
        chosen = {s: {model_seeds[i]: runs[i % len(runs)] for i in positions} for s, runs in by_strategy.items()}
        n_used = None
        if config.downstream.equal_acquisitions:
            n_used = min(o.result.n_acquired for per in chosen.values() for o in per.values())
            used[split_seed] = n_used
        training = {
            s: {seed: _training_set(o.result, n_used) for seed, o in per.items()} for s, per in chosen.items()
        }
        frames.append(
            evaluate_downstream(
                training, splits[split_seed].test, features=features, targets=targets,
                group_col=group_col if config.downstream.per_group else None,
                models=config.downstream.models, seeds=[model_seeds[i] for i in positions],
                n_jobs=config.downstream.n_jobs, progress=progress, client=client,
            )
        )  # fmt: skip
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(DOWNSTREAM_COLUMNS))
    table = table.sort_values(["strategy", "model", "target", "seed", "scope"], kind="stable").reset_index(drop=True)
    return table, used


def _training_set(result, n_acquisitions: int | None) -> pd.DataFrame:
    """Initial labelled rows plus the first ``n_acquisitions`` acquired rows (all if None).

    ``labelled_final`` lists the initial rows (``acquired_at == 0``) and then the acquired
    rows in acquisition order.
    """
    final = result.labelled_final
    if n_acquisitions is None:
        return final
    n_initial = int((final["acquired_at"] == 0).sum())
    return final.iloc[: n_initial + int(n_acquisitions)]


def _bias_figures(writer, trajectory, summary, done, splits, focus, ds) -> dict[str, Path]:
    """D and gap trajectories, entropy per group and before/after distributions (PNG + SVG)."""
    from ..plots.experiment import (
        plot_deficit_trajectories,
        plot_distributions_before_after,
        plot_entropy_evolution_per_group,
        plot_gap_trajectories,
    )

    figures = {}
    figures["entropy_deficit"] = writer.figure(plot_deficit_trajectories(summary), "entropy_deficit")
    figures["entropy_evolution"] = writer.figure(plot_entropy_evolution_per_group(trajectory, focus), "entropy_evolution")
    figures["entropy_gap"] = writer.figure(plot_gap_trajectories(summary), "entropy_gap")
    first = min((o for o in done if o.spec.strategy == focus), key=lambda o: o.spec.seed)
    before = splits[first.spec.split_seed].labelled
    after = first.result.labelled_final
    fig = plot_distributions_before_after(before, after, ds.group_col, ds.target_col)
    fig.axes[0].set_title(
        f"{ds.target_col} per {ds.group_col}: initial labelled set vs after {focus} (seed {first.spec.seed})"
    )
    figures["distributions"] = writer.figure(fig, "distributions")
    return figures

