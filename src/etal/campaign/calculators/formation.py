"""Formation energy per atom (eV/atom) from any ASE calculator, against its own elemental references.

ΔE_f = (E(structure) − Σ_atoms e_ref(element)) / N, where e_ref is the energy per atom
of the element's ground state computed by the SAME calculator with the SAME relaxation:

* metals and C: ``ase.build.bulk(element)`` (ASE's reference lattice: fcc for Al, Cu,
  Ag, Au, Ni, Pd, Pt; diamond for C);
* H, N, O: the dimer (``ase.build.molecule``) in a box with 6 Å of vacuum, not periodic.

``relax``: ``"none"`` (single point), ``"positions"`` (atoms only) or ``"full"`` (atoms
and cell, through ASE's ``FrechetCellFilter``), with ASE's ``BFGS`` or ``FIRE`` until the
largest force is below ``fmax`` (eV/Å) or ``steps`` steps are done. A molecule is never
given a cell filter. References are cached in memory and in
``WORKDIR/references-<calculator>-<settings hash>.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from ...errors import require
from ...params import check_choice, check_float, check_int
from .base import CalculationError, load_atoms

__all__ = ["RELAX_MODES", "FormationEnergyCalculator"]

RELAX_MODES = ("none", "positions", "full")
_OPTIMIZERS = ("BFGS", "FIRE")
_MOLECULES = {"H", "N", "O"}


class FormationEnergyCalculator:
    """Base class: subclasses set ``name``, ``elements`` and :meth:`ase_calculator`."""

    name = "ase"
    #: Elements the potential covers (None: any).
    elements: frozenset[str] | None = None
    extra = "materials"

    def __init__(
        self,
        *,
        relax: str = "none",
        fmax: float = 0.05,
        steps: int = 200,
        optimizer: str = "BFGS",
        workdir: str | os.PathLike | None = None,
    ) -> None:
        check_choice("relax", relax, RELAX_MODES)
        check_float("fmax", fmax, low=0, low_open=True)  # eV/Å
        check_int("steps", steps, low=1)
        check_choice("optimizer", str(optimizer).upper(), _OPTIMIZERS)
        self.relax, self.fmax, self.steps, self.optimizer = relax, float(fmax), int(steps), optimizer.upper()
        self.workdir = None if workdir is None else str(workdir)
        self._references: dict[str, float] = {}
        self._calc = None

    # ------------------------------------------------------------------ subclass hooks

    def ase_calculator(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _calculator(self):
        if self._calc is None:
            self._calc = self.ase_calculator()
        return self._calc

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_calc"] = None  # rebuilt in the worker process
        return state

    # ------------------------------------------------------------------ protocol

    def settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "relax": self.relax,
            "fmax": self.fmax,
            "steps": self.steps,
            "optimizer": self.optimizer,
        }

    def calculate(self, structure: str | None, row_id: str) -> float:
        """Formation energy per atom (eV/atom) of the row's structure."""
        require("ase", self.extra, f"The {self.name} calculator")
        atoms = load_atoms(structure, row_id)
        symbols = atoms.get_chemical_symbols()
        if self.elements is not None:
            unsupported = sorted(set(symbols) - self.elements)
            if unsupported:
                raise CalculationError(
                    f"row {row_id!r}: {self.name} has no parameters for {unsupported}; it covers {sorted(self.elements)}"
                )
        try:
            total = self.energy(atoms, molecule=False)
            refs = {el: self.reference_energy(el) for el in set(symbols)}
        except CalculationError:
            raise
        except Exception as exc:
            raise CalculationError(f"row {row_id!r}: {self.name} failed ({type(exc).__name__}: {exc})") from None
        counts = Counter(symbols)
        value = (total - sum(n * refs[el] for el, n in counts.items())) / len(atoms)
        if not math.isfinite(value):
            raise CalculationError(f"row {row_id!r}: {self.name} gave a non-finite energy")
        return float(value)

    # ------------------------------------------------------------------ energies

    def energy(self, atoms, *, molecule: bool) -> float:
        """Total energy (eV) of ``atoms`` after the configured relaxation."""
        atoms = atoms.copy()
        atoms.calc = self._calculator()
        if self.relax != "none":
            from ase.optimize import BFGS, FIRE

            target = atoms
            if self.relax == "full" and not molecule:
                from ase.filters import FrechetCellFilter

                target = FrechetCellFilter(atoms)
            opt = (BFGS if self.optimizer == "BFGS" else FIRE)(target, logfile=None)
            opt.run(fmax=self.fmax, steps=self.steps)
        return float(atoms.get_potential_energy())

    def reference_structure(self, element: str):
        """The element's ground state (see the module docstring) as ASE ``Atoms``."""
        from ase.build import bulk, molecule

        if element in _MOLECULES:
            atoms = molecule(f"{element}2")
            atoms.center(vacuum=6.0)
            atoms.pbc = False
            return atoms
        try:
            return bulk(element)
        except Exception as exc:
            raise CalculationError(f"no reference lattice for element {element!r} ({exc})") from None

    def _cache_file(self) -> Path | None:
        if self.workdir is None:
            return None
        key = hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:12]
        return Path(self.workdir) / f"references-{self.name}-{key}.json"

    def reference_energy(self, element: str) -> float:
        """Energy per atom (eV/atom) of ``element``'s ground state, cached."""
        if element in self._references:
            return self._references[element]
        cache = self._cache_file()
        stored: dict[str, float] = {}
        if cache is not None and cache.is_file():
            try:
                stored = json.loads(cache.read_text())["references"]
            except (OSError, ValueError, KeyError):
                stored = {}  # a broken cache is recomputed, never trusted
        if element not in stored:
            atoms = self.reference_structure(element)
            stored[element] = self.energy(atoms, molecule=element in _MOLECULES) / len(atoms)
            if cache is not None:
                from ...provenance import atomic_write_json

                atomic_write_json(cache, {"settings": self.settings(), "unit": "eV/atom", "references": stored})
        self._references.update(stored)
        return self._references[element]

    def references(self) -> dict[str, float]:
        """The elemental references computed so far (eV/atom)."""
        return dict(self._references)
