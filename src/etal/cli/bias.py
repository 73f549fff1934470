"""``etal bias``: how biased is my dataset, and where?

Prints the entropy of the target per group (nats, with bootstrap confidence intervals)
and the dataset scores, and writes ``bias.csv``, ``bias.json``,
``target_distribution.{png,svg}``, ``group_entropy.{png,svg}`` and ``manifest.json``.
"""

from __future__ import annotations

import argparse

from ..entropy import METHODS, TIES

_TABLE_SHOWN = (
    "group", "n", "entropy", "ci_low", "ci_high", "rank", "status", "ties",
    "target_min", "target_median", "target_max",
)  # fmt: skip
_REFERENCE_SHOWN = ("reference_n", "reference_entropy", "entropy_deficit")
# = etal.bias.CI_METHODS (tests check it); not imported, so that registering this
# sub-command does not import pandas.
CI_METHODS = ("smoothed", "percentile", "basic")


def register(sub: argparse._SubParsersAction) -> None:
    from .common import add_data_arguments, add_output_argument

    parser = sub.add_parser(
        "bias",
        help="entropy of the target per group: how biased is the dataset, and where",
        description=(
            "Estimate the differential entropy (nats) of the target within each group, with "
            "bootstrap confidence intervals, and score the dataset's bias by the entropy "
            "gap (max - min group entropy). Low entropy = low diversity = under-represented "
            "group. Without DATA, the embedded OQMD-8 set is used (group crystal_system, "
            "target formation_energy_per_atom)."
        ),
    )
    # No --feature-cols / --pool-file: the report uses neither features nor a pool.
    add_data_arguments(parser, features=False, pool_file=False)
    add_output_argument(parser, "etal-out/bias")
    est = parser.add_argument_group("entropy estimate")
    est.add_argument(
        "--method", default="auto", metavar="NAME",
        help=(
            "spacing estimator: auto, " + ", ".join(m.replace(" ", "_") for m in METHODS)
            + "; auto = van Es (n<=10), Ebrahimi (<=1000), Vasicek (default: auto)"
        ),
    )
    est.add_argument(
        "--window", type=int, default=None, metavar="M",
        help="window half-width for every group (default: floor(sqrt(n)+0.5) per group)",
    )
    est.add_argument(
        "--ties", default="floor", choices=TIES,
        help="tied values: floor zero spacings at the data's resolution, or stop with an error",
    )
    est.add_argument(
        "--bootstrap", type=int, default=1000, metavar="N",
        help="bootstrap resamples for the confidence intervals; 0 = none (default: 1000)",
    )
    est.add_argument(
        "--confidence", type=float, default=0.95, metavar="C",
        help="confidence level of the intervals (default: 0.95)",
    )
    est.add_argument(
        "--ci-method", default=CI_METHODS[0], choices=CI_METHODS,
        help=(
            "interval method: smoothed (smoothed bootstrap, bias-corrected; near-nominal "
            "coverage of the true entropy), percentile (plain bootstrap quantiles; "
            "under-covers badly) or basic (default: %(default)s)"
        ),
    )
    est.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    ref = parser.add_argument_group("comparison with a reference dataset")
    ref.add_argument(
        "--reference", default=None, metavar="FILE",
        help="reference table (file or embedded name) to compare each group's entropy with",
    )
    ref.add_argument(
        "--reference-group-col", default=None, metavar="COL",
        help="group column of the reference (default: the data's group column)",
    )
    ref.add_argument(
        "--reference-target-col", default=None, metavar="COL",
        help="target column of the reference (default: the data's target column)",
    )
    ref.add_argument(
        "--reference-id-col", default=None, metavar="COL",
        help="id column of the reference, if it has one named 'id' (default: none)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON instead of a table"
    )
    parser.set_defaults(func=run)


#: What ``etal bias`` writes in its folder (``--force`` removes these, and only these).
BIAS_OUTPUTS = (
    "bias.csv", "bias.json", "target_distribution.png", "target_distribution.svg",
    "group_entropy.png", "group_entropy.svg",
)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import json
    import re

    from ..bias import bias_report
    from ..data import load_data
    from ..errors import InputError
    from ..provenance import write_manifest
    from .common import dataset_from_args, manifest_arguments, output_dir, print_table

    output_dir(args, command="etal bias", own=BIAS_OUTPUTS, check_only=True)
    arguments = manifest_arguments(args)
    # The bias report uses no features; do not make the user's other columns (e.g. a
    # numeric column with gaps) a reason to fail.
    args.feature_cols = []
    dataset = dataset_from_args(args)
    reference = None
    if args.reference is not None:
        try:
            reference = load_data(
                args.reference,
                group_col=args.reference_group_col or dataset.group_col,
                target_col=args.reference_target_col or dataset.target_col,
                id_col=args.reference_id_col,
                feature_cols=[],
            )
        except InputError as exc:
            # The loader names the data's parameters; for the reference they are others.
            text = re.sub(r"\b(group_col|target_col|id_col)=", r"reference_\1=", str(exc))
            param = f"reference_{exc.param}" if exc.param in ("group_col", "target_col", "id_col") else None
            raise InputError(f"reference {args.reference}: {text}", param=param) from exc

    report = bias_report(
        dataset,
        method=args.method,
        window=args.window,
        ties=args.ties,
        n_bootstrap=args.bootstrap,
        confidence=args.confidence,
        ci_method=args.ci_method,
        seed=args.seed,
        reference=reference,
        progress=True,
    )

    out = output_dir(args, command="etal bias", own=BIAS_OUTPUTS)
    written = report.save(out)
    inputs = {"data": dataset.sha256}
    if getattr(dataset, "pool_sha256", None):
        inputs["pool"] = dataset.pool_sha256
    if reference is not None:
        inputs["reference"] = reference.sha256
    written.append(
        write_manifest(
            out,
            command="bias",
            arguments=arguments,
            inputs=inputs,
            seed=args.seed,
            extra={
                "data_source": dataset.source,
                "reference_source": reference.source if reference is not None else None,
                "scores": report.to_dict()["scores"],
            },
        )
    )

    if args.json:
        payload = report.to_dict()
        payload["files"] = [str(p) for p in written]
        print(json.dumps(payload, indent=2, allow_nan=False))
        return 0

    print(
        f"Entropy of {report.target!r} per {report.group!r} in {dataset.source} "
        f"(nats; low = less diverse = under-represented)"
    )
    shown = list(_TABLE_SHOWN) + (list(_REFERENCE_SHOWN) if reference is not None else [])
    print_table(report.table[shown])
    print()
    for line in report.summary_lines():
        print(line)
    print()
    print(f"wrote {len(written)} files to {out}:")
    for path in written:
        print(f"  {path}")
    return 0
