"""``emt``: ASE's effective-medium-theory potential as a campaign calculator.

EMT (``ase.calculators.emt.EMT``) covers Al, Cu, Ag, Au, Ni, Pd, Pt (and, roughly, H,
C, N, O). It is fast (milliseconds per small cell) and ships with ASE, so it is the
calculator of the demonstration and the tests. The label is the formation energy per
atom (eV/atom) against EMT's own elemental references (:mod:`.formation`).
"""

from __future__ import annotations

from .formation import FormationEnergyCalculator

__all__ = ["EMT_ELEMENTS", "EMTCalculator"]

#: Elements ASE's EMT has parameters for.
EMT_ELEMENTS = frozenset({"Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O"})


class EMTCalculator(FormationEnergyCalculator):
    """Formation energy per atom (eV/atom) with ASE's EMT; see :class:`FormationEnergyCalculator`."""

    name = "emt"
    elements = EMT_ELEMENTS
    extra = "materials"

    def ase_calculator(self):
        from ase.calculators.emt import EMT

        return EMT()
