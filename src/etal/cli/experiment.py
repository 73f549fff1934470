"""``etal experiment``: the paper's experiment (ET-AL vs baselines, downstream models, report).

Settings come from ``--config FILE.toml`` (see ``examples/configs/``), then from the
command line, which overrides the file; without ``--config``, the defaults of
:class:`etal.experiment.ExperimentConfig`. ``DATA`` and the column flags override
``[data]``. The command prints a short summary and, last, the path of ``report.html``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import ClassVar

from ..errors import InputError
from .argtypes import int_at_least, n_jobs


def _seeds(text: str):
    from ..experiment import parse_seeds

    try:
        return parse_seeds(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_experiment_overrides(parser: argparse.ArgumentParser) -> None:
    """The options that override a config file (shared with ``etal demo``)."""
    from ..evaluation import MODEL_NAMES
    from ..experiment import STRATEGY_NAMES

    group = parser.add_argument_group("overrides (take precedence over --config)")
    group.add_argument("--strategies", type=_names, metavar="LIST",
                       help=f"comma-separated strategies to compare, from {','.join(STRATEGY_NAMES)}")
    group.add_argument("--budget", type=int_at_least(1), metavar="N", help="acquisitions per run")
    group.add_argument("--batch-size", type=int_at_least(1), metavar="Q",
                       help="rows acquired per loop iteration (1 = the paper)")
    group.add_argument("--estimator", choices=("quadrature", "mc"),
                       help="expected-entropy estimator of ET-AL (mc = the paper's Monte Carlo)")
    group.add_argument("--seeds", type=_seeds, metavar="SEEDS",
                       help="LOOP seeds, all on ONE split (the split is made once, with [split] seed): "
                       "each seed repeats the random and balanced runs with other random picks; etal and "
                       "uncertainty run once unless they need random draws. A count (5 = seeds 0..4) or a "
                       "list (0,3,7). Sets [run] seeds and clears [split] seeds")
    group.add_argument("--split-seeds", type=_seeds, metavar="SEEDS",
                       help="SPLIT seeds: one biased split (test set, labelled set, pool) per seed, every "
                       "strategy runs once on each with the split seed as its loop seed. A count (5 = "
                       "seeds 0..4) or a list (0,3,7). Sets [split] seeds and clears [run] seeds")
    group.add_argument("--downstream-seeds", type=_seeds, metavar="SEEDS",
                       help="model seeds R of the downstream fits (count or list)")
    group.add_argument("--models", type=_names, metavar="LIST",
                       help=f"comma-separated downstream models, from {','.join(MODEL_NAMES)}")
    group.add_argument("--targets", type=_names, metavar="LIST", help="comma-separated downstream target columns")
    group.add_argument("--n-jobs", type=n_jobs, metavar="N",
                       help="parallel workers for the runs and the downstream fits (-1 = all cores)")
    group.add_argument("--no-downstream", action="store_true", help="skip the downstream models")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def apply_overrides(config, args: argparse.Namespace):
    """A copy of ``config`` with the command-line values of :func:`add_experiment_overrides`."""
    def count_or_list(v):
        return v if isinstance(v, int) else list(v)

    run = dataclasses.replace(config.run)
    split = dataclasses.replace(config.split)
    down = dataclasses.replace(config.downstream)
    if args.strategies is not None:
        run.strategies = args.strategies
        if down.strategies is not None:
            down.strategies = [s for s in down.strategies if s in args.strategies] or None
    if args.budget is not None:
        run.budget = args.budget
    if getattr(args, "batch_size", None) is not None:
        run.batch_size = args.batch_size
    if getattr(args, "estimator", None) is not None:
        run.estimator = args.estimator
    if args.seeds is not None and args.split_seeds is not None:
        raise InputError(
            "give --seeds (loop seeds on one split) or --split-seeds (one split per seed), not both"
        )
    if args.seeds is not None:
        run.seeds = count_or_list(args.seeds)
        split.seeds = None
    if args.split_seeds is not None:
        seeds = args.split_seeds
        split.seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
        run.seeds = None
    if args.downstream_seeds is not None:
        down.seeds = count_or_list(args.downstream_seeds)
    if args.models is not None:
        down.models = args.models
    if args.targets is not None:
        down.targets = args.targets
    if args.n_jobs is not None:
        run.n_jobs = down.n_jobs = args.n_jobs
    if args.no_downstream:
        down.enabled = False
    return dataclasses.replace(config, run=run, split=split, downstream=down)


def register(sub: argparse._SubParsersAction) -> None:
    from ..experiment import DEFAULT_OUT
    from .common import add_data_arguments, add_output_argument
    from .scale_flags import add_scheduler_argument

    parser = sub.add_parser(
        "experiment",
        help="the paper's experiment: ET-AL vs baselines on one biased split, downstream models, HTML report",
        description=(
            "Run the paper's retrospective experiment: split a fully labelled table (random test set, "
            "labelled set biased by depletion rules, pool with held-back labels), run every strategy "
            "(etal, random, balanced, uncertainty) from the same split with the same budget, track the "
            "entropy of every group after every acquisition, train downstream models on each final set, "
            "compare ET-AL with random paired by seed, and write tables, figures and one report.html. "
            "Settings: --config FILE.toml (see examples/configs/), overridden by the options below."
        ),
    )
    add_data_arguments(parser, default_data=None)
    parser.add_argument("--config", metavar="FILE", type=Path, help="experiment settings (TOML)")
    add_output_argument(parser, DEFAULT_OUT)
    add_experiment_overrides(parser)
    add_scheduler_argument(parser)
    parser.set_defaults(func=experiment_command)


def config_from_args(args: argparse.Namespace):
    """The experiment config: ``--config`` (or the defaults), then DATA/columns, then overrides."""
    from ..experiment import ExperimentConfig

    try:
        config = ExperimentConfig.from_toml(args.config) if args.config else ExperimentConfig()
    except InputError as exc:
        raise InputError(f"--config: {exc}") from None  # the library names the file; the CLI the flag
    if getattr(args, "pool_file", None):
        raise InputError(
            "--pool-file does not apply to 'etal experiment': the experiment splits a fully labelled "
            "table and holds the pool's labels back itself. Use 'etal run' to label a real pool"
        )
    data = dataclasses.replace(config.data)
    if args.data is not None:
        path = Path(args.data).expanduser()
        data.source = str(path.resolve()) if path.exists() else args.data
    for key in ("group_col", "target_col", "id_col", "feature_cols"):
        value = getattr(args, key, None)
        if value is not None:
            setattr(data, key, value)
    config = dataclasses.replace(config, data=data)
    return apply_overrides(config, args)


def experiment_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    run_and_report(config, args, "etal experiment")
    return 0


class ProgressBars:
    """tqdm bars for :func:`etal.experiment.run_experiment`'s progress callback: one bar per stage."""

    _LABELS: ClassVar[dict[str, tuple[str, str]]] = {"runs": ("experiment runs (strategy x seed)", "run"), "downstream": ("downstream fits", "fit")}

    def __init__(self) -> None:
        self._bars: dict = {}

    def __call__(self, stage: str, done: int, total: int, detail: str) -> None:
        from tqdm.auto import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            desc, unit = self._LABELS.get(stage, (stage, "step"))
            bar = self._bars[stage] = tqdm(total=total, desc=desc, unit=unit)
        if detail:
            bar.set_postfix_str(detail, refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        """Close any bar left open (e.g. after an error)."""
        for bar in self._bars.values():
            bar.close()


#: What ``etal experiment`` / ``etal demo`` write in their folder (``--force`` removes
#: these, and only these).
EXPERIMENT_OUTPUTS = ("*.csv", "*.png", "*.svg", "*.json", "report.html", "config.toml")


def run_and_report(config, args: argparse.Namespace, command: str):
    """Run the experiment (bars unless ``--no-progress``; on Dask with ``--scheduler``),
    render report.html, print the summary."""
    from ..experiment import run_experiment
    from ..report import write_experiment_report
    from .common import manifest_arguments, output_dir
    from .scale_flags import client_from_args

    output_dir(args, command=command, own=EXPERIMENT_OUTPUTS)
    bars = None if args.no_progress else ProgressBars()
    try:
        with client_from_args(args) as client:
            result = run_experiment(config, args.out, progress=bars, command=command, arguments=manifest_arguments(args),
                                    client=client)
    finally:
        if bars is not None:
            bars.close()
    write_experiment_report(result)
    print_result(result, command)
    return result


def print_result(result, command: str) -> None:
    """The short terminal summary; the last line is the path of report.html."""
    print(f"{command}: {len(result.runs)} run(s) in {result.timings['total']:.1f} s; outputs in {result.out_dir}")
    print(result.short_summary())
    print(f"report: {result.report_path}")
