"""``chgnet``: the CHGNet universal interatomic potential as a campaign calculator.

CHGNet (``pip install 'etal[calculators]'``; its pretrained weights ship inside its
wheel, so no download happens at run time) covers the whole periodic table. The label
is the formation energy per atom (eV/atom) against CHGNet's own elemental references
(:mod:`.formation`), with the same optional relaxation as ``emt``.
"""

from __future__ import annotations

from ...errors import require
from .formation import FormationEnergyCalculator

__all__ = ["CHGNetCalculator"]


class CHGNetCalculator(FormationEnergyCalculator):
    """Formation energy per atom (eV/atom) with CHGNet; see :class:`FormationEnergyCalculator`."""

    name = "chgnet"
    elements = None
    extra = "calculators"

    def __init__(self, **kwargs) -> None:
        require("chgnet", "calculators", "The chgnet calculator")  # fail at creation, not per row
        super().__init__(**kwargs)

    def ase_calculator(self):
        from chgnet.model.dynamics import CHGNetCalculator as _ASECalculator

        return _ASECalculator(use_device="cpu")
