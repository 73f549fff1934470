"""Dataset trimming: remove redundant rows so that the groups' entropies become even.

``etal.trim(data, keep)`` (:func:`etal.trim.api.trim`) returns a :class:`TrimResult`;
:func:`save_trim` writes it; :func:`compare_subsets` trains the downstream models on the
trimmed set and on random, group-stratified and full sets. The maths is documented in
``docs/trim.md`` and in :mod:`etal.trim.objective` / :mod:`etal.trim.greedy`.

``etal.trim`` is this package, and the package is callable: ``etal.trim(data, keep)``
calls :func:`etal.trim.api.trim`. (Python binds ``etal.trim`` to the package as soon as
any sub-module is imported, so a separate function of the same name could not stay
there; ``etal.trim.trim`` is the package too, so that every path gives the same object,
and ``etal.trim.api``, ``etal.trim.greedy`` ... stay reachable from it.)
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["TrimResult", "compare_subsets", "save_trim", "trim"]

_LAZY = {
    "TrimResult": "api",
    "save_trim": "outputs",
    "compare_subsets": "evaluate",
}


def __getattr__(name: str) -> Any:
    if name == "trim":  # etal's lazy export: the callable package itself
        return sys.modules[__name__]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'etal.trim' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


class _CallableModule(types.ModuleType):
    """The package, callable as :func:`etal.trim.api.trim`."""

    def __call__(self, *args: Any, **kwargs: Any):
        from .api import trim

        return trim(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
