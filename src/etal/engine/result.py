"""What a run produces: :class:`RunResult` and the history table's columns."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["HISTORY_COLUMNS", "RunResult", "history_frame"]

#: Columns of :attr:`ETAL.history`, one row per acquisition.
HISTORY_COLUMNS: tuple[str, ...] = (
    "iteration", "group", "id", "value", "ei", "expected_entropy", "expected_entropy_std",
    "entropy_before", "entropy_after", "entropy_gap", "n_labelled", "status_after", "excluded",
    "seconds", "reason", "strategy",
)  # fmt: skip
_FLOAT_HISTORY = (
    "value", "ei", "expected_entropy", "expected_entropy_std", "entropy_before",
    "entropy_after", "entropy_gap", "seconds",
)  # fmt: skip

def history_frame(rows: list[dict]) -> pd.DataFrame:
    """One row per acquisition, typed (:data:`HISTORY_COLUMNS`)."""
    frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    for c in _FLOAT_HISTORY:
        frame[c] = frame[c].astype(float)
    frame["iteration"] = frame["iteration"].astype("int64")
    frame["n_labelled"] = frame["n_labelled"].astype("int64")
    frame["excluded"] = frame["excluded"].astype(bool)
    return frame


@dataclass
class RunResult:
    """What :meth:`ETAL.run` returns.

    ``history``: one row per acquisition (:data:`HISTORY_COLUMNS`); ``entropies``: one row
    per iteration (0 = start), one column per group, nats, NaN where the group's status
    (in ``entropy_status``) is not ``"ok"``; ``selected``: acquired ids in order;
    ``labelled_final``: the initial labelled rows plus the acquired rows with their labels
    (column ``acquired_at`` = iteration, 0 for the initial rows).
    """

    history: pd.DataFrame
    entropies: pd.DataFrame
    selected: list
    stop_reason: str | None
    labelled_final: pd.DataFrame
    entropy_status: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n_acquired(self) -> int:
        return len(self.selected)
