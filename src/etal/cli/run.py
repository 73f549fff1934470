"""`etal run` (not built yet)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="(coming soon)")
    parser.set_defaults(func=lambda args: parser.error("not built yet"))
