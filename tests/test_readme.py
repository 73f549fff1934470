"""Every code block of README.md runs as written (issue 9: the pasted snippet failed).

``python`` blocks run as scripts and ``bash`` blocks as ``bash -e`` scripts, each in a
fresh folder in the order they appear (one folder for the whole README, so a block may
use what an earlier one wrote, as a reader following along would). ``text`` blocks are
sample output and are not run. In the set-up block, the ``pip install`` commands and the
test command are what CI itself runs before this test, so they are skipped here; the
rest of that block (``etal demo``) runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
RUN = ("python", "bash")


def _blocks() -> list[tuple[int, str, str]]:
    text = README.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        out.append((line, m.group(1), m.group(2)))
    return out


def _setup_lines(code: str) -> str:
    """The set-up block without what CI runs itself (installs and the test command)."""
    kept = []
    for line in code.splitlines():
        parts = [p.strip() for p in line.split("&&")]
        parts = [p for p in parts if not p.startswith("pip install") and "pytest" not in p]
        kept.append(" && ".join(parts))
    return "\n".join(kept) + "\n"


def test_readme_has_runnable_blocks():
    kinds = [kind for _, kind, _ in _blocks()]
    assert kinds.count("python") >= 1 and kinds.count("bash") >= 2
    assert set(kinds) <= {"python", "bash", "text"}, f"unknown block kinds {set(kinds)}: run them or mark them text"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


@pytest.mark.parametrize("line,kind,code", [b for b in _blocks() if b[1] in RUN], ids=lambda v: str(v)[:12])
def test_readme_block_runs(line, kind, code, workdir):
    if kind == "bash" and "pip install" in code:
        code = _setup_lines(code)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "error::DeprecationWarning:etal"}
    # `python` and `etal` in the blocks are this interpreter's
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    if kind == "python":
        args = [sys.executable, "-c", code]
    else:
        args = ["bash", "-e", "-o", "pipefail", "-c", code]
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"README.md block at line {line} ({kind}) failed with exit {proc.returncode}:\n"
        f"{proc.stderr[-3000:]}\n{proc.stdout[-1500:]}"
    )
