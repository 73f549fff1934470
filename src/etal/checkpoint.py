"""Durable checkpoints of an ET-AL run: write after every acquisition, resume exactly.

Layout of a checkpoint directory::

    state.json                 loop state (iteration, selections, values, RNG, counters, ...)
    history.jsonl              one line per acquisition (append-only journal)
    entropies.jsonl            one line per iteration: entropies and statuses per group
    surrogates/<k>-<fit>.json  one group's surrogate state_dict() and cached predictions
    inputs/labelled.json.gz    the initial labelled rows
    inputs/pool.json.gz        the initial pool rows, WITHOUT labels
    inputs/oracle_labels.json.gz   only for a LookupOracle (retrospective) run

Every file is written atomically (temp file + rename, :mod:`etal.provenance`), and
``state.json`` last: a reader, or a run killed at any instant, sees a consistent set.
The two journals are appended to (and fsynced) before ``state.json`` is replaced;
``state.json`` records how many of their lines belong to the run, so a line written just
before a kill is ignored (and cut) on resume. Appending keeps a checkpoint's cost
independent of the run's length.
Surrogate files are written only when the surrogate was refitted and are named by their
fit count, so the previous ``state.json`` keeps pointing at files that still exist;
files no longer referenced are removed after ``state.json`` is replaced.

Tables are stored as gzipped JSON (``{"columns", "dtypes", "data"}``) rather than CSV:
JSON keeps integer vs string ids apart and writes floats in their shortest exact form, so
a resumed run sees bit-identical inputs.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import CheckpointError
from .provenance import atomic_write_bytes, atomic_write_json, to_jsonable

__all__ = [
    "FORMAT",
    "VERSION",
    "find_checkpoint",
    "frame_from_bytes",
    "frame_to_bytes",
    "append_rows",
    "load_input",
    "read_rows",
    "read_state",
    "reset_rows",
    "save_input",
    "write_state",
]

FORMAT = "etal-checkpoint"
VERSION = 1
STATE_FILE = "state.json"
INPUTS_DIR = "inputs"
SURROGATES_DIR = "surrogates"


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (str, bool, int, float, np.generic)):
        return to_jsonable(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)  # e.g. a structure object: kept as its text form


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    """A DataFrame as deterministic gzipped JSON (columns, dtypes, rows; NaN -> null)."""
    payload = {
        "columns": [str(c) for c in frame.columns],
        "dtypes": {str(c): str(frame[c].dtype) for c in frame.columns},
        "data": [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }
    text = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), mtime=0)


def frame_from_bytes(data: bytes) -> pd.DataFrame:
    """Inverse of :func:`frame_to_bytes` (numeric and boolean dtypes restored)."""
    payload = json.loads(gzip.decompress(data).decode("utf-8"))
    columns = payload["columns"]
    rows = payload["data"]
    frame = pd.DataFrame({c: [row[j] for row in rows] for j, c in enumerate(columns)}, columns=columns)
    for c in columns:
        dtype = payload["dtypes"].get(c, "object")
        if dtype == "object":
            continue
        try:
            frame[c] = frame[c].astype(dtype)
        except (TypeError, ValueError):  # keep the values as read
            pass
    return frame


def save_input(checkpoint_dir: str | os.PathLike, name: str, frame: pd.DataFrame) -> dict:
    """Write ``inputs/<name>.json.gz``; return ``{"file": ..., "sha256": ...}``."""
    import hashlib

    data = frame_to_bytes(frame)
    rel = f"{INPUTS_DIR}/{name}.json.gz"
    atomic_write_bytes(Path(checkpoint_dir) / rel, data)
    return {"file": rel, "sha256": hashlib.sha256(data).hexdigest(), "rows": int(len(frame))}


def load_input(checkpoint_dir: str | os.PathLike, entry: dict) -> pd.DataFrame:
    """Read an input table written by :func:`save_input`, checking its SHA-256."""
    import hashlib

    path = Path(checkpoint_dir) / entry["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint input {path} cannot be read ({exc}); the run cannot be resumed") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry["sha256"]:
        raise CheckpointError(
            f"checkpoint input {path} was changed after the run started (SHA-256 {digest[:12]}..., "
            f"expected {entry['sha256'][:12]}...); the run cannot be resumed from it"
        )
    return frame_from_bytes(data)


# ---------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------


def write_state(
    checkpoint_dir: str | os.PathLike,
    state: dict,
    surrogate_payloads: dict[str, dict] | None = None,
) -> Path:
    """Write new surrogate files, then ``state.json``, then drop unreferenced surrogate files.

    ``surrogate_payloads`` maps a relative file name (``surrogates/...``) to its content;
    ``state["surrogates"]`` must reference every surrogate file that is to be kept.
    """
    root = Path(checkpoint_dir)
    for rel, payload in (surrogate_payloads or {}).items():
        atomic_write_json(root / rel, payload)
    path = atomic_write_json(root / STATE_FILE, {"format": FORMAT, "version": VERSION, **state})
    keep = {entry["file"] for entry in state.get("surrogates", {}).values() if entry.get("file")}
    folder = root / SURROGATES_DIR
    if folder.is_dir():
        for file in folder.iterdir():
            if f"{SURROGATES_DIR}/{file.name}" not in keep and file.suffix == ".json":
                try:
                    file.unlink()
                except FileNotFoundError:  # pragma: no cover - removed concurrently
                    pass
    return path


def find_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint directory at ``path`` or at ``path/checkpoint`` (a run's output folder)."""
    root = Path(path)
    for candidate in (root, root / "checkpoint"):
        if (candidate / STATE_FILE).is_file():
            return candidate
    raise CheckpointError(
        f"no checkpoint found in {root} (looked for {root / STATE_FILE} and "
        f"{root / 'checkpoint' / STATE_FILE}); give the output folder of an 'etal run'"
    )


def read_state(checkpoint_dir: str | os.PathLike) -> dict:
    """Read and check ``state.json``; raise :class:`CheckpointError` when unusable."""
    path = Path(checkpoint_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint state at {path}") from exc
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint state {path} is unreadable ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an etal checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {state.get('version')}, this etal reads version {VERSION}"
        )
    return state


def read_surrogate(checkpoint_dir: str | os.PathLike, rel: str) -> dict:
    """Read one surrogate file referenced by ``state.json``."""
    path = Path(checkpoint_dir) / rel
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint surrogate file {path} is missing or unreadable ({exc})") from exc


# ---------------------------------------------------------------------------------------
# Append-only journals (history, entropies)
# ---------------------------------------------------------------------------------------


def _journal(checkpoint_dir: str | os.PathLike, name: str) -> Path:
    return Path(checkpoint_dir) / f"{name}.jsonl"


def _lines(rows: list[dict]) -> bytes:
    return b"".join(
        (json.dumps(to_jsonable(row), allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")
        for row in rows
    )


def append_rows(checkpoint_dir: str | os.PathLike, name: str, rows: list[dict]) -> None:
    """Append ``rows`` as JSON lines to ``<name>.jsonl`` and fsync (NaN -> null)."""
    if not rows:
        return
    path = _journal(checkpoint_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(_lines(rows))
        fh.flush()
        os.fsync(fh.fileno())


def reset_rows(checkpoint_dir: str | os.PathLike, name: str, rows: list[dict]) -> None:
    """Replace ``<name>.jsonl`` atomically by exactly ``rows``."""
    atomic_write_bytes(_journal(checkpoint_dir, name), _lines(rows))


def read_rows(checkpoint_dir: str | os.PathLike, name: str, n: int) -> list[dict]:
    """The first ``n`` rows of ``<name>.jsonl`` (later lines, e.g. torn by a kill, are ignored)."""
    path = _journal(checkpoint_dir, name)
    rows: list[dict] = []
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if len(rows) == n:
                    break
                rows.append(json.loads(line))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint journal {path} is unreadable ({exc})") from exc
    if len(rows) < n:
        raise CheckpointError(
            f"checkpoint journal {path} has {len(rows)} complete line(s), the state expects {n}; "
            "the checkpoint is damaged"
        )
    return rows
