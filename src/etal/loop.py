"""Compatibility shim: the engine moved to :mod:`etal.engine` (import from there).

Kept so that ``from etal.loop import ETAL`` (and ``entropy_gap``) keeps working until
every caller is re-pointed; it holds no logic.
"""

from __future__ import annotations

from .bias.scores import entropy_gap
from .engine.loop import ETAL, HISTORY_COLUMNS, RunResult
from .engine.state import LoopState
from .oracles import LookupOracle

__all__ = ["ETAL", "HISTORY_COLUMNS", "LookupOracle", "LoopState", "RunResult", "entropy_gap"]
