"""``etal trim``: keep a smaller dataset whose groups' entropies are even and high.

Writes ``kept.csv``, ``removed.csv`` (step and reason per row), the bias before and
after, a figure and ``manifest.json`` (see :mod:`etal.trimming.outputs`); with
``--evaluate``, also the downstream comparison of :mod:`etal.trimming.evaluate`. Bad
requests (keep larger than the table, below the per-group minimums, unknown
``--keep-ids``) stop with one line and exit status 2 before anything is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# = etal.trimming.objective.TRIM_METHODS (not imported: registering must stay light)
_METHODS = ("auto", "vasicek", "van_es", "ebrahimi")


def _keep_value(text: str) -> int | float:
    value = float(text)  # ValueError -> argparse's own message
    if "." not in text and "e" not in text.lower() and value.is_integer():
        return int(value)
    return value


def register(sub: argparse._SubParsersAction) -> None:
    from .common import add_data_arguments, add_output_argument

    parser = sub.add_parser(
        "trim",
        help="remove redundant rows so that the groups' entropies become even",
        description=(
            "Trim a dataset to --keep rows (a count, or a fraction of the labelled rows) "
            "by removing the most redundant rows, so that the groups' target entropies "
            "become even and high (lowest mean entropy deficit D, then highest lowest "
            "entropy), keeping each group's smallest and largest target value. "
            "Example: etal trim oqmd8 --keep 0.3 --out trimmed"
        ),
    )
    add_data_arguments(parser)
    add_output_argument(parser, "etal-out/trim")
    parser.add_argument(
        "--keep", required=True, type=_keep_value, metavar="N|FRACTION",
        help="rows to keep: a whole number (e.g. 1000) or a fraction of the labelled rows (e.g. 0.3)",
    )  # fmt: skip
    opt = parser.add_argument_group("constraints and objective")
    opt.add_argument(
        "--min-per-group", action="append", default=None, metavar="N|GROUP=N",
        help="minimum rows per group: N for every group, or GROUP=N (repeatable); "
        "never below 5 (default: 5)",
    )  # fmt: skip
    opt.add_argument(
        "--keep-ids", type=Path, default=None, metavar="FILE",
        help="file of ids (values of the id column), one per line, of rows that must be kept",
    )
    opt.add_argument(
        "--coverage", type=float, default=0.0, metavar="W",
        help="weight of the feature-space coverage term (0 = off; 1 = as strong as one "
        "removal's entropy change; uses the feature columns) (default: 0)",
    )  # fmt: skip
    opt.add_argument(
        "--method", default="auto", choices=_METHODS,
        help="entropy estimator (default: auto = van Es / Ebrahimi / Vasicek by group size)",
    )
    opt.add_argument(
        "--no-batch", action="store_true",
        help="remove one row per greedy step (slow; the plain greedy) instead of batches",
    )
    opt.add_argument(
        "--bootstrap", type=int, default=0, metavar="N",
        help="bootstrap resamples for the intervals of the before/after bias reports (default: 0)",
    )
    opt.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the evaluation (default: 0)")
    ev = parser.add_argument_group("downstream evaluation (--evaluate)")
    ev.add_argument(
        "--evaluate", action="store_true",
        help="also compare trimmed, random, group-stratified and full training sets: "
        "downstream R^2 and MAE on a held-out test set, and their bias scores",
    )  # fmt: skip
    ev.add_argument("--seeds", type=int, default=5, metavar="K", help="seeds of the evaluation (default: 5)")
    ev.add_argument(
        "--test-fraction", type=float, default=0.2, metavar="F",
        help="share of the labelled rows held out as the test set (default: 0.2)",
    )
    ev.add_argument(
        "--models", nargs="+", default=None, metavar="NAME",
        help="downstream models (default: all of gradient_boosting random_forest svr mlp adaboost)",
    )
    ev.add_argument("--jobs", type=int, default=-1, metavar="N", help="parallel fits (default: -1 = all cores)")
    parser.set_defaults(func=run)


def _min_per_group(values: list[str] | None):
    from ..errors import InputError

    if not values:
        return None
    every, named = None, {}
    for text in values:
        name, sep, count = text.rpartition("=")
        try:
            number = int(count)
        except ValueError:
            raise InputError(f"--min-per-group {text!r}: expected N or GROUP=N with a whole number N") from None
        if sep:
            named[name] = number
        else:
            every = number
    if named and every is not None:
        raise InputError("--min-per-group: give either one N for every group or GROUP=N entries, not both")
    return named or every


def _read_ids(path: Path, id_col: str) -> list[str]:
    from ..errors import InputError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"--keep-ids: cannot read {path}: {exc.strerror or exc}") from exc
    ids = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if ids and ids[0] == id_col:  # a header line naming the id column
        ids = ids[1:]
    return ids


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..trimming.api import trim
    from ..trimming.outputs import save_trim
    from ..trimming.outputs import TRIM_FILES
    from .common import dataset_from_args, manifest_arguments, output_dir, print_table

    own = (*TRIM_FILES, "evaluation")  # what --force may remove: etal trim's own outputs
    output_dir(args, command="trim", own=own, check_only=True)
    arguments = manifest_arguments(args)
    if args.coverage == 0 and not args.evaluate and getattr(args, "feature_cols", None) is None:
        args.feature_cols = []  # features unused: do not let a gappy numeric column fail the load
    dataset = dataset_from_args(args)
    minimums = _min_per_group(args.min_per_group)
    keep_ids = _read_ids(args.keep_ids, dataset.id_col) if args.keep_ids is not None else None
    if args.evaluate:
        from ..trimming.evaluate import check_evaluation

        check_evaluation(
            dataset, seeds=args.seeds, test_fraction=args.test_fraction, models=args.models,
            keep=args.keep, seed=args.seed,
        )  # fmt: skip
    try:
        result = trim(
            dataset, args.keep, min_per_group=minimums, keep_ids=keep_ids,
            coverage_weight=args.coverage, method=args.method.replace("_", " "),
            batch=not args.no_batch, n_bootstrap=args.bootstrap, seed=args.seed, progress=True,
        )  # fmt: skip
    except InputError as exc:
        raise InputError(f"{exc} (options --keep, --min-per-group, --keep-ids, --coverage)") from exc

    comparison = None
    if args.evaluate:  # before writing anything, so that its errors leave no partial output
        from ..trimming.evaluate import compare_subsets

        comparison = compare_subsets(
            dataset, args.keep, seeds=args.seeds, test_fraction=args.test_fraction,
            models=args.models, n_jobs=args.jobs, min_per_group=minimums, keep_ids=keep_ids,
            coverage_weight=args.coverage, method=args.method.replace("_", " "), seed=args.seed,
        )  # fmt: skip

    out = output_dir(args, command="trim", own=own)
    written = save_trim(result, out, arguments=arguments, seed=args.seed)
    print(f"Trimmed {dataset.source}: entropy of {dataset.target_col!r} per {dataset.group_col!r} (nats)")
    print_table(result.comparison)
    print()
    for line in result.summary_lines():
        print(line)
    if comparison is not None:
        from ..trimming.evaluate import save_comparison

        written += save_comparison(comparison, out / "evaluation")
        print()
        print("Downstream comparison (held-out test set; mean over seeds, 95 % t-interval):")
        print_table(comparison.summary)
        print()
        print_table(comparison.bias)
        for line in comparison.verdict_lines():
            print(line)
    print()
    print(f"wrote {len(written)} files to {out}:")
    for path in written:
        print(f"  {path}")
    return 0
