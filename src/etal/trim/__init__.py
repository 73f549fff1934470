"""Dataset trimming: remove redundant rows so that the groups' entropies become even.

``etal.trim(data, keep)`` (:func:`etal.trim.api.trim`) returns a :class:`TrimResult`;
:func:`save_trim` writes it; :func:`compare_subsets` trains the downstream models on the
trimmed set and on random, group-stratified and full sets. The maths is documented in
``docs/trim.md`` and in :mod:`etal.trim.objective` / :mod:`etal.trim.greedy`.

``etal.trim`` is both this package and the function: importing a sub-module makes the
package an attribute of ``etal``, so the package itself is callable (calling it calls
:func:`etal.trim.api.trim`); ``etal.trim.api`` etc. stay importable.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["TrimResult", "compare_subsets", "save_trim", "trim"]

_LAZY = {
    "trim": "api",
    "TrimResult": "api",
    "save_trim": "outputs",
    "compare_subsets": "evaluate",
}


def __getattr__(name: str) -> Any:
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
