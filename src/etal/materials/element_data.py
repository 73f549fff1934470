"""A small built-in table of element properties, and formula parsing without pymatgen.

The table is the fallback for composition descriptors when neither matminer nor pymatgen is
installed (see :mod:`etal.materials.descriptors`). Its values were generated once from
pymatgen 2026.10.24 (``pymatgen.core.Element``, MIT licence), so that a user without
pymatgen gets the same numbers as a user with it; ``tests/test_materials_descriptors.py``
checks the table against pymatgen whenever pymatgen is installed. ``nan`` marks a value
pymatgen does not have (e.g. no Pauling electronegativity for He, Ne, Ar).

Columns of :data:`ELEMENT_TABLE` (one row per element, Z = 1..118):

* ``symbol``; ``Z`` (atomic number);
* ``electronegativity``: Pauling electronegativity (dimensionless), ``Element.X``;
* ``atomic_radius``: empirical atomic radius in Å (J. C. Slater, J. Chem. Phys. 41, 3199
  (1964), as tabulated by pymatgen's ``Element.atomic_radius``);
* ``row``: period (lanthanides 6, actinides 7); ``group``: IUPAC group 1..18 (lanthanides
  and actinides 3);
* ``atomic_mass``: standard atomic weight in g/mol (amu).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from ..errors import InputError

__all__ = [
    "ELEMENT_PROPERTIES",
    "ELEMENT_TABLE",
    "HALOGENS",
    "NOBLE_GASES",
    "LANTHANIDES",
    "ACTINIDES",
    "PAPER_EXCLUDED_ELEMENTS",
    "ElementData",
    "element_data",
    "parse_formula",
    "reduced_formula",
]

nan = math.nan


class ElementData(NamedTuple):
    """Properties of one element (units in the module docstring)."""

    symbol: str
    Z: int
    electronegativity: float
    atomic_radius: float
    row: int
    group: int
    atomic_mass: float


#: Property names used by the fallback descriptors, in output order.
ELEMENT_PROPERTIES: tuple[str, ...] = ("Z", "electronegativity", "atomic_radius", "row", "group", "atomic_mass")

_ROWS = [
    ("H", 1, 2.2, 0.25, 1, 1, 1.00794),
    ("He", 2, nan, nan, 1, 18, 4.002602),
    ("Li", 3, 0.98, 1.45, 2, 1, 6.941),
    ("Be", 4, 1.57, 1.05, 2, 2, 9.012182),
    ("B", 5, 2.04, 0.85, 2, 13, 10.811),
    ("C", 6, 2.55, 0.7, 2, 14, 12.0107),
    ("N", 7, 3.04, 0.65, 2, 15, 14.0067),
    ("O", 8, 3.44, 0.6, 2, 16, 15.9994),
    ("F", 9, 3.98, 0.5, 2, 17, 18.998403),
    ("Ne", 10, nan, nan, 2, 18, 20.1797),
    ("Na", 11, 0.93, 1.8, 3, 1, 22.989769),
    ("Mg", 12, 1.31, 1.5, 3, 2, 24.305),
    ("Al", 13, 1.61, 1.25, 3, 13, 26.981539),
    ("Si", 14, 1.9, 1.1, 3, 14, 28.0855),
    ("P", 15, 2.19, 1.0, 3, 15, 30.973762),
    ("S", 16, 2.58, 1.0, 3, 16, 32.065),
    ("Cl", 17, 3.16, 1.0, 3, 17, 35.453),
    ("Ar", 18, nan, 0.71, 3, 18, 39.948),
    ("K", 19, 0.82, 2.2, 4, 1, 39.0983),
    ("Ca", 20, 1.0, 1.8, 4, 2, 40.078),
    ("Sc", 21, 1.36, 1.6, 4, 3, 44.955912),
    ("Ti", 22, 1.54, 1.4, 4, 4, 47.867),
    ("V", 23, 1.63, 1.35, 4, 5, 50.9415),
    ("Cr", 24, 1.66, 1.4, 4, 6, 51.9961),
    ("Mn", 25, 1.55, 1.4, 4, 7, 54.938045),
    ("Fe", 26, 1.83, 1.4, 4, 8, 55.845),
    ("Co", 27, 1.88, 1.35, 4, 9, 58.933195),
    ("Ni", 28, 1.91, 1.35, 4, 10, 58.6934),
    ("Cu", 29, 1.9, 1.35, 4, 11, 63.546),
    ("Zn", 30, 1.65, 1.35, 4, 12, 65.409),
    ("Ga", 31, 1.81, 1.3, 4, 13, 69.723),
    ("Ge", 32, 2.01, 1.25, 4, 14, 72.64),
    ("As", 33, 2.18, 1.15, 4, 15, 74.9216),
    ("Se", 34, 2.55, 1.15, 4, 16, 78.96),
    ("Br", 35, 2.96, 1.15, 4, 17, 79.904),
    ("Kr", 36, 3.0, nan, 4, 18, 83.798),
    ("Rb", 37, 0.82, 2.35, 5, 1, 85.4678),
    ("Sr", 38, 0.95, 2.0, 5, 2, 87.62),
    ("Y", 39, 1.22, 1.8, 5, 3, 88.90585),
    ("Zr", 40, 1.33, 1.55, 5, 4, 91.224),
    ("Nb", 41, 1.6, 1.45, 5, 5, 92.90638),
    ("Mo", 42, 2.16, 1.45, 5, 6, 95.94),
    ("Tc", 43, 1.9, 1.35, 5, 7, 98.0),
    ("Ru", 44, 2.2, 1.3, 5, 8, 101.07),
    ("Rh", 45, 2.28, 1.35, 5, 9, 102.9055),
    ("Pd", 46, 2.2, 1.4, 5, 10, 106.42),
    ("Ag", 47, 1.93, 1.6, 5, 11, 107.8682),
    ("Cd", 48, 1.69, 1.55, 5, 12, 112.411),
    ("In", 49, 1.78, 1.55, 5, 13, 114.818),
    ("Sn", 50, 1.96, 1.45, 5, 14, 118.71),
    ("Sb", 51, 2.05, 1.45, 5, 15, 121.76),
    ("Te", 52, 2.1, 1.4, 5, 16, 127.6),
    ("I", 53, 2.66, 1.4, 5, 17, 126.90447),
    ("Xe", 54, 2.6, nan, 5, 18, 131.293),
    ("Cs", 55, 0.79, 2.6, 6, 1, 132.905452),
    ("Ba", 56, 0.89, 2.15, 6, 2, 137.327),
    ("La", 57, 1.1, 1.95, 6, 3, 138.90547),
    ("Ce", 58, 1.12, 1.85, 6, 3, 140.116),
    ("Pr", 59, 1.13, 1.85, 6, 3, 140.90765),
    ("Nd", 60, 1.14, 1.85, 6, 3, 144.242),
    ("Pm", 61, 1.13, 1.85, 6, 3, 145.0),
    ("Sm", 62, 1.17, 1.85, 6, 3, 150.36),
    ("Eu", 63, 1.2, 1.85, 6, 3, 151.964),
    ("Gd", 64, 1.2, 1.8, 6, 3, 157.25),
    ("Tb", 65, 1.1, 1.75, 6, 3, 158.92535),
    ("Dy", 66, 1.22, 1.75, 6, 3, 162.5),
    ("Ho", 67, 1.23, 1.75, 6, 3, 164.93032),
    ("Er", 68, 1.24, 1.75, 6, 3, 167.259),
    ("Tm", 69, 1.25, 1.75, 6, 3, 168.93421),
    ("Yb", 70, 1.1, 1.75, 6, 3, 173.04),
    ("Lu", 71, 1.27, 1.75, 6, 3, 174.967),
    ("Hf", 72, 1.3, 1.55, 6, 4, 178.49),
    ("Ta", 73, 1.5, 1.45, 6, 5, 180.94788),
    ("W", 74, 2.36, 1.35, 6, 6, 183.84),
    ("Re", 75, 1.9, 1.35, 6, 7, 186.207),
    ("Os", 76, 2.2, 1.3, 6, 8, 190.23),
    ("Ir", 77, 2.2, 1.35, 6, 9, 192.217),
    ("Pt", 78, 2.28, 1.35, 6, 10, 195.084),
    ("Au", 79, 2.54, 1.35, 6, 11, 196.966569),
    ("Hg", 80, 2.0, 1.5, 6, 12, 200.59),
    ("Tl", 81, 1.62, 1.9, 6, 13, 204.3833),
    ("Pb", 82, 2.33, 1.8, 6, 14, 207.2),
    ("Bi", 83, 2.02, 1.6, 6, 15, 208.9804),
    ("Po", 84, 2.0, 1.9, 6, 16, 210.0),
    ("At", 85, 2.2, nan, 6, 17, 210.0),
    ("Rn", 86, 2.2, nan, 6, 18, 220.0),
    ("Fr", 87, 0.7, nan, 7, 1, 223.0),
    ("Ra", 88, 0.9, 2.15, 7, 2, 226.0),
    ("Ac", 89, 1.1, 1.95, 7, 3, 227.0),
    ("Th", 90, 1.3, 1.8, 7, 3, 232.03806),
    ("Pa", 91, 1.5, 1.8, 7, 3, 231.03588),
    ("U", 92, 1.38, 1.75, 7, 3, 238.02891),
    ("Np", 93, 1.36, 1.75, 7, 3, 237.0),
    ("Pu", 94, 1.28, 1.75, 7, 3, 244.0),
    ("Am", 95, 1.3, 1.75, 7, 3, 243.0),
    ("Cm", 96, 1.3, nan, 7, 3, 247.0),
    ("Bk", 97, 1.3, nan, 7, 3, 247.0),
    ("Cf", 98, 1.3, nan, 7, 3, 251.0),
    ("Es", 99, 1.3, nan, 7, 3, 252.0),
    ("Fm", 100, 1.3, nan, 7, 3, 257.0),
    ("Md", 101, 1.3, nan, 7, 3, 258.0),
    ("No", 102, 1.3, nan, 7, 3, 259.0),
    ("Lr", 103, 1.3, nan, 7, 3, 262.0),
    ("Rf", 104, nan, nan, 7, 4, 267.0),
    ("Db", 105, nan, nan, 7, 5, 268.0),
    ("Sg", 106, nan, nan, 7, 6, 269.0),
    ("Bh", 107, nan, nan, 7, 7, 270.0),
    ("Hs", 108, nan, nan, 7, 8, 270.0),
    ("Mt", 109, nan, nan, 7, 9, 278.0),
    ("Ds", 110, nan, nan, 7, 10, 281.0),
    ("Rg", 111, nan, nan, 7, 11, 282.0),
    ("Cn", 112, nan, nan, 7, 12, 285.0),
    ("Nh", 113, nan, nan, 7, 13, 286.0),
    ("Fl", 114, nan, nan, 7, 14, 289.0),
    ("Mc", 115, nan, nan, 7, 15, 290.0),
    ("Lv", 116, nan, nan, 7, 16, 293.0),
    ("Ts", 117, nan, nan, 7, 17, 294.0),
    ("Og", 118, nan, nan, 7, 18, 294.0),
]  # fmt: skip

#: Symbol -> :class:`ElementData` for Z = 1..118.
ELEMENT_TABLE: dict[str, ElementData] = {row[0]: ElementData(*row) for row in _ROWS}

NOBLE_GASES = frozenset({"He", "Ne", "Ar", "Kr", "Xe", "Rn", "Og"})
HALOGENS = frozenset({"F", "Cl", "Br", "I", "At", "Ts"})
LANTHANIDES = frozenset(s for s, e in ELEMENT_TABLE.items() if 57 <= e.Z <= 71)
ACTINIDES = frozenset(s for s, e in ELEMENT_TABLE.items() if 89 <= e.Z <= 103)
#: Elements whose compounds the ET-AL paper removed from JARVIS-DFT (H, halogens, noble
#: gases, lanthanides, actinides and Tc).
PAPER_EXCLUDED_ELEMENTS = frozenset({"H", "Tc"}) | HALOGENS | NOBLE_GASES | LANTHANIDES | ACTINIDES


def element_data(symbol: str) -> ElementData:
    """The table row of ``symbol`` (e.g. ``"Fe"``); unknown symbol -> :class:`InputError`."""
    try:
        return ELEMENT_TABLE[symbol]
    except KeyError:
        raise InputError(
            f"unknown element symbol {symbol!r}; use a symbol of the periodic table such as 'Fe' "
            f"(first letter upper case, second lower case)."
        ) from None


_TOKEN = re.compile(r"([A-Z][a-z]?)|(\d+(?:\.\d*)?|\.\d+)|([(\[{])|([)\]}])|(\s+)|(.)")


def parse_formula(formula: str) -> dict[str, float]:
    """Element amounts of a chemical formula, e.g. ``"Ca(OH)2"`` -> ``{"Ca": 1, "O": 2, "H": 2}``.

    Pure Python (no pymatgen): symbols, integer or decimal amounts, nested parentheses /
    brackets. Amounts of repeated elements add up. A malformed formula or an unknown
    element -> :class:`InputError`.
    """
    if not isinstance(formula, str) or not formula.strip():
        raise InputError(f"formula {formula!r} is empty or not text; give a formula such as 'Fe2O3'.")
    stack: list[dict[str, float]] = [{}]
    last: dict[str, float] | str | None = None  # what an amount right after it multiplies
    for symbol, amount, opening, closing, space, other in _TOKEN.findall(formula):
        if symbol:
            element_data(symbol)
            stack[-1][symbol] = stack[-1].get(symbol, 0.0) + 1.0
            last = symbol
        elif amount:
            value = float(amount)
            if last is None:
                raise InputError(f"formula {formula!r}: the amount {amount} follows no element or group.")
            if isinstance(last, str):
                stack[-1][last] += value - 1.0
            else:
                for key, count in last.items():
                    stack[-1][key] = stack[-1].get(key, 0.0) + count * (value - 1.0)
            last = None
        elif opening:
            stack.append({})
            last = None
        elif closing:
            if len(stack) == 1:
                raise InputError(f"formula {formula!r}: unbalanced closing bracket.")
            group = stack.pop()
            for key, count in group.items():
                stack[-1][key] = stack[-1].get(key, 0.0) + count
            last = group
        elif space:
            continue
        else:
            raise InputError(
                f"formula {formula!r}: unexpected character {other!r}; use element symbols, "
                f"numbers and brackets only (e.g. 'Ca(OH)2')."
            )
    if len(stack) != 1:
        raise InputError(f"formula {formula!r}: unbalanced opening bracket.")
    amounts = {k: v for k, v in stack[0].items() if v != 0}
    if not amounts or any(v < 0 for v in amounts.values()):
        raise InputError(f"formula {formula!r} has no elements with positive amounts.")
    return amounts


def reduced_formula(amounts: dict[str, float]) -> str:
    """A reduced formula from element amounts, elements by electronegativity like pymatgen.

    Integer amounts are divided by their greatest common divisor (``{"Na": 4, "Cl": 4}`` ->
    ``"NaCl"``); non-integer amounts are kept as given. Used only without pymatgen.
    """
    values = list(amounts.values())
    if all(abs(v - round(v)) < 1e-8 for v in values):
        divisor = 0
        for v in values:
            divisor = math.gcd(divisor, int(round(v)))
        values = [round(v) / max(divisor, 1) for v in values]

    def order(symbol: str) -> tuple[float, int]:
        data = element_data(symbol)
        x = data.electronegativity
        return (x if not math.isnan(x) else math.inf, data.Z)

    parts = []
    for symbol, value in sorted(zip(amounts, values), key=lambda item: order(item[0])):
        text = "" if abs(value - 1) < 1e-8 else (str(int(round(value))) if abs(value - round(value)) < 1e-8 else f"{value:g}")
        parts.append(symbol + text)
    return "".join(parts)
