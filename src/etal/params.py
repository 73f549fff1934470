"""Parameter checks: one checker per kind of limit, one message format.

Classes declare their limits once (at the top of ``__init__`` or in a table) and call
these helpers; every failure raises :class:`~etal.errors.InputError` worded
``"NAME must be ..., got VALUE"`` so that a user sees the same sentence everywhere.
``bool`` is never accepted as a number (``True`` is not the integer 1 here).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from .errors import InputError

__all__ = ["check_bool", "check_choice", "check_float", "check_int"]


def _fail(name: str, what: str, value: Any, allow_none: bool, where: str | None = None) -> InputError:
    # param= lets the CLI name its flag for the parameter; where= says whose parameter it is
    prefix = f"{where}: " if where else ""
    return InputError(f"{prefix}{name} must be {what}{' or None' if allow_none else ''}, got {value!r}", param=name)


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return (" " + " and ".join(parts)) if parts else ""


def _check_number(
    name: str, value: Any, kind: str, low: float | None, high: float | None, low_open: bool, high_open: bool,
    allow_none: bool, where: str | None,
) -> bool:
    """Raise unless ``value`` is a number of ``kind`` within the bounds; False for a
    passing ``None`` (when ``allow_none``), else True."""
    if value is None and allow_none:
        return False
    what = ("an integer" if kind == "int" else "a finite number") + _bounds(low, high, low_open, high_open)
    number_type = numbers.Integral if kind == "int" else numbers.Real
    if isinstance(value, bool) or not isinstance(value, number_type):
        raise _fail(name, what, value, allow_none, where)
    if kind == "float" and not math.isfinite(float(value)):
        raise _fail(name, what, value, allow_none, where)
    if low is not None and (value <= low if low_open else value < low):
        raise _fail(name, what, value, allow_none, where)
    if high is not None and (value >= high if high_open else value > high):
        raise _fail(name, what, value, allow_none, where)
    return True


def check_int(
    name: str, value: Any, *, low: int | None = None, high: int | None = None, allow_none: bool = False,
    where: str | None = None,
) -> int | None:
    """``value`` as an ``int`` in ``[low, high]`` (``None`` passes when ``allow_none``).

    ``where`` (e.g. ``"synthetic"``) prefixes the message with whose parameter it is."""
    return int(value) if _check_number(name, value, "int", low, high, False, False, allow_none, where) else None


def check_float(
    name: str, value: Any, *, low: float | None = None, high: float | None = None, low_open: bool = False,
    high_open: bool = False, allow_none: bool = False, where: str | None = None,
) -> float | None:
    """``value`` as a finite ``float`` in ``[low, high]`` (``None`` passes when ``allow_none``);
    ``low_open`` / ``high_open`` exclude the bound itself (``confidence`` in ``(0, 1)``)."""
    return float(value) if _check_number(name, value, "float", low, high, low_open, high_open, allow_none, where) else None


def check_bool(name: str, value: Any, *, allow_none: bool = False, where: str | None = None) -> bool | None:
    """``value`` as a ``bool`` (only ``True``/``False``, or ``None`` when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool,)) and type(value).__name__ != "bool_":
        raise _fail(name, "True or False", value, allow_none, where)
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[Any], *, where: str | None = None) -> Any:
    """``value`` if it is one of ``choices`` (the message lists them)."""
    options = tuple(choices)
    if value not in options:
        raise _fail(name, f"one of {', '.join(map(repr, options))}", value, False, where)
    return value


def default_of(func: Any, name: str) -> Any:
    """The default of parameter ``name`` in ``func``'s signature, so that a default read
    elsewhere (CLI, experiment config) has one home: the function that uses it."""
    import inspect

    return inspect.signature(func).parameters[name].default
