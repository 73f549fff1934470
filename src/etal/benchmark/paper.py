"""``etal-paper``: ET-AL as published (Zhang et al. 2023; method doc §3-4), for comparison.

The lowest-entropy group, the GP posterior of each candidate, the mean and std of the
group's entropy after adding it from **Monte Carlo over 1,000 posterior draws**, expected
improvement over the group's entropy, **patience 5** (a group is excluded after 5
acquisitions in it without an entropy increase) and the fairness stop. It is today's
:class:`etal.strategies.ETALStrategy` with the estimator forced to ``"mc"``; the loop
settings it needs are in :attr:`PaperStrategy.loop_settings`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..strategies import ETALStrategy, Pick

__all__ = ["PAPER_DRAWS", "PAPER_PATIENCE", "PaperStrategy", "StateOverride"]

#: Monte Carlo draws per candidate in the paper.
PAPER_DRAWS = 1000
#: Consecutive acquisitions without an entropy increase before a group is excluded.
PAPER_PATIENCE = 5


class StateOverride:
    """A view of a loop state with some attributes replaced (e.g. ``estimator="mc"``)."""

    def __init__(self, state, **replace) -> None:
        self._state = state
        self._replace = replace

    def __getattr__(self, name):
        if name in self._replace:
            return self._replace[name]
        return getattr(self._state, name)


class PaperStrategy:
    """The published ET-AL: MC expected entropy (1,000 draws), EI, lowest-entropy group."""

    name = "etal-paper"
    uses_surrogate = True
    #: engine settings of the published method (passed to :class:`etal.loop.ETAL`)
    loop_settings: ClassVar[dict] = {"patience": PAPER_PATIENCE, "fairness_stop": True}

    def __init__(self) -> None:
        self._inner = ETALStrategy()

    def select(self, state, k: int, rng: np.random.Generator) -> list[Pick]:
        view = StateOverride(state, estimator="mc", n_samples=PAPER_DRAWS)
        return self._inner.select(view, k, rng)
