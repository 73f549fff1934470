"""Exceptions raised by etal.

Every error a user can trigger with bad input derives from :class:`EtalError`, so the
CLI can print its message (which names the file, column or rows, and what to do) and
exit with a non-zero status instead of showing a traceback.
"""

from __future__ import annotations


class EtalError(Exception):
    """Base class of every error etal raises on purpose.

    ``param`` names the Python parameter the problem is about (``"group_col"``,
    ``"ties"``, ...), or None. Messages speak the library's vocabulary (``group_col=``,
    ``ties='floor'``); the CLI translates parameter names into its flags
    (:func:`etal.cli.common.cli_message`), so the library never names a flag.
    """

    def __init__(self, *args: object, param: str | None = None) -> None:
        super().__init__(*args)
        self.param = param


class InputError(EtalError, ValueError):
    """A table, file, column or argument given by the user is not usable."""


class TooFewValuesError(EtalError, ValueError):
    """A group has fewer values than an entropy estimate needs (5)."""


class TiedValuesError(EtalError, ValueError):
    """Tied values were found and the caller asked for ties to be an error."""


class ConstantValuesError(EtalError, ValueError):
    """All values are equal: the differential entropy is -inf."""


class MissingExtraError(EtalError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class CheckpointError(EtalError):
    """A run directory or checkpoint cannot be used to resume."""


def require(module: str, extra: str, purpose: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the pip extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised via monkeypatch in tests
        raise MissingExtraError(
            f"{purpose} needs the optional package '{module}', which is not installed. "
            f"Install it with: pip install 'etal[{extra}]'"
        ) from exc
