"""Quality benchmark of acquisition strategies (issue 10): D per new label, against a bound.

How well does a strategy remove a dataset's bias per new label? Run every strategy on
several biased splits of several datasets, score each acquisition by the mean entropy
deficit D (:func:`etal.bias.scores.entropy_deficit`; metrics and table schemas in
:mod:`etal.evaluation.quality`) and compare with a clairvoyant greedy bound that sees the
pool's labels.

* :mod:`.oracle` — the clairvoyant greedy bound ``oracle`` (SEES LABELS; benchmarks only,
  deliberately not in :data:`etal.strategies.STRATEGIES`, so ``etal run`` cannot use it);
* :mod:`.runner` — datasets, strategies x datasets x split seeds x budget -> D per
  acquisition, and the benchmark's tables.

The strategies themselves (``etal-deficit``, ``etal``, ``etal-paper``, the baselines) come
from the registry. The command is ``benchmarks/quality.py`` (``docs/benchmark.md``).
Floor 8 (it runs the engine); nothing below imports it.
"""

from __future__ import annotations

__all__: list[str] = []
