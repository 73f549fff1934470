"""Dataset trimming: remove redundant rows so that the groups' entropies become even.

``etal.trim(data, keep)`` (:func:`etal.trimming.api.trim`) returns a :class:`TrimResult`;
:func:`save_trim` writes it; :func:`compare_subsets` trains the downstream models on the
trimmed set and on random, group-stratified and full sets. The maths is documented in
``docs/trim.md`` and in :mod:`etal.trimming.objective` / :mod:`etal.trimming.greedy`.
"""

from __future__ import annotations

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
        raise AttributeError(f"module 'etal.trimming' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
