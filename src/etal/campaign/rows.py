"""Row identity and structure references of a campaign: ids as the store's text, and
structure cells (file paths, CIF text, structure JSON) as stored."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__: list[str] = []


def _id_text(value: Any) -> str:
    """A user id as the store's text: integral floats (ids read from a CSV with gaps) as ints."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value).strip()


def _is_text_structure(text: str) -> bool:
    head = text.lstrip()
    return head.startswith(("{", "data_", "#"))


def _resolve_structures(values: list, base: Path, source: str, column: str) -> list[str | None]:
    """Structure references as stored: absolute paths for files, text as it is, None for blanks."""
    out: list[str | None] = []
    missing = []
    for k, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
            out.append(None)
            continue
        text = str(value)
        if _is_text_structure(text):
            out.append(text)
            continue
        path = Path(text).expanduser()
        for candidate in [path] if path.is_absolute() else [base / path, path]:
            if candidate.is_file():
                out.append(str(candidate.resolve()))
                break
        else:
            missing.append((k + 1, text))
            out.append(None)
    if missing:
        shown = ", ".join(f"row {k}: {t!r}" for k, t in missing[:5])
        raise InputError(
            f"{source}: structure column {column!r} names {len(missing)} file(s) that do not exist ({shown}); "
            f"paths are taken relative to the table's folder ({base}) or the current folder."
        )
    return out
