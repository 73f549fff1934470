"""The ``etal`` command line: a thin shell over the Python API.

Each sub-command lives in its own module with a ``register(subparsers)`` function that
adds its parser and sets ``func`` (called with the parsed arguments, returning an exit
code). Errors derived from :class:`etal.errors.EtalError` are printed as one clear
message (library parameter names turned into flags) and exit with status 2, never as a
traceback; warnings print as one ``etal CMD: warning: ...`` line. A closed stdout (``etal
bias | head -1``) ends the command quietly with status 141 (128 + SIGPIPE), as a C tool would.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from ..errors import EtalError

# Order here is the order in ``etal --help``.
SUBCOMMANDS = ("datasets", "bias", "run", "experiment", "demo", "trim", "campaign", "featurize", "fetch")


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


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a file descriptor
        pass


def main(argv: list[str] | None = None) -> int:
    from .common import cli_message

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    command = args.command

    def show_warning(message, category, filename, lineno, file=None, line=None):
        print(f"etal {command}: warning: {cli_message(message)}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
            return code
    except EtalError as exc:
        print(f"etal {command}: error: {cli_message(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        print(f"etal {command}: interrupted", file=sys.stderr)
        return 130
