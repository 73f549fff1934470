"""``etal run``: entropy-targeted active learning on a table, with checkpoints and resume.

* A fully labelled table (default: the embedded OQMD-8) is split as in the paper: a
  random test set, a biased labelled set and a pool whose labels are held back and
  revealed by a :class:`~etal.oracles.LookupOracle` (the retrospective experiment).
* A table with an unlabelled pool (empty targets, or ``--pool-file``) and ``--labels
  FILE`` (id, target) runs the loop with those labels.
* A table with an unlabelled pool and no labels: there is no oracle, so the next
  ``--budget`` picks are written to ``suggestions.csv`` (greedy batch selection with
  posterior-mean fantasies): compute these next.

A checkpoint is written to ``OUT/checkpoint`` after every acquisition; ``etal run
--resume OUT`` continues a killed run and ends with exactly the same selections.

``--pool-file DIR`` (a folder of Parquet files, a pool too large for memory) goes to
:mod:`etal.cli.run_pool` (picks partition by partition, on Dask with ``--scheduler``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from ..errors import CheckpointError, InputError
from .argtypes import fraction, int_at_least, patience
from .common import manifest_arguments

DEFAULT_OUT = "etal-out/run"
# Options that define a run are None when not given, so that --resume can detect conflicts;
# their defaults come from _defaults() (the help texts are checked against it by a test).


def _defaults() -> dict:
    """Each option's default, read from its one home (ETAL, the registry, biased_split)."""
    from ..engine.loop import DEFAULT_BUDGET, ETAL
    from ..params import default_of
    from ..split import biased_split
    from ..strategies import DEFAULT_STRATEGY

    out = {k: default_of(ETAL, k) for k in ("batch_size", "estimator", "n_samples", "seed")}
    out.update({k: default_of(biased_split, k) for k in ("test_fraction", "pool_size")})
    out.update(budget=DEFAULT_BUDGET, strategy=DEFAULT_STRATEGY, patience=None)  # None: the strategy's own
    return out




_non_negative_int = int_at_least(0)
_positive_int = int_at_least(1)
_fraction = fraction
_patience = patience("none")  # ETAL's spelling of "never"


def register(sub: argparse._SubParsersAction) -> None:
    from .common import add_data_arguments, add_output_argument
    from .scale_flags import add_scheduler_argument

    parser = sub.add_parser(
        "run",
        help="run entropy-targeted active learning (ET-AL) on a table",
        description=(
            "Run ET-AL: repeatedly label the pool row that most raises the entropy of the "
            "least diverse group. Default: the embedded OQMD-8 with the paper's biased split "
            "(30 % test, pool of 1,000 incl. all unstable tetragonal, stable orthorhombic and "
            "unstable trigonal compounds), labels revealed from the held-back values."
        ),
    )
    add_data_arguments(parser, default_data="oqmd8", pool_folder=True)
    add_output_argument(parser, DEFAULT_OUT)
    parser.add_argument("--budget", type=_non_negative_int, metavar="N",
                        help="maximum number of acquisitions (default 100)")
    parser.add_argument("--batch-size", type=_positive_int, metavar="Q",
                        help="rows acquired per iteration; >1 = greedy batch with fantasies (default 1)")
    from ..strategies.registry import DEFAULT_STRATEGY, STRATEGIES

    parser.add_argument("--strategy", choices=STRATEGIES,
                        help=f"acquisition strategy (default {DEFAULT_STRATEGY}; etal-paper = the published method)")
    parser.add_argument("--estimator", choices=("quadrature", "mc"),
                        help="expected-entropy estimator (default quadrature; mc = the paper's Monte Carlo)")
    parser.add_argument("--n-samples", type=_positive_int, metavar="N",
                        help="Monte Carlo draws per candidate for --estimator mc (default 1000)")
    parser.add_argument("--seed", type=_non_negative_int, metavar="S", help="random seed (default 0)")
    parser.add_argument("--patience", type=_patience, metavar="N",
                        help="exclude a group after N acquisitions without an entropy increase; "
                        "'none' disables (default 5 for etal, none for the baselines)")
    parser.add_argument("--deplete", action="append", metavar="'GROUP: COND'",
                        help="move a group's rows matching COND to the pool, e.g. 'tetragonal: target > 0'; "
                        "repeatable; 'none' for no depletion (default: the paper's rules for crystal systems)")
    parser.add_argument("--test-fraction", type=_fraction, metavar="F",
                        help="fraction of a fully labelled table held out as test set (default 0.3)")
    parser.add_argument("--pool-size", type=_non_negative_int, metavar="N",
                        help="pool size of the biased split (default 1000)")
    parser.add_argument("--labels", metavar="FILE",
                        help="table of id,target labels for the unlabelled pool rows (the oracle)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the killed run whose output folder (or checkpoint) is DIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_scheduler_argument(parser)
    parser.set_defaults(func=run_command)


def _resolved(args: argparse.Namespace) -> dict:
    out = {k: (getattr(args, k) if getattr(args, k, None) is not None else v) for k, v in _defaults().items()}
    patience = out["patience"]
    if patience is None:  # the strategy's own default (one home: the strategy class)
        from ..strategies import strategy_class

        patience = strategy_class(out["strategy"]).patience
    elif patience == "none":
        patience = None
    out["patience"] = patience
    return out


#: What ``etal run`` writes in its folder (``--force`` removes these, and only these).
RUN_OUTPUTS = (
    "split", "checkpoint", "split_summary.csv", "suggestions.csv", "entropies.csv", "history.csv",
    "selected.csv", "entropy_status.csv", "labelled_final.csv", "entropy_evolution.png",
    "entropy_evolution.svg",
)  # fmt: skip


def _resume_hint(args: argparse.Namespace) -> str | None:
    folder = args.out if args.out is not None else Path(args.etal_default_out)
    if (folder / "checkpoint").is_dir():
        return f"It holds an unfinished run; continue it with: etal run --resume {folder}"
    return None


def run_command(args: argparse.Namespace) -> int:
    if args.resume:
        return _resume(args)
    from .run_pool import is_pool_folder, pool_folder_command

    if is_pool_folder(args):
        return pool_folder_command(args, _resolved(args), own=RUN_OUTPUTS, arguments=manifest_arguments(args))
    if args.scheduler is not None:
        raise InputError(
            "--scheduler: etal run uses Dask for a pool stored as a folder of Parquet files "
            "(--pool-file DIR); an in-memory pool runs here. Leave --scheduler out"
        )
    from ..engine import ETAL
    from ..oracles import LookupOracle
    from ..split import biased_split, parse_rule_specs
    from .common import dataset_from_args, output_dir

    output_dir(args, command="etal run", own=RUN_OUTPUTS, hint=_resume_hint(args), check_only=True)
    opts = _resolved(args)
    started = time.perf_counter()
    ds = dataset_from_args(args)
    out = output_dir(args, command="etal run", own=RUN_OUTPUTS, hint=_resume_hint(args))
    target, id_col = ds.target_col, ds.id_col
    retrospective = len(ds.pool) == 0
    inputs = {"data": ds.sha256}
    if ds.pool_sha256:
        inputs["pool_file"] = ds.pool_sha256
    highlight: list[str] = []
    notes: list[str] = []

    if retrospective:
        if args.labels:
            raise InputError(
                f"--labels is for tables with unlabelled pool rows, but every row of {ds.source} has a "
                f"{target!r} value; leave --labels out (the pool's labels are held back from the table)"
            )
        rules = None
        if args.deplete:
            rules = {} if [d.strip().lower() for d in args.deplete] == ["none"] else parse_rule_specs(args.deplete)
        split = biased_split(
            ds, rules=rules, test_fraction=opts["test_fraction"], pool_size=opts["pool_size"], seed=opts["seed"]
        )
        notes += split.notes
        labelled = split.labelled
        pool = split.pool.drop(columns=[target])
        oracle = LookupOracle(split.pool[[id_col, target]], id_col=id_col, target_col=target)
        summary = split.summary()
        split.save(out / "split")
        highlight = [str(g) for g in split.rules]
        mode = "retrospective"
    else:
        given = [flag for flag, value in (("--deplete", args.deplete), ("--test-fraction", args.test_fraction),
                                          ("--pool-size", args.pool_size)) if value is not None]
        if given:
            raise InputError(
                f"{', '.join(given)}: only for a fully labelled table (the retrospective split), but "
                f"{ds.source} has {len(ds.pool)} unlabelled pool row(s); leave them out"
            )
        labelled, pool = ds.labelled, ds.pool.drop(columns=[target])
        info = ds.describe()["groups"]
        summary = pd.DataFrame(
            [{"group": g, "labelled": v["labelled"], "pool": v["pool"], "total": v["rows"]} for g, v in info.items()]
        )
        if args.labels:
            from ..provenance import file_sha256
            from .run_pool import labels_oracle

            oracle = labels_oracle(args.labels, id_col, target)
            _check_label_coverage(args.labels, oracle, pool[id_col].tolist())
            inputs["labels"] = file_sha256(args.labels)
            mode = "labels"
        else:
            oracle = None
            mode = "suggest"

    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "split_summary.csv", summary)
    common = dict(
        strategy=opts["strategy"], estimator=opts["estimator"], n_samples=opts["n_samples"],
        seed=opts["seed"], patience="off" if opts["patience"] is None else opts["patience"],
        batch_size=opts["batch_size"],
    )
    run_info = {"mode": mode, "highlight": highlight, "notes": notes, "source": ds.source}

    if mode == "suggest":
        loop = ETAL.from_dataset(ds, progress=False, **common)
        loop.start(labelled, pool)
        if opts["budget"]:
            loop.suggest(opts["budget"])
        picks = loop.pending
        table = pd.DataFrame(
            [{"rank": r + 1, **p.to_dict()} for r, p in enumerate(picks)],
            columns=["rank", "id", "group", "reason", "ei", "expected_entropy", "expected_entropy_std"],
        )
        _write_csv(out / "suggestions.csv", table)
        _write_csv(out / "entropies.csv", loop.entropies.reset_index())
        _manifest(out, args, opts, inputs, {**run_info, "status": "suggestions", "n_suggested": len(picks)})
        print(
            f"etal run: {ds.source} has {len(pool)} unlabelled pool row(s) and no --labels FILE, so "
            f"there is no oracle.\nWrote the next {len(picks)} pick(s) to {out / 'suggestions.csv'} "
            "(greedy batch with posterior-mean fantasies): compute these next, add their targets to "
            "the table (or pass --labels FILE) and run again."
        )
        if len(picks):
            from .common import print_table

            print_table(table[["rank", "id", "group", "ei", "expected_entropy"]].head(10))
        return 0

    checkpoint_dir = out / "checkpoint"
    from ..engine import checkpoint as ckpt

    try:
        ckpt.check_directory_free(checkpoint_dir)
    except CheckpointError as exc:  # the engine names no flags; the CLI adds them
        raise CheckpointError(f"{exc}; continue it with: etal run --resume {out}") from exc
    loop = ETAL.from_dataset(ds, budget=opts["budget"], checkpoint_dir=checkpoint_dir, progress=False, **common)
    _manifest(out, args, opts, inputs, {**run_info, "status": "running"})
    for note in notes:
        print(f"note: {note}")
    try:
        result = loop.run(labelled, pool, oracle, progress=_progress(args, loop))
    except BaseException as exc:
        _manifest(out, args, opts, inputs, {**run_info, **_stopped_info(loop, exc, out)})
        if isinstance(exc, KeyboardInterrupt):
            print(f"etal run: interrupted; continue with: etal run --resume {out}", file=sys.stderr)
        raise
    _finish(out, loop, result, time.perf_counter() - started, highlight)
    _manifest(out, args, opts, inputs, {**run_info, **_final_info(loop, result, time.perf_counter() - started)})
    return 0


def _progress(args, loop):
    """The caller-owned progress bar (the engine only emits events)."""
    if args.no_progress:
        return False
    from ..engine.progress import TqdmProgress

    return TqdmProgress(desc=f"etal run ({loop.strategy_name})")


def _stopped_info(loop, exc: BaseException, out: Path) -> dict:
    """Manifest fields for a run stopped by an error or an interrupt (never left 'running')."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    reason = "interrupted (Ctrl-C)" if interrupted else f"{type(exc).__name__}: {exc}"
    return {
        "status": "interrupted" if interrupted else "failed",
        "stop_reason": reason,
        "n_acquired": len(loop.selected) if loop._started else 0,
        "iterations": loop.iteration,
        "resume": f"etal run --resume {out}",
    }


def _check_label_coverage(path: str, oracle, pool_ids: list) -> None:
    """Every pool row needs a label before the first pick (a run must not die halfway)."""
    missing = [i for i in pool_ids if i not in oracle]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            f"{path}: no label for {len(missing)} of the {len(pool_ids)} unlabelled pool row(s) "
            f"(ids {shown}); add them to {path}, or drop those rows from the pool"
        )


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    from ..provenance import atomic_write_text

    atomic_write_text(path, frame.to_csv(index=False))


def _manifest(out: Path, args, opts: dict, inputs: dict, extra: dict) -> None:
    from ..provenance import write_manifest

    write_manifest(
        out, command="etal run", arguments={**manifest_arguments(args), "resolved": opts}, inputs=inputs,
        seed=opts["seed"], extra=extra,
    )


def _final_info(loop, result, seconds: float) -> dict:
    return {
        "status": "finished" if result.stop_reason else "interrupted",
        "stop_reason": result.stop_reason,
        "n_acquired": len(result.selected),
        "iterations": loop.iteration,
        "seconds": round(seconds, 3),
        "settings": loop.settings(),
    }


def _finish(out: Path, loop, result, seconds: float, highlight: list[str]) -> None:
    """Write the result tables and the figure, and print the summary."""
    from ..plots import save_figure
    from ..plots.loop import plot_entropy_evolution
    from .common import print_table

    history = result.history
    _write_csv(out / "history.csv", history)
    _write_csv(out / "selected.csv", pd.DataFrame({loop.id_col: result.selected}))
    _write_csv(out / "entropies.csv", result.entropies.reset_index())
    _write_csv(out / "entropy_status.csv", result.entropy_status.reset_index())
    _write_csv(out / "labelled_final.csv", result.labelled_final)
    fig = plot_entropy_evolution(
        result.entropies, history, highlight=highlight, highlight_label="depleted",
        title=f"ET-AL ({loop.strategy_name}): entropy per {loop.group_col}",
    )
    save_figure(fig, out, "entropy_evolution")

    ent, status = result.entropies, result.entropy_status
    first, last = ent.iloc[0], ent.iloc[-1]
    acquired = history["group"].value_counts() if len(history) else pd.Series(dtype=int)
    n_before = loop.labelled_final()
    n_after = n_before[loop.group_col].astype(str).value_counts()
    n_start = n_before.loc[n_before["acquired_at"] == 0, loop.group_col].astype(str).value_counts()
    table = pd.DataFrame(
        {
            "group": ent.columns,
            "n_before": [int(n_start.get(g, 0)) for g in ent.columns],
            "n_after": [int(n_after.get(g, 0)) for g in ent.columns],
            "acquired": [int(acquired.get(g, 0)) for g in ent.columns],
            "entropy_before": first.to_numpy(),
            "entropy_after": last.to_numpy(),
            "status_after": status.iloc[-1].to_numpy(),
        }
    )
    from ..bias.scores import entropy_gap

    print(
        f"etal run: {len(result.selected)} acquisitions in {loop.iteration} iteration(s), "
        f"{seconds:.1f} s; stop: {result.stop_reason}"
    )
    print("entropy per group [nats] (NA: too few values for an estimate):")
    print_table(table)
    print(f"entropy gap: {entropy_gap(first.to_numpy()):.4f} -> {entropy_gap(last.to_numpy()):.4f} nats")
    print(f"outputs in {out}: " + ", ".join(name for name in (*RUN_OUTPUTS, "manifest.json") if (out / name).exists()))


def _resume(args: argparse.Namespace) -> int:
    from ..engine import ETAL
    from ..engine import checkpoint as ckpt

    data_flags = [flag for flag, value in (
        ("DATA", args.data), ("--group-col", args.group_col), ("--target-col", args.target_col),
        ("--id-col", args.id_col), ("--feature-cols", args.feature_cols), ("--pool-file", args.pool_file),
        ("--labels", args.labels), ("--deplete", args.deplete), ("--test-fraction", args.test_fraction),
        ("--pool-size", args.pool_size),
    ) if value is not None]  # fmt: skip
    if data_flags:
        raise InputError(
            f"--resume takes the data and split from the checkpoint; leave out {', '.join(data_flags)}"
        )
    root = ckpt.find_checkpoint(args.resume)
    out = root.parent if root.name == "checkpoint" else root
    state = ckpt.read_state(root)
    settings = state["settings"]
    for key in ("budget", "batch_size", "estimator", "n_samples", "seed", "strategy", "patience"):
        given = getattr(args, key, None)
        if given is None:
            continue
        given = None if given == "none" else given
        if given != settings.get(key):
            flag = "--" + key.replace("_", "-")
            raise CheckpointError(
                f"{flag} {given} differs from the run being resumed ({settings.get(key)}); --resume "
                "continues a run with its own settings. Leave the option out, or start a new run"
            )
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    started = time.perf_counter()
    try:
        loop = ETAL.resume(root, progress=False)
    except CheckpointError as exc:
        raise CheckpointError(f"--resume {args.resume}: {exc}") from exc
    print(f"etal run: resuming {out} at iteration {loop.iteration} ({len(loop.selected)} acquired)")
    try:
        result = loop.run(progress=_progress(args, loop))
    except KeyboardInterrupt:
        print(f"etal run: interrupted; continue with: etal run --resume {out}", file=sys.stderr)
        raise
    highlight = manifest.get("highlight", [])
    _finish(out, loop, result, time.perf_counter() - started, highlight)
    from ..provenance import write_manifest

    previous_args = manifest.get("arguments", {})
    write_manifest(
        out, command="etal run", arguments=previous_args, inputs=manifest.get("inputs", {}),
        seed=settings.get("seed"),
        extra={
            **{k: manifest[k] for k in ("mode", "highlight", "notes", "source") if k in manifest},
            **_final_info(loop, result, time.perf_counter() - started),
            "resumed": {"from_iteration": int(state["iteration"]), "argv_resume": manifest_arguments(args)},
        },
    )
    return 0
