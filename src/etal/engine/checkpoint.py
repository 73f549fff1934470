"""Durable checkpoints of an ET-AL run: write after every acquisition, resume exactly.

The file format (below) and the two engine helpers: :func:`save_loop` (write a running
loop's state) and :func:`resume_loop` (rebuild a loop from its checkpoint by replaying
its acquisitions).

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
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CheckpointError, InputError
from ..provenance import atomic_write_bytes, atomic_write_json, to_jsonable

__all__ = [
    "FORMAT",
    "VERSION",
    "append_rows",
    "find_checkpoint",
    "frame_from_bytes",
    "frame_to_bytes",
    "load_input",
    "read_rows",
    "read_state",
    "reset_rows",
    "resume_loop",
    "save_input",
    "save_loop",
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
    return {"file": rel, "sha256": hashlib.sha256(data).hexdigest(), "rows": len(frame)}


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
        f"{root / 'checkpoint' / STATE_FILE}); give the output folder of a run that wrote checkpoints"
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


# ---------------------------------------------------------------------------------------
# The engine's side: save a running loop, resume one
# ---------------------------------------------------------------------------------------

NAN = float("nan")
_TEXT_FIELDS = ("reason", "group", "id", "strategy", "status_after")


def nan_floats(row: dict) -> dict:
    """JSON null back to NaN for the numeric fields of a stored row."""
    return {k: (NAN if v is None and k not in _TEXT_FIELDS else v) for k, v in row.items()}


def check_directory_free(checkpoint_dir: Path) -> None:
    """Refuse to start a new run in a directory holding an unfinished one."""
    if (checkpoint_dir / STATE_FILE).exists():
        try:
            old = read_state(checkpoint_dir)
        except CheckpointError:
            old = {}
        if not old.get("stop_reason"):
            raise CheckpointError(
                f"{checkpoint_dir} holds an unfinished run; resume it (ETAL.resume) or choose "
                "another checkpoint directory"
            )


def oracle_labels_input(loop, oracle) -> dict:
    """Save a LookupOracle's labels of the pool rows, so resume needs nothing else."""
    ids = [i for i in loop._pool_input[loop.id_col].tolist() if i in oracle]
    labels = pd.DataFrame({loop.id_col: ids, loop.target_col: oracle.lookup(ids) if ids else []})
    return save_input(loop.checkpoint_dir, "oracle_labels", labels)


def _state_dict(loop) -> tuple[dict, dict]:
    surrogates, payloads = {}, {}
    for index, (g, grp) in enumerate(loop._groups.items()):
        if grp.surrogate is None:
            continue
        if grp.saved_fit_count != grp.fit_count or grp.saved_file is None:
            rel = f"{SURROGATES_DIR}/{index:03d}-{grp.fit_count}.json"
            mu, sigma = grp.prediction if grp.prediction is not None else (None, None)
            payloads[rel] = {
                "group": g,
                "fitted_n": grp.fitted_n,
                "fit_count": grp.fit_count,
                "state": grp.surrogate.state_dict(),
                # Saved so a resumed run does not depend on predict() after
                # load_state_dict() reproducing the last bits.
                "prediction_mean": None if mu is None else [float(v) for v in mu],
                "prediction_std": None if sigma is None else [float(v) for v in sigma],
                "prediction_approximate": bool(grp.approximate),
            }
            grp.saved_file, grp.saved_fit_count = rel, grp.fit_count
        surrogates[g] = {"file": grp.saved_file, "fitted_n": grp.fitted_n, "fit_count": grp.fit_count}
    from .. import __version__

    state = {
        "etal_version": __version__,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": loop.settings(),
        "inputs": loop._inputs_meta,
        "groups": list(loop._groups),
        "iteration": loop.iteration,
        "n_acquired": len(loop._selected),
        "selected": list(loop._selected),
        "acquired_values": list(loop._values),
        "history_rows": len(loop._history_rows),
        "entropy_rows": len(loop._entropy_rows),
        "last_entropies": loop._entropy_rows[-1],
        "no_increase": {g: grp.no_increase for g, grp in loop._groups.items()},
        "excluded": [g for g, grp in loop._groups.items() if grp.excluded],
        "rng_state": loop._rng.bit_generator.state,
        "surrogates": surrogates,
        "stop_reason": loop.stop_reason,
    }
    # A strategy with a model of its own (e.g. etal-deficit's pooled GP) saves its
    # JSON-able state, so that a resumed run does not re-fit it on different rows.
    strategy_state = getattr(loop.strategy, "state_dict", None)
    if callable(strategy_state):
        state["strategy_state"] = strategy_state()
    return state, payloads


def save_loop(loop) -> Path:
    """Write ``loop``'s checkpoint: journals first (only what is new), then ``state.json``."""
    root = loop.checkpoint_dir
    done_h, done_e = loop._journaled
    if done_h == 0 and done_e == 0:
        reset_rows(root, "history", [])
        reset_rows(root, "entropies", [])
    append_rows(root, "history", loop._history_rows[done_h:])
    append_rows(
        root,
        "entropies",
        [{"entropy": e, "status": st} for e, st in zip(loop._entropy_rows[done_e:], loop._status_rows[done_e:])],
    )
    loop._journaled = (len(loop._history_rows), len(loop._entropy_rows))
    state, payloads = _state_dict(loop)
    return write_state(root, state, payloads)


def _settings_for_rebuild(settings: dict) -> dict:
    """Stored (resolved) settings -> constructor arguments that rebuild the same loop."""
    out = dict(settings)
    # Stored values are resolved: None means "off", not "the strategy's default".
    if "patience" in out and out["patience"] is None:
        out["patience"] = "off"
    params = out.pop("strategy_params", None)
    if params is not None and isinstance(out.get("strategy"), str):
        from ..strategies import make_strategy

        rules = {k: params[k] for k in ("patience", "fairness_stop") if k in params}
        others = {k: v for k, v in params.items() if k not in rules}
        out["strategy"] = make_strategy(out["strategy"], **others, **rules)
    return out


def resume_loop(cls, checkpoint_dir, oracle=None, *, strategy=None, surrogate=None, progress=True):
    """Rebuild a loop of class ``cls`` from its checkpoint (see :meth:`etal.engine.ETAL.resume`)."""
    from ..oracles import LookupOracle, as_oracle
    from ..strategies import STRATEGIES

    root = find_checkpoint(checkpoint_dir)
    state = read_state(root)
    if state.get("stop_reason"):
        raise CheckpointError(
            f"the run in {root} has finished ({state['stop_reason']}; "
            f"{state.get('n_acquired', 0)} acquisitions); there is nothing to resume. "
            "Start a new run (e.g. with a larger budget) in another directory"
        )
    settings = dict(state["settings"])
    for key, given in (("strategy", strategy), ("surrogate", surrogate)):
        if given is not None:
            settings[key] = given
            if key == "strategy":
                settings.pop("strategy_params", None)
        elif settings[key] not in (STRATEGIES if key == "strategy" else ("gp",)):
            raise CheckpointError(
                f"the run used a custom {key} ({settings[key]}); pass it to ETAL.resume({key}=...)"
            )
    try:
        loop = cls(**_settings_for_rebuild(settings), checkpoint_dir=root, progress=progress)
    except InputError as exc:
        raise CheckpointError(f"the checkpoint's settings are invalid: {exc}") from exc
    inputs = state.get("inputs") or {}
    if "labelled" not in inputs or "pool" not in inputs:
        raise CheckpointError(f"the checkpoint in {root} lacks its input tables")
    labelled = load_input(root, inputs["labelled"])
    pool = load_input(root, inputs["pool"])
    loop._setup(labelled, pool, trusted=True)
    loop._inputs_meta = inputs
    if state["groups"] != list(loop._groups):
        raise CheckpointError("the checkpoint's groups do not match its input tables")
    # Replay the acquisitions in order (the labelled arrays then have the same order).
    selected, values = state["selected"], state["acquired_values"]
    history = read_rows(root, "history", int(state["history_rows"]))
    journal = read_rows(root, "entropies", int(state["entropy_rows"]))
    if len(selected) != len(values) or len(selected) != len(history) or not journal:
        raise CheckpointError("the checkpoint is inconsistent (selections, values and history differ)")
    for i, value in zip(selected, values):
        if i not in loop._where:
            raise CheckpointError(f"the checkpoint selects id {i!r}, which is not in its pool")
        g, local = loop._where.pop(i)
        loop._groups[g].acquire(local, float(value))
    for g, grp in loop._groups.items():
        grp.estimate = loop._estimate(grp.values)
        grp.no_increase = int(state["no_increase"].get(g, 0))
        grp.excluded = g in state["excluded"]
    last = journal[-1]["entropy"]
    if last != state["last_entropies"]:
        raise CheckpointError("the checkpoint's entropy journal does not match its state")
    for g, grp in loop._groups.items():
        saved = last.get(g)
        now = grp.estimate.entropy
        if not ((saved is None and math.isnan(now)) or (saved is not None and saved == now)):
            raise CheckpointError(
                f"replaying the checkpoint gives entropy {now} for group {g!r}, but it recorded "
                f"{saved}; the checkpoint does not match its inputs"
            )
    loop.iteration = int(state["iteration"])
    loop._selected = list(selected)
    loop._values = [float(v) for v in values]
    loop._history_rows = [nan_floats(r) for r in history]
    loop._entropy_rows = [nan_floats(r["entropy"]) for r in journal]
    loop._status_rows = [r["status"] for r in journal]
    # Cut journal lines written after the last state.json (a kill between the two).
    reset_rows(root, "history", history)
    reset_rows(root, "entropies", journal)
    loop._journaled = (len(history), len(journal))
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state["rng_state"]
    loop._rng = rng
    for g, entry in state.get("surrogates", {}).items():
        payload = read_surrogate(root, entry["file"])
        grp = loop._groups[g]
        grp.surrogate = loop._new_surrogate()
        grp.surrogate.load_state_dict(payload["state"])
        grp.fitted_n = int(payload["fitted_n"])
        grp.fit_count = grp.saved_fit_count = int(payload["fit_count"])
        grp.saved_file = entry["file"]
        if payload.get("prediction_mean") is not None:
            grp.prediction = (
                np.asarray(payload["prediction_mean"], dtype=float),
                np.asarray(payload["prediction_std"], dtype=float),
            )
            grp.approximate = bool(payload.get("prediction_approximate", False))
    load_strategy_state = getattr(loop.strategy, "load_state_dict", None)
    if "strategy_state" in state and callable(load_strategy_state):
        load_strategy_state(state["strategy_state"])
    if oracle is not None:
        loop._oracle = as_oracle(oracle)
    elif "oracle_labels" in inputs:
        labels = load_input(root, inputs["oracle_labels"])
        loop._oracle = LookupOracle(labels, id_col=loop.id_col, target_col=loop.target_col)
    loop._update_stop()
    return loop


def check_same_inputs(loop, labelled, pool) -> None:
    """Refuse tables that differ (by ids) from those the run started with."""
    for name, frame, mine in (("labelled", labelled, loop._labelled_input), ("pool", pool, loop._pool_input)):
        if frame is None:
            continue
        ids = frame[loop.id_col].tolist() if loop.id_col in frame.columns else None
        if ids != mine[loop.id_col].tolist():
            raise CheckpointError(
                f"the {name} table given to run() does not match the one this run started "
                "with (different ids); resume without tables or start a new run"
            )
