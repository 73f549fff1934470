"""Reproducibility and durability helpers: atomic writes, hashes, run manifests.

Every command that writes results puts a ``manifest.json`` beside them with the etal
version, the versions of its key dependencies, the arguments, the seed and the SHA-256
of every input, so a run can be traced and repeated.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "file_sha256",
    "frame_sha256",
    "package_versions",
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
