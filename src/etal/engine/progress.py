"""Progress reporting for a run: the event the engine emits and a tqdm adapter.

The engine calls ``progress(event)`` after every iteration and once when the run ends
(``event.finished``); what to show is the caller's business. :class:`TqdmProgress` is
the bar the CLI and ``ETAL(progress=True)`` use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError

__all__ = ["ProgressEvent", "TqdmProgress", "progress_display"]


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of at most ``total`` acquisitions; last target ``group`` and ``gap`` (nats)."""

    done: int
    total: int
    group: str | None = None
    gap: float = float("nan")
    finished: bool = False


class TqdmProgress:
    """A tqdm bar fed by :class:`ProgressEvent` (created on the first event, closed on the last)."""

    def __init__(self, desc: str = "etal", unit: str = "acq") -> None:
        self.desc, self.unit = desc, unit
        self._bar = None

    def __call__(self, event: ProgressEvent) -> None:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=event.total, initial=event.done, desc=self.desc, unit=self.unit)
        else:
            self._bar.update(event.done - self._bar.n)
            if event.group is not None:
                self._bar.set_postfix(target=event.group, gap=f"{event.gap:.3f}", refresh=False)
        if event.finished:
            self._bar.close()
            self._bar = None


def progress_display(progress: Any, desc: str):
    """The callable that shows a run's progress: ``True`` → a tqdm bar, ``False``/``None`` →
    none, a callable (the caller's own display, e.g. the CLI's) → itself."""
    if progress is True:
        return TqdmProgress(desc=desc)
    if progress is False or progress is None:
        return None
    if not callable(progress):
        raise InputError(f"progress must be True, False or a callable, got {progress!r}")
    return progress
