"""``command:TEMPLATE``: the user's own program (e.g. a DFT job wrapper) as a calculator.

The template is split into arguments ONCE, with :func:`shlex.split`, when the calculator
is made; for each row, ``{structure}`` (the path of the row's structure file, written as
CIF into the work folder when the row holds CIF text or a structure object) and ``{id}``
(the row id) are replaced *inside* each argument, and the program is started with
``subprocess`` and no shell. A row id such as ``x; rm -rf ~`` or ``$(reboot)`` is
therefore only the text of one argument.

The value is the last non-empty line of the program's standard output: a number, or a
JSON object with a numeric ``"value"``. A non-zero exit status, a timeout (the program's
whole process group is killed), an output that is not a finite number, or a program that
cannot be started raise :class:`CalculationError` with the standard-error tail; the
campaign records it and retries up to its attempt limit.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...params import check_float
from .base import CalculationError, structure_file

__all__ = ["CommandCalculator"]

_PLACEHOLDER = re.compile(r"\{(structure|id)\}")
_TAIL = 500  # characters of stderr kept in a failure message


def _tail(text: str | bytes | None) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.strip()
    return ("…" + text[-_TAIL:]) if len(text) > _TAIL else text


def parse_value(stdout: str) -> float:
    """The label in a program's standard output (see the module docstring)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise CalculationError("the command printed nothing on standard output; its last line must be the value")
    last = lines[-1]
    try:
        value = float(last)
    except ValueError:
        try:
            payload = json.loads(last)
            value = float(payload["value"]) if isinstance(payload, dict) else float("nan")
        except (ValueError, KeyError, TypeError):
            raise CalculationError(
                f'the last line of standard output is not a number or a JSON object with a "value": {last[:200]!r}'
            ) from None
    if not math.isfinite(value):
        raise CalculationError(f"the command's value is not a finite number: {last[:200]!r}")
    return value


class CommandCalculator:
    """Run ``template`` once per row (no shell); the label is its last stdout line."""

    name = "command"

    def __init__(self, template: str, *, timeout: float = 3600.0, workdir: str | os.PathLike | None = None) -> None:
        try:
            self.argv = shlex.split(template)
        except ValueError as exc:
            raise InputError(f"calculator template {template!r} cannot be split into arguments: {exc}") from None
        if not self.argv:
            raise InputError(
                "calculator 'command:' needs a command after the colon, e.g. 'command:python3 run.py {structure} {id}'"
            )
        check_float("timeout", timeout, low=0, low_open=True)  # seconds
        self.template = template
        self.timeout = float(timeout)
        self.workdir = str(workdir) if workdir is not None else None
        self.needs_structure = any("{structure}" in a for a in self.argv)

    def settings(self) -> dict[str, Any]:
        return {"name": "command", "template": self.template, "timeout": self.timeout}

    def arguments(self, structure_path: str, row_id: str) -> list[str]:
        """The argument list for one row (placeholders replaced inside each argument)."""
        values = {"structure": structure_path, "id": str(row_id)}
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.argv]

    def calculate(self, structure: str | None, row_id: str) -> float:
        path = ""
        if self.needs_structure:
            path = structure_file(structure, row_id, Path(self.workdir or ".") / "structures")
        argv = self.arguments(path, row_id)
        try:
            proc = subprocess.Popen(
                argv,
                shell=False,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, killed whole on timeout
            )
        except OSError as exc:
            raise CalculationError(f"cannot start {argv[0]!r}: {exc}") from None
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
            raise CalculationError(f"timed out after {self.timeout:g} s; stderr tail: {_tail(err)!r}") from None
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise
        if proc.returncode != 0:
            raise CalculationError(f"exit status {proc.returncode}; stderr tail: {_tail(err)!r}")
        try:
            return parse_value(out.decode("utf-8", "replace"))
        except CalculationError as exc:
            raise CalculationError(f"{exc}; stderr tail: {_tail(err)!r}") from None
