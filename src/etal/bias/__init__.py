"""The bias layer (floor 3): how diverse is the target inside each group, and how uneven?

For every group g (a crystal system, a chemical family, any categorical column) the
report estimates the differential entropy h_g of the group's labelled target values
(nats, the spacing estimators of :mod:`etal.entropy`), a bootstrap confidence interval
for it, and scalar scores for the whole dataset. Low entropy = low diversity =
under-represented group (Zhang et al., Appl. Phys. Rev. 10, 021403, 2023).

Modules: :mod:`~etal.bias.scores` (the one home of ``entropy_gap`` and
``entropy_deficit``), :mod:`~etal.bias.bootstrap` (resampling maths and interval
methods, with their measured coverage), :mod:`~etal.bias.report` (:func:`bias_report`,
:class:`BiasReport`) and :mod:`~etal.bias.outputs` (files and figures).
"""

from __future__ import annotations

from .bootstrap import CI_METHODS
from .report import REFERENCE_COLUMNS, TABLE_COLUMNS, BiasReport, bias_report

__all__ = ["BiasReport", "bias_report", "TABLE_COLUMNS", "REFERENCE_COLUMNS", "CI_METHODS"]
