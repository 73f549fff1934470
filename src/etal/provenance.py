"""Reproducibility and durability helpers: atomic writes, hashes, run manifests, output folders.

Every command that writes results puts a ``manifest.json`` beside them with the etal
version, the versions of its key dependencies, the arguments, the seed and the SHA-256
of every input, so a run can be traced and repeated.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "OutputDirError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "file_sha256",
    "frame_sha256",
    "package_versions",
    "prepare_output_dir",
    "to_jsonable",
    "write_manifest",
]

_PACKAGES = ("etal", "numpy", "scipy", "pandas", "scikit-learn", "matplotlib", "joblib")


def _umask() -> int:
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, fsync, rename.

    A reader (or a resumed run) sees either the old file or the new one, never a torn one.
    The file gets the mode a plain ``open(path, "w")`` would give (0666 minus the umask;
    the temporary file's own mode is 0600), so collaborators can read shared results.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic :func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Convert NumPy/pandas scalars, arrays and paths into plain JSON types (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if np.isfinite(value) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (NaN and inf become null)."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def frame_sha256(frame) -> str:
    """SHA-256 of a DataFrame's content (values, index and column names)."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of Python, the platform and etal's key dependencies."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_manifest(
    out_dir: str | os.PathLike,
    *,
    command: str,
    arguments: dict[str, Any],
    inputs: dict[str, str] | None = None,
    seed: int | None = None,
    extra: dict[str, Any] | None = None,
    filename: str = "manifest.json",
) -> Path:
    """Write ``manifest.json`` in ``out_dir``: command, arguments, seed, input hashes, versions.

    ``inputs`` maps an input's name to its SHA-256 (see :func:`file_sha256`).
    """
    manifest = {
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arguments": arguments,
        "seed": seed,
        "inputs": inputs or {},
        "versions": package_versions(),
        "argv": sys.argv,
    }
    if extra:
        manifest.update(extra)
    return atomic_write_json(Path(out_dir) / filename, manifest)


class OutputDirError(InputError):
    """An output folder holds files a new run would overwrite or mix with."""


def _listing(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def prepare_output_dir(
    out_dir: str | os.PathLike,
    *,
    command: str,
    own: Sequence[str],
    force: bool = False,
    replace_same_command: bool = False,
    hint: str | None = None,
    check_only: bool = False,
) -> Path:
    """Make ``out_dir`` ready for the outputs of ``command`` (e.g. ``"etal run"``).

    A missing or empty folder is created / used. A folder that already holds files is
    refused with :class:`OutputDirError` (nothing is written or deleted), because a new
    run would overwrite some files and leave stale ones beside them (an old
    ``selected.csv`` next to a new ``suggestions.csv``). With ``force=True``, etal's own
    files — names matching the glob patterns ``own`` plus ``manifest.json`` — are
    removed first and unrelated files are left alone. ``replace_same_command=True`` (for
    a command's default folder, which the user did not choose) treats a folder holding
    only an earlier run of the same command as if ``force`` were given.
    ``check_only=True`` raises as above but creates and removes nothing (call it before
    the work, so that bad input writes nothing; call it again without before writing).
    """
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"{path} is a file, not a folder; choose a folder for the outputs", param="out")
    entries = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
    if not entries:
        if not check_only:
            path.mkdir(parents=True, exist_ok=True)
        return path
    patterns = [*own, "manifest.json"]
    mine = sorted({p.name for pattern in patterns for p in path.glob(pattern)})
    foreign = [name for name in entries if name not in mine]
    previous, status = _manifest_command(path / "manifest.json")
    # the default folder may be reused for the same command, but never over an
    # unfinished run (it may be resumed)
    finished = status is None or status in ("finished", "suggestions")
    if not force and replace_same_command and not foreign and previous == command and finished:
        force = True
    if not force:
        what = f"the outputs of an earlier `{previous}`" if previous else "files etal did not write"
        if previous and not finished:
            what = f"an unfinished `{previous}` (status: {status})"
        message = (
            f"{path} is not empty: it holds {_listing(entries)} ({what}). A new run would "
            f"overwrite some of them and leave the rest beside its own results. Choose an empty "
            f"or new folder, or pass force=True to remove etal's own files there first"
            + (f" (files etal did not write, {_listing(foreign)}, are kept)" if foreign else "")
            + "."
        )
        if hint:
            message += f" {hint}"
        raise OutputDirError(message, param="force")
    if check_only:
        return path
    for name in mine:
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    return path


def _manifest_command(path: Path) -> tuple[str | None, str | None]:
    """(command, status) from a manifest.json; (None, None) when there is none."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        command, status = manifest.get("command"), manifest.get("status")
    except (OSError, ValueError, AttributeError):
        return None, None
    return (command if isinstance(command, str) else None), (status if isinstance(status, str) else None)
