"""Quality benchmark of acquisition strategies (issue 10; research phase).

How well does a strategy remove a dataset's bias per new label? Run every strategy on
several biased splits of several datasets, score each acquisition by the mean entropy
deficit D (:func:`etal.bias.scores.entropy_deficit`) and compare with a clairvoyant
greedy bound that sees the pool's labels (:mod:`etal.benchmark.oracle`; benchmarks only).

* :mod:`.metrics` — D curves, area under them, labels saved, share of the bound;
* :mod:`.oracle` — the clairvoyant greedy bound (sees labels; benchmarks only);
* :mod:`.paper` — ``etal-paper``: the published method (MC, 1,000 draws, EI, patience 5);
* :mod:`.candidates` — new strategies under study;
* :mod:`.runner` — strategies x datasets x split seeds x budget -> per-acquisition metrics.

Floor 8 (it runs the engine); nothing below imports it.
"""

from __future__ import annotations

__all__: list[str] = []
