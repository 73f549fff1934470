"""Surrogates by name: :func:`make_surrogate`, :func:`register_surrogate`, :func:`available_surrogates`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InputError
from .base import Surrogate
from .gp import GPSurrogate
from .pooled import PooledGPSurrogate

__all__ = ["available_surrogates", "make_surrogate", "register_surrogate"]

# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[..., Surrogate]] = {"gp": GPSurrogate, "pooled-gp": PooledGPSurrogate}


def register_surrogate(name: str, factory: Callable[..., Surrogate], *, overwrite: bool = False) -> None:
    """Make ``make_surrogate(name, **kwargs)`` build ``factory(**kwargs)``."""
    key = str(name).strip().lower()
    if not key:
        raise InputError("a surrogate name must be a non-empty string.")
    if key in _REGISTRY and not overwrite:
        raise InputError(f"a surrogate named {key!r} is already registered; pass overwrite=True to replace it.")
    if not callable(factory):
        raise InputError(f"the factory for surrogate {key!r} must be callable, got {factory!r}.")
    _REGISTRY[key] = factory


def available_surrogates() -> list[str]:
    """Names accepted by :func:`make_surrogate`."""
    return sorted(_REGISTRY)


def make_surrogate(name_or_obj: Any = "gp", **kwargs: Any) -> Surrogate:
    """Build a surrogate from a registered name, a class, or pass an instance through.

    ``make_surrogate("gp", ard=True)`` -> ``GPSurrogate(ard=True)``; a class implementing
    :class:`Surrogate` is instantiated with ``kwargs``; an object implementing it is
    returned unchanged (``kwargs`` must then be empty).
    """
    if isinstance(name_or_obj, str):
        key = name_or_obj.strip().lower()
        if key not in _REGISTRY:
            raise InputError(
                f"unknown surrogate {name_or_obj!r}; choose one of {available_surrogates()} "
                "or pass an object with fit/predict/state_dict/load_state_dict."
            )
        factory: Callable[..., Any] = _REGISTRY[key]
    elif isinstance(name_or_obj, type):
        factory = name_or_obj
    else:
        if not isinstance(name_or_obj, Surrogate):
            raise InputError(
                f"{type(name_or_obj).__name__} is not a surrogate: it needs fit, predict, "
                "state_dict and load_state_dict methods."
            )
        if kwargs:
            raise InputError(
                f"options {sorted(kwargs)} cannot be applied to an existing surrogate object; "
                "configure it before passing it in."
            )
        return name_or_obj
    try:
        surrogate = factory(**kwargs)
    except TypeError as exc:
        raise InputError(f"bad options for surrogate {name_or_obj!r}: {exc}") from None
    if not isinstance(surrogate, Surrogate):
        raise InputError(
            f"{name_or_obj!r} built a {type(surrogate).__name__}, which lacks the fit, predict, "
            "state_dict and load_state_dict methods of a surrogate."
        )
    return surrogate

