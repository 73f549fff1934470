"""The ET-AL engine: :class:`ETAL` selects, labels, updates and stops; checkpoints resume it.

* :mod:`.loop`: :class:`ETAL`, :class:`RunResult`, :data:`HISTORY_COLUMNS`;
* :mod:`.state`: the read-only :class:`LoopState` strategies see;
* :mod:`.stopping`: the stop rules; :mod:`.checkpoint`: files, save and resume;
* :mod:`.progress`: the progress event and a tqdm adapter (the caller owns the display).
"""

from __future__ import annotations

from .loop import ETAL, HISTORY_COLUMNS, RunResult
from .progress import ProgressEvent, TqdmProgress
from .state import LoopState

__all__ = ["ETAL", "HISTORY_COLUMNS", "LoopState", "ProgressEvent", "RunResult", "TqdmProgress"]
