"""The one home of strategy names: :data:`STRATEGIES` and :func:`make_strategy`.

The CLI's ``--strategy`` choices, the experiment's strategy list and checkpoint resume
all read :data:`STRATEGIES`; importing this module is cheap (classes load on first use).

* ``etal-deficit`` (the default): the largest expected drop of the mean entropy deficit
  over all groups, on one pooled GP (:mod:`.deficit`; ``docs/benchmark.md``);
* ``etal``: the paper's rule (lowest-entropy group, expected improvement) with the
  loop's estimator (quadrature by default);
* ``etal-paper``: the paper as published (Monte Carlo, 1,000 draws);
* ``random``, ``balanced``, ``uncertainty``: baselines.

The clairvoyant bound (sees labels) is not here: it lives in :mod:`etal.benchmark`.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from ..errors import InputError

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "is_deterministic", "make_strategy", "strategy_class"]

_CLASSES = {
    "etal-deficit": ("deficit", "DeficitStrategy"),
    "etal": ("etal", "ETALStrategy"),
    "etal-paper": ("etal", "PaperStrategy"),
    "random": ("baselines", "RandomStrategy"),
    "balanced": ("baselines", "BalancedStrategy"),
    "uncertainty": ("baselines", "UncertaintyStrategy"),
}
#: Names accepted by :func:`make_strategy`.
STRATEGIES: tuple[str, ...] = tuple(_CLASSES)
#: The strategy used when none is named (engine, CLI, experiment, demo, campaigns).
DEFAULT_STRATEGY: str = "etal-deficit"


def strategy_class(name: str) -> type:
    """The class registered under ``name`` (InputError listing the valid names otherwise)."""
    key = str(name).strip().lower()
    if key not in _CLASSES:
        raise InputError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    module, cls = _CLASSES[key]
    return getattr(import_module(f"{__package__}.{module}"), cls)


def is_deterministic(name: str, estimator: str) -> bool:
    """Does strategy ``name`` make no random choice with this expected-entropy estimator?

    Read from the class (``deterministic``, ``uses_estimator``): such a strategy's picks
    depend on the generator only through seeded picks in a group with too few labelled
    rows for a GP (see :data:`etal.strategies.common.MIN_GP_ROWS`).
    """
    from ..acquisition import DETERMINISTIC_ESTIMATORS

    cls = strategy_class(name)
    return bool(cls.deterministic) and (not cls.uses_estimator or estimator in DETERMINISTIC_ESTIMATORS)


def _settings(cls: type) -> list[str]:
    names = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self",)]
    return [p for p in names if p != "stop_rules"] + (["patience", "fairness_stop"] if "stop_rules" in names else [])


def make_strategy(name_or_obj: Any = DEFAULT_STRATEGY, **params: Any):
    """A strategy by name with its settings (``make_strategy("uncertainty", refine_top=5)``),
    or an object with ``select(state, k, rng)`` passed through unchanged."""
    if not isinstance(name_or_obj, str):
        if not callable(getattr(name_or_obj, "select", None)):
            raise InputError(
                f"a strategy needs a select(state, k, rng) method; got {type(name_or_obj).__name__}"
            )
        if params:
            raise InputError(
                f"settings {sorted(params)} cannot be applied to an existing strategy object; "
                "configure it before passing it in"
            )
        return name_or_obj
    cls = strategy_class(name_or_obj)
    valid = _settings(cls)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InputError(
            f"strategy {cls.name!r} has no setting(s) {unknown}; its settings are: {', '.join(valid)}"
        )
    return cls(**params)
