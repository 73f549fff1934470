"""The calculator registry: a name (``emt``, ``chgnet``, ``command:TEMPLATE``) -> a calculator."""

from __future__ import annotations

import os
from typing import Any

from ...errors import InputError
from .base import CALCULATORS, Calculator

__all__ = ["make_calculator"]


def make_calculator(spec: Any, *, workdir: str | os.PathLike | None = None, **options: Any) -> Calculator:
    """A calculator from its name: ``"emt"``, ``"chgnet"`` or ``"command:TEMPLATE"``.

    ``options`` go to the calculator (``relax``, ``fmax``, ``steps``, ``optimizer`` for
    emt/chgnet; ``timeout`` for command); ``None`` values are dropped. ``workdir``: where
    a calculator may cache (elemental references) or write (structure files). An object
    with ``calculate`` and ``settings`` is returned as it is.
    """
    if not isinstance(spec, str):
        if callable(getattr(spec, "calculate", None)) and callable(getattr(spec, "settings", None)):
            return spec
        raise InputError(
            f"calculator must be a name ({', '.join(CALCULATORS)}) or an object with calculate(), got {spec!r}"
        )
    options = {k: v for k, v in options.items() if v is not None}
    name, colon, rest = spec.partition(":")
    name = name.strip().lower()
    allowed = {
        "emt": {"relax", "fmax", "steps", "optimizer"},
        "chgnet": {"relax", "fmax", "steps", "optimizer"},
        "command": {"timeout"},
    }
    if name not in allowed or (name == "command") != bool(colon):
        raise InputError(
            f"unknown calculator {spec!r}; choose emt, chgnet or command:TEMPLATE (e.g. "
            f"'command:python3 my_dft.py {{structure}} {{id}}')"
        )
    unknown = set(options) - allowed[name]
    if unknown:
        raise InputError(f"calculator {name!r} takes no option(s) {sorted(unknown)}; it takes {sorted(allowed[name])}")
    if name == "emt":
        from .emt import EMTCalculator

        return EMTCalculator(workdir=workdir, **options)
    if name == "chgnet":
        from .chgnet import CHGNetCalculator

        return CHGNetCalculator(workdir=workdir, **options)
    from .command import CommandCalculator

    return CommandCalculator(rest, workdir=workdir, **options)
