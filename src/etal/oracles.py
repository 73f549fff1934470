"""Oracles: where the labels of acquired pool rows come from.

The oracle protocol is one call, ``oracle(rows) -> values``: ``rows`` is a
:class:`pandas.DataFrame` of the selected pool rows (id, group and feature columns, never
a target), and the oracle returns one finite float per row, in row order (e.g. a
formation energy in eV/atom). Any plain callable with that signature works; a DFT
workflow can read the ids or features from ``rows``.

* :class:`LookupOracle` reveals held-back labels (the retrospective experiment).
* :class:`CallableOracle` wraps a function and validates what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from .errors import EtalError, InputError

__all__ = ["CallableOracle", "LookupOracle", "Oracle", "OracleError", "as_oracle", "check_oracle_values"]


class OracleError(EtalError, ValueError):
    """An oracle could not label the requested rows, or returned unusable values."""


@runtime_checkable
class Oracle(Protocol):
    """``oracle(rows) -> array of floats``, one per row of ``rows``."""

    def __call__(self, rows: pd.DataFrame) -> Any: ...


def _row_ids(rows: pd.DataFrame, id_col: str | None) -> list:
    col = id_col if id_col is not None and id_col in rows.columns else rows.attrs.get("id_col")
    if col is None or col not in rows.columns:
        return list(rows.index)
    return rows[col].tolist()


def check_oracle_values(values: Any, ids: list) -> np.ndarray:
    """Return ``values`` as a float array, or raise :class:`OracleError` naming the bad ids.

    Checks that there is exactly one finite number per requested id.
    """
    try:
        out = np.atleast_1d(np.asarray(values, dtype=float)).ravel()
    except (TypeError, ValueError) as exc:
        raise OracleError(
            f"the oracle returned non-numeric values for ids {_fmt(ids)}: {exc}"
        ) from exc
    if out.size != len(ids):
        raise OracleError(
            f"the oracle returned {out.size} value(s) for {len(ids)} requested row(s) "
            f"(ids {_fmt(ids)}); it must return exactly one value per row, in row order"
        )
    bad = ~np.isfinite(out)
    if bad.any():
        bad_ids = [ids[i] for i in np.flatnonzero(bad)]
        raise OracleError(
            f"the oracle returned non-finite values (NaN or inf) for id(s) {_fmt(bad_ids)}; "
            "fix the labels for these rows or remove them from the pool"
        )
    return out


def _fmt(ids: list, limit: int = 10) -> str:
    shown = ", ".join(repr(i) for i in list(ids)[:limit])
    return f"[{shown}{', ...' if len(ids) > limit else ''}]"


def _key(value: Any) -> Any:
    """Canonical id key: integral numbers as int (so 7, 7.0 and np.int64(7) agree), else str."""
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return str(value)


class LookupOracle:
    """Reveal held-back labels by id (the retrospective experiment).

    Parameters
    ----------
    frame_or_mapping : a DataFrame with an id column and a target column, or a mapping
        ``id -> value``.
    id_col : id column of the frame (default ``"id"``); also used to read the ids of the
        requested rows (falling back to ``rows.attrs["id_col"]``).
    target_col : target column of the frame; default: the frame's only other column, or
        ``"target"``.

    ``n_calls`` and ``n_revealed`` count how often it was asked and how many labels it gave.
    """

    def __init__(
        self,
        frame_or_mapping: pd.DataFrame | Mapping,
        id_col: str = "id",
        target_col: str | None = None,
    ) -> None:
        self.id_col = id_col
        if isinstance(frame_or_mapping, pd.DataFrame):
            frame = frame_or_mapping
            if id_col not in frame.columns:
                raise InputError(
                    f"LookupOracle: id column {id_col!r} is not in the label table; columns "
                    f"are: {', '.join(map(str, frame.columns))}"
                )
            if target_col is None:
                others = [c for c in frame.columns if c != id_col]
                if len(others) == 1:
                    target_col = others[0]
                elif "target" in frame.columns:
                    target_col = "target"
                else:
                    raise InputError(
                        "LookupOracle: say which column holds the labels (target_col=); "
                        f"columns are: {', '.join(map(str, frame.columns))}"
                    )
            if target_col not in frame.columns:
                raise InputError(
                    f"LookupOracle: target column {target_col!r} is not in the label table; "
                    f"columns are: {', '.join(map(str, frame.columns))}"
                )
            ids = frame[id_col].tolist()
            values = pd.to_numeric(frame[target_col], errors="coerce").to_numpy(dtype=float)
        elif isinstance(frame_or_mapping, Mapping):
            ids = list(frame_or_mapping.keys())
            try:
                values = np.asarray(list(frame_or_mapping.values()), dtype=float)
            except (TypeError, ValueError) as exc:
                raise InputError(f"LookupOracle: labels must be numbers: {exc}") from exc
        else:
            raise InputError(
                "LookupOracle needs a DataFrame (id and target columns) or a mapping id -> value, "
                f"got {type(frame_or_mapping).__name__}"
            )
        self.target_col = target_col or "target"
        bad = ~np.isfinite(values)
        if bad.any():
            bad_ids = [ids[i] for i in np.flatnonzero(bad)]
            raise InputError(
                f"LookupOracle: labels are missing or non-finite for id(s) {_fmt(bad_ids)}; "
                "fix or drop those rows of the label table"
            )
        table: dict[Any, float] = {}
        for i, v in zip(ids, values.tolist()):
            k = _key(i)
            if k in table and table[k] != v:
                raise InputError(
                    f"LookupOracle: id {i!r} appears twice with different labels "
                    f"({table[k]} and {v}); ids must be unique"
                )
            table[k] = v
        self._table = table
        self.n_calls = 0
        self.n_revealed = 0

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, id_: Any) -> bool:
        return _key(id_) in self._table

    def labels(self) -> pd.DataFrame:
        """All labels as a DataFrame with columns ``id_col`` and ``target_col``."""
        return pd.DataFrame({self.id_col: list(self._table), self.target_col: list(self._table.values())})

    def lookup(self, ids) -> np.ndarray:
        """Labels for ``ids``; raises :class:`OracleError` naming unknown ids."""
        ids = list(ids)
        missing = [i for i in ids if _key(i) not in self._table]
        if missing:
            raise OracleError(
                f"LookupOracle has no label for id(s) {_fmt(missing)} ({len(self._table)} labels "
                "known); the pool and the label table must use the same ids"
            )
        return np.array([self._table[_key(i)] for i in ids], dtype=float)

    def __call__(self, rows: pd.DataFrame) -> np.ndarray:
        ids = _row_ids(rows, self.id_col)
        values = self.lookup(ids)
        self.n_calls += 1
        self.n_revealed += len(ids)
        return values

    def __repr__(self) -> str:
        return f"LookupOracle({len(self._table)} labels, id_col={self.id_col!r})"


class CallableOracle:
    """Wrap ``fn(rows) -> values`` and validate its output (one finite float per row)."""

    def __init__(self, fn: Callable[[pd.DataFrame], Any], id_col: str | None = None) -> None:
        if not callable(fn):
            raise InputError(f"an oracle must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.id_col = id_col
        self.n_calls = 0

    def __call__(self, rows: pd.DataFrame) -> np.ndarray:
        ids = _row_ids(rows, self.id_col)
        try:
            values = self.fn(rows)
        except EtalError:
            raise
        except Exception as exc:
            raise OracleError(
                f"the oracle failed on id(s) {_fmt(ids)}: {type(exc).__name__}: {exc}"
            ) from exc
        self.n_calls += 1
        return check_oracle_values(values, ids)

    def __repr__(self) -> str:
        return f"CallableOracle({getattr(self.fn, '__name__', self.fn)!r})"


def as_oracle(obj: Any) -> LookupOracle | CallableOracle:
    """Return ``obj`` if it is an etal oracle, wrap a callable, or build a LookupOracle from a table."""
    if isinstance(obj, (LookupOracle, CallableOracle)):
        return obj
    if isinstance(obj, (pd.DataFrame, Mapping)):
        return LookupOracle(obj)
    if callable(obj):
        return CallableOracle(obj)
    raise InputError(
        f"an oracle must be a callable rows -> values, a LookupOracle or a label table; got "
        f"{type(obj).__name__}"
    )
