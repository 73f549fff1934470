"""The HTML report (floor 9): renders finished results; nothing below imports it.

* :mod:`.html`: the self-contained page (:class:`ReportSection`, :func:`build_report`);
* :mod:`.experiment`: an experiment's results as sections (:func:`write_experiment_report`).

The plain-language text (:func:`plain_summary`, :func:`bias_snapshot`,
:func:`depleted_summary`) is made by the experiment itself (:mod:`etal.experiment.summary`)
and re-exported here, where it was before.
"""

from __future__ import annotations

from ..experiment.summary import bias_snapshot, depleted_summary, plain_summary
from .experiment import write_experiment_report
from .html import ReportSection, build_report

__all__ = [
    "ReportSection",
    "bias_snapshot",
    "build_report",
    "depleted_summary",
    "plain_summary",
    "write_experiment_report",
]
