"""Argparse ``type=`` converters shared by the commands: whole numbers and numbers with limits.

One wording for every flag (``expected a whole number >= 1, got 0``); light (no pandas),
so registering a sub-command stays cheap. The library checks its own parameters again
(:mod:`etal.params`); these only turn text into numbers with the flag's limits.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["fraction", "int_at_least", "n_jobs", "patience", "positive_float"]


def _number(text: str, kind: type, what: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def int_at_least(low: int) -> Callable[[str], int]:
    """A converter to ``int`` that refuses values below ``low``."""

    def parse(text: str) -> int:
        value = _number(text, int, "a whole number")
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {value}")
        return value

    parse.__name__ = f"whole number >= {low}"  # argparse names the type in some messages
    return parse


def positive_float(text: str) -> float:
    """A number > 0 (seconds, eV/Å)."""
    value = _number(text, float, "a number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def fraction(text: str) -> float:
    """A fraction in [0, 1)."""
    value = _number(text, float, "a fraction")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {value}")
    return value


def patience(off: Any) -> Callable[[str], Any]:
    """``none``/``off`` -> ``off`` (the caller's spelling of "never"), else a whole number >= 1."""
    whole = int_at_least(1)

    def parse(text: str) -> Any:
        return off if text.strip().lower() in ("none", "off") else whole(text)

    return parse


def n_jobs(text: str) -> int:
    """Workers in parallel: >= 1, or negative for joblib's "all cores" (-1) and friends."""
    value = _number(text, int, "a whole number")
    if value == 0:
        raise argparse.ArgumentTypeError("expected a whole number >= 1, or -1 for all cores, got 0")
    return value
