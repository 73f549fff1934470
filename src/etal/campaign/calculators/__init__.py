"""Calculators: a row's structure in, its label out (see :mod:`.base` for the protocol).

``make_calculator("emt" | "chgnet" | "command:TEMPLATE", **options)``.
"""

from __future__ import annotations

from .base import (
    CALCULATORS,
    CalculationError,
    Calculator,
    load_atoms,
    structure_file,
)
from .registry import make_calculator

__all__ = ["CALCULATORS", "CalculationError", "Calculator", "load_atoms", "make_calculator", "structure_file"]
