"""Acquisition strategies: which pool rows to label next.

A strategy scores the candidates of the group it targets and one shared selector chooses
(:mod:`etal.strategies.base`); names live in :mod:`etal.strategies.registry`.
:class:`DeficitStrategy` (``etal-deficit``, the default; :mod:`etal.strategies.deficit`)
lowers the expected mean entropy deficit across groups on a pooled GP;
:class:`ETALStrategy` (``etal``) and :class:`PaperStrategy` (``etal-paper``, Monte Carlo as
published) are the paper's rule (:mod:`etal.strategies.etal`); random, balanced and
uncertainty sampling are the baselines (:mod:`etal.strategies.baselines`).

Huge pools: when the group's prediction used the surrogate's huge-pool approximation
(``state.prediction_is_approximate(group)``: exact mean, approximate std), the
surrogate-based strategies score all candidates with it, keep the ``refine_top``
(default :data:`REFINE_TOP`) best, re-score those with the exact posterior
(``state.predict_exact``) and pick among them (``docs/performance.md``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .registry import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    is_deterministic,
    make_strategy,
    strategy_class,
)

_EXPORTS = {
    "Pick": "base", "Scores": "base", "StateView": "base", "Strategy": "base", "StrategyBase": "base",
    "SurrogateStrategy": "base",
    "BatchView": "base", "REFINE_TOP": "base", "select": "base",
    "MIN_GP_ROWS": "common",
    "ETALStrategy": "etal", "PaperStrategy": "etal", "PAPER_DRAWS": "etal",
    "DeficitStrategy": "deficit",
    "RandomStrategy": "baselines", "BalancedStrategy": "baselines", "UncertaintyStrategy": "baselines",
}  # fmt: skip

__all__ = [
    "DEFAULT_STRATEGY", "MIN_GP_ROWS", "PAPER_DRAWS", "REFINE_TOP", "STRATEGIES", "BalancedStrategy", "BatchView",
    "DeficitStrategy", "ETALStrategy", "PaperStrategy", "Pick", "RandomStrategy", "Scores", "StateView", "Strategy",
    "StrategyBase", "SurrogateStrategy", "UncertaintyStrategy", "is_deterministic", "make_strategy", "select",
    "strategy_class",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
