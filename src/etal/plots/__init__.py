"""Figures. Each sub-module draws one family of figures from plain tables.

:func:`save_figure` writes a figure as PNG and SVG side by side; figures are drawn with
the non-interactive Agg backend so they work on machines without a screen.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)

__all__ = ["save_figure"]


def save_figure(fig, out_dir: str | os.PathLike, stem: str, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.svg`` in ``out_dir`` and close it.

    Each file is written to a temporary name and renamed, so a reader never sees a
    half-written figure.
    """
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = out / f"{stem}.{ext}"
        tmp = out / f".{stem}.{ext}.tmp"
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=ext)
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths
