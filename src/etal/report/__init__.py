"""The HTML report (floor 9): renders finished results; nothing below imports it.

* :mod:`.html`: the self-contained page (:class:`ReportSection`, :func:`build_report`);
* :mod:`.experiment`: an experiment's results as sections (:func:`write_experiment_report`);
* :mod:`.benchmark`: a quality-benchmark result folder as sections, one per dataset
  (:func:`benchmark_sections`, :func:`write_benchmark_report`).

The plain-language text (:func:`plain_summary`, :func:`bias_snapshot`,
:func:`depleted_summary`) is made by the experiment itself (:mod:`etal.experiment.summary`)
and re-exported here, where it was before.
"""

from __future__ import annotations

from ..experiment.summary import (
    bias_snapshot,
    deficit_summary,
    depleted_summary,
    plain_summary,
)
from .benchmark import benchmark_sections, read_benchmark_result, write_benchmark_report
from .experiment import write_experiment_report
from .html import ReportSection, build_report

__all__ = [
    "ReportSection",
    "benchmark_sections",
    "bias_snapshot",
    "build_report",
    "deficit_summary",
    "depleted_summary",
    "plain_summary",
    "read_benchmark_result",
    "write_benchmark_report",
    "write_experiment_report",
]
