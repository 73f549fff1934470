"""``etal demo``: the paper's experiment on the embedded OQMD-8, sized to finish in minutes.

Settings: :func:`etal.experiment.demo_config` (the same as
``examples/configs/oqmd8-demo.toml``). ``--quick`` is a reduced demo (used by the tests).
For the paper-scale version run ``etal experiment --config examples/configs/oqmd8-paper.toml``.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..experiment import DEMO_OUT
    from .argtypes import n_jobs
    from .common import add_output_argument
    from .scale_flags import add_scheduler_argument

    parser = sub.add_parser(
        "demo",
        help="run the paper's experiment on the embedded OQMD-8 (about a minute) and write report.html",
        description=(
            "The paper's experiment on the embedded OQMD-8 (2,953 binary compounds; bias = the mean entropy "
            "deficit D of the formation energy across crystal systems, nats, lower = fairer): the paper's "
            "biased split over 3 split seeds, the default strategy vs random and uncertainty sampling (100 "
            "acquisitions each, once per split). Prints D per strategy and the default strategy's advantage "
            "over each baseline, paired by split seed with a 95% t-interval; then five downstream models x "
            "2 targets x 3 seeds, figures and one self-contained report.html, whose path is printed last. "
            "Paper scale: etal experiment --config examples/configs/oqmd8-paper.toml"
        ),
    )
    add_output_argument(parser, DEMO_OUT)
    parser.add_argument("--quick", action="store_true",
                        help="a reduced demo (10 acquisitions, the default strategy vs random on 2 splits, "
                        "2 models x 2 seeds): seconds")
    parser.add_argument("--n-jobs", type=n_jobs, metavar="N", default=None,
                        help="parallel workers for the runs and the downstream fits (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_scheduler_argument(parser)
    parser.set_defaults(func=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    import dataclasses

    from ..experiment import demo_config
    from .experiment import run_and_report

    config = demo_config(quick=args.quick)
    if args.n_jobs is not None:
        config = dataclasses.replace(
            config,
            run=dataclasses.replace(config.run, n_jobs=args.n_jobs),
            downstream=dataclasses.replace(config.downstream, n_jobs=args.n_jobs),
        )
    run_and_report(config, args, "etal demo")
    return 0
