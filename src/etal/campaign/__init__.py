"""Persistent ET-AL campaigns: a folder that remembers everything, with a calculator in the loop.

The folder keeps rows, suggestions, labels and entropies, and runs a calculator (EMT,
CHGNet or the user's own program) in the loop.

* :class:`Campaign` (:mod:`.campaign`): init, suggest, ingest, status, export, run;
* :mod:`.store`: the SQLite store (WAL, one transaction per state change, leases);
* :mod:`.runner`: the suggest → calculate → record loop with retries and workers;
* :mod:`.calculators`: the calculator protocol and ``emt`` / ``chgnet`` / ``command:``;
* :mod:`.demo`: alloy prototypes over EMT's metals, and the end-to-end demonstration.

See ``docs/campaigns.md``.
"""

from __future__ import annotations

from .calculators import CalculationError, make_calculator
from .campaign import Campaign, CampaignWarning, IngestReport
from .runner import RunSummary

__all__ = ["CalculationError", "Campaign", "CampaignWarning", "IngestReport", "RunSummary", "make_calculator"]
