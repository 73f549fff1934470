"""Compatibility shim: checkpoints moved to :mod:`etal.engine.checkpoint` (import from there)."""

from __future__ import annotations

from .engine.checkpoint import *  # noqa: F401,F403
from .engine.checkpoint import STATE_FILE, SURROGATES_DIR, INPUTS_DIR, read_surrogate  # noqa: F401
