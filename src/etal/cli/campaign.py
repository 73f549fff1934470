"""``etal campaign``: persistent ET-AL campaigns with a calculator in the loop.

Sub-commands: ``init``, ``suggest``, ``ingest``, ``run``, ``status``, ``export`` and
``demo``; each is a thin shell over :class:`etal.campaign.Campaign` (see
docs/campaigns.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from ..errors import InputError
from .argtypes import int_at_least, patience, positive_float
from .common import manifest_arguments, print_table
from .scale_flags import add_scheduler_argument


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "campaign",
        help="persistent ET-AL campaigns: suggest, calculate (EMT, CHGNet, your script), ingest",
        description=(
            "A campaign folder remembers every row, suggestion, label and entropy in a SQLite "
            "store, so a campaign can run for weeks, be killed and resumed, and take labels "
            "from several processes."
        ),
    )
    cmds = parser.add_subparsers(dest="campaign_command", metavar="ACTION")

    p = cmds.add_parser("init", help="create a campaign folder from a table (rows with an empty target are the pool)")
    p.add_argument("dir", metavar="DIR", type=Path, help="campaign folder to create")
    p.add_argument("data", metavar="DATA", help="table file (.csv, .parquet, .jsonl, ...) or embedded dataset name")
    p.add_argument("--pool-file", metavar="FILE|DIR",
                   help="extra table of unlabelled candidates (same columns), or a folder of Parquet files: a pool "
                        "too large to copy, recorded by path (DATA then holds the labelled rows only)")  # fmt: skip
    p.add_argument("--group-col", metavar="COL", help="column of the groups (e.g. crystal_system)")
    p.add_argument("--target-col", metavar="COL", help="column of the target (e.g. formation energy, eV/atom)")
    p.add_argument("--id-col", metavar="COL", help="column of unique row ids (default: 'id', or made 0..n-1)")
    p.add_argument("--feature-cols", metavar="COLS", nargs="+", action="extend",
                   help="feature columns: names, globs or comma-separated lists (default: all numeric)")  # fmt: skip
    p.add_argument("--structure-col", metavar="COL",
                   help="column holding each row's structure: a file path (relative to DATA's folder), CIF text or structure JSON")  # fmt: skip
    p.add_argument("--structures", metavar="PATH",
                   help="CIF folder, .cif, ASE database (.db) or extxyz file; structures matched to rows by id (CIF file stem, db row id, <stem>_<frame>)")  # fmt: skip
    p.add_argument("--seed", type=int_at_least(0), default=0, help="engine seed (default 0)")
    p.add_argument("--patience", type=patience(None), default=argparse.SUPPRESS,
                   help="exclude a group after this many acquisitions without an entropy increase ('none': never; default: the strategy's own, 5 for ET-AL)")  # fmt: skip
    p.set_defaults(func=_init)

    p = cmds.add_parser("suggest", help="mark the next K picks pending and write DIR/suggestions.csv")
    p.add_argument("dir", metavar="DIR", type=Path)
    p.add_argument("-k", type=int_at_least(1), default=1, help="number of new picks (default 1)")
    add_scheduler_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars (pool folder)")
    p.set_defaults(func=_suggest)

    p = cmds.add_parser("ingest", help="add labels from a table of id and target (all or nothing)")
    p.add_argument("dir", metavar="DIR", type=Path)
    p.add_argument("results", metavar="RESULTS", help="table with an id column and a target column")
    p.add_argument("--id-col", metavar="COL", help="id column in RESULTS (default: the campaign's, else 'id')")
    p.add_argument(
        "--target-col", metavar="COL", help="value column in RESULTS (default: the campaign's target, else 'value')"
    )
    p.set_defaults(func=_ingest)

    p = cmds.add_parser("run", help="suggest -> calculate -> ingest until the campaign holds N acquired labels")
    p.add_argument("dir", metavar="DIR", type=Path)
    p.add_argument("--calculator", required=True, metavar="NAME",
                   help="emt, chgnet or 'command:TEMPLATE' ({structure} = structure file path, {id} = row id; no shell)")  # fmt: skip
    p.add_argument("--budget", required=True, type=int_at_least(0), metavar="N",
                   help="stop when the campaign holds N acquired labels in all (earlier runs and ingest count)")  # fmt: skip
    p.add_argument(
        "--workers", type=int_at_least(1), default=1, metavar="W", help="calculations at once (process pool; default 1)"
    )
    p.add_argument(
        "--max-attempts", type=int_at_least(1), default=3, help="tries per row before it is failed (default 3)"
    )
    p.add_argument(
        "--timeout", type=positive_float, metavar="S", help="command: seconds per calculation (default 3600)"
    )
    p.add_argument("--relax", choices=("none", "positions", "full"), help="emt/chgnet: relaxation (default none)")
    p.add_argument(
        "--fmax", type=positive_float, metavar="EV_PER_A", help="emt/chgnet: force threshold, eV/Å (default 0.05)"
    )
    p.add_argument("--steps", type=int_at_least(1), help="emt/chgnet: optimiser step limit (default 200)")
    p.add_argument("--optimizer", choices=("BFGS", "FIRE"), help="emt/chgnet: ASE optimiser (default BFGS)")
    p.add_argument("--lease", type=positive_float, default=600.0, metavar="S",
                   help="take over a running row whose owner has been silent this long (default 600 s)")  # fmt: skip
    add_scheduler_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)

    p = cmds.add_parser("status", help="counts, entropy per group now and at the start, last picks, a figure")
    p.add_argument("dir", metavar="DIR", type=Path)
    p.add_argument(
        "--json", action="store_true", help="print one JSON object (keys labelled, pending, running, failed, ...)"
    )
    p.add_argument("--no-figure", action="store_true", help="do not draw DIR/entropy_per_group.png")
    p.set_defaults(func=_status)

    p = cmds.add_parser("export", help="write the labelled table (initial and acquired rows)")
    p.add_argument("dir", metavar="DIR", type=Path)
    p.add_argument("--out", required=True, type=Path, metavar="FILE", help="output table (.csv, .csv.gz or .parquet)")
    p.set_defaults(func=_export)

    p = cmds.add_parser("demo", help="ET-AL with EMT on generated alloy structures: bias before and after")
    p.add_argument("--out", type=Path, default=Path("etal-out/campaign-demo"), metavar="DIR",
                   help="campaign folder to create (default etal-out/campaign-demo; must not hold a campaign)")  # fmt: skip
    p.add_argument("--budget", type=int_at_least(1), default=40, help="labels to acquire (default 40)")
    p.add_argument("--workers", type=int_at_least(1), default=1, help="EMT calculations at once (default 1)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the generated pool and the engine")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_demo)

    parser.set_defaults(func=lambda args: (parser.print_help(), 1)[1])


def _open(args):
    from ..campaign import Campaign

    return Campaign(args.dir)


def _init(args) -> int:
    from ..campaign import Campaign

    c = Campaign.init(
        args.dir,
        args.data,
        group_col=args.group_col,
        target_col=args.target_col,
        id_col=args.id_col,
        feature_cols=args.feature_cols,
        pool_path=args.pool_file,
        structure_col=args.structure_col,
        structures=args.structures,
        seed=args.seed,
        **({"patience": args.patience} if "patience" in args else {}),
    )
    counts = c.store.counts()
    with_structure = c.store.conn.execute("SELECT COUNT(*) FROM rows WHERE structure IS NOT NULL").fetchone()[0]
    folder = c.pool_folder
    if folder is not None:
        print(
            f"campaign {args.dir}: {counts['rows']} labelled rows, {len(c.meta['feature_cols'])} features; "
            f"pool: {folder['rows']} rows in {folder['files']} Parquet file(s) of {folder['path']} (recorded by "
            "path and fingerprint, not copied)"
        )
        return 0
    print(
        f"campaign {args.dir}: {counts['rows']} rows, {counts['labelled']} labelled, {counts['pool']} in the pool, "
        f"{len(c.meta['feature_cols'])} features, {with_structure} with a structure"
    )
    return 0


def _no_scheduler_without_folder(args, c) -> None:
    if args.scheduler is not None and c.pool_folder is None:
        raise InputError(
            f"--scheduler: campaign {args.dir} holds its pool in its store (no pool folder); leave --scheduler out"
        )


def _suggest(args) -> int:
    from .scale_flags import client_from_args, stage_bars

    c = _open(args)
    _no_scheduler_without_folder(args, c)
    with client_from_args(args) as client:
        new = c.suggest(args.k, client=client, progress=stage_bars(disable=args.no_progress))
    if new.empty:
        print(f"no new suggestion: {new.attrs.get('stop_reason') or 'nothing left to suggest'}")
        return 0
    print_table(new[["id", "group", "batch", "ei", "expected_entropy"]])
    print(f"{len(new)} new suggestion(s) pending; all pending rows are in {c.folder / 'suggestions.csv'}")
    return 0


def _ingest(args) -> int:
    from ..campaign import CampaignWarning

    c = _open(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CampaignWarning)  # said below, in one line
        report = c.ingest(args.results, id_col=args.id_col, target_col=args.target_col)
    print(f"ingested {len(report.stored)} label(s); {len(report.skipped)} already there with the same value")
    if report.unsuggested:
        print(
            f"etal campaign ingest: warning: {len(report.unsuggested)} id(s) were never suggested (e.g. "
            f"{', '.join(report.unsuggested[:5])}); accepted",
            file=sys.stderr,
        )
    return 0


def _run(args) -> int:
    from ..provenance import write_manifest
    from .scale_flags import client_from_args

    c = _open(args)
    _no_scheduler_without_folder(args, c)
    options = {
        "timeout": args.timeout,
        "relax": args.relax,
        "fmax": args.fmax,
        "steps": args.steps,
        "optimizer": args.optimizer,
    }
    calc_name = args.calculator.partition(":")[0].strip().lower()
    allowed = {"command": {"timeout"}}.get(calc_name, {"relax", "fmax", "steps", "optimizer"})
    wrong = sorted(k for k, v in options.items() if v is not None and k not in allowed)
    if wrong:
        flags = ", ".join("--" + k for k in wrong)
        raise InputError(f"{flags} do(es) not apply to the {calc_name!r} calculator")
    write_manifest(
        args.dir,
        command="campaign run",
        arguments=manifest_arguments(args),
        filename="manifest-run.json",
    )
    with client_from_args(args) as client:
        summary = c.run(
            args.calculator,
            args.budget,
            workers=args.workers,
            max_attempts=args.max_attempts,
            lease_seconds=args.lease,
            progress=not args.no_progress,
            calculator_options=options,
            client=client,
        )
    print(
        f"{summary.n_new} new label(s), {summary.acquired_after} acquired in all (budget {summary.budget}); "
        f"{summary.failed_attempts} failed attempt(s), {len(summary.failed_rows)} row(s) failed for good"
        + (f"; {summary.reclaimed} interrupted row(s) resumed" if summary.reclaimed else "")
    )
    print(f"stopped: {summary.stop_reason}")
    return 0


def _status(args) -> int:
    import math

    c = _open(args)
    st = c.status(figure=not args.no_figure)
    if args.json:
        from ..provenance import to_jsonable

        print(json.dumps(to_jsonable(st), allow_nan=False))
        return 0
    import pandas as pd

    print(
        f"campaign {st['folder']}: {st['labelled']} labelled ({st['initial']} initial, {st['acquired']} acquired), "
        f"{st['pending']} pending, {st['running']} running, {st['failed']} failed; {st['unlabelled']} rows unlabelled"
    )
    print_table(pd.DataFrame(st["groups"]).set_index("group"))

    def fmt(x):
        return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"

    print(
        f"entropy gap (nats): {fmt(st['entropy_gap_start'])} at the start, {fmt(st['entropy_gap_now'])} now; "
        f"deficit {fmt(st['entropy_deficit_start'])} -> {fmt(st['entropy_deficit_now'])}"
    )
    if st["excluded_groups"]:
        print(f"excluded groups: {', '.join(st['excluded_groups'])}")
    if st["last_picks"]:
        print("last labels acquired:")
        print_table(pd.DataFrame(st["last_picks"]))
    if st["last_failures"]:
        print("last failures:")
        for f in st["last_failures"]:
            print(f"  {f['id']} (attempt {f['attempt']}): {f['error']}")
    if st.get("figure"):
        print(f"figure: {st['figure'][0]}")
    return 0


def _export(args) -> int:
    c = _open(args)
    path = c.export(args.out)
    print(f"wrote {path} ({len(c.labelled())} labelled rows)")
    return 0


def _demo(args) -> int:
    from ..campaign.demo import run_demo

    run_demo(
        args.out, budget=args.budget, workers=args.workers, seed=args.seed, progress=not args.no_progress, echo=print
    )
    return 0
