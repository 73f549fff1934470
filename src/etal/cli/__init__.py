"""The ``etal`` command line: a thin shell over the Python API.

Each sub-command lives in its own module with a ``register(subparsers)`` function that
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit
code). Errors derived from :class:`etal.errors.EtalError` are printed as one clear
message and exit with status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import EtalError

# Order here is the order in ``etal --help``.
SUBCOMMANDS = ("datasets", "bias", "run", "experiment", "demo", "featurize", "fetch", "trim")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="etal",
        description=(
            "Measure and mitigate bias in scientific datasets with entropy-targeted "
            "active learning (ET-AL; Zhang et al., Appl. Phys. Rev. 10, 021403, 2023)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"etal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f".{name}", __name__)
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except EtalError as exc:
        print(f"etal {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"etal {args.command}: interrupted", file=sys.stderr)
        return 130
