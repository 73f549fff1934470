"""The ``--scheduler`` flag shared by the commands that can run on Dask.

``add_scheduler_argument(parser)`` adds ``--scheduler ADDRESS|local:N``;
``client_from_args(args)`` is a context manager giving a connected
``distributed.Client`` (or None without the flag, and then Dask is not imported).
Errors from :mod:`etal.scale.cluster` get the flag's name added here.
``stage_bars()`` is the progress callback of a partitioned-pool pick: one tqdm bar
(partitions done / total) per stage.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import EtalError, InputError, MissingExtraError

__all__ = ["add_scheduler_argument", "client_from_args", "stage_bars"]

_FLAG = "--scheduler"


def _scheduler(text: str) -> str:
    """argparse type: validate the form early (no Dask import)."""
    from ..scale.cluster import parse_scheduler

    try:
        parse_scheduler(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def add_scheduler_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--scheduler ADDRESS|local:N`` (default: none, run on this machine without Dask)."""
    parser.add_argument(
        _FLAG,
        type=_scheduler,
        default=None,
        metavar="ADDRESS|local:N",
        help=(
            "run the independent tasks on Dask: the address of a running dask.distributed "
            "scheduler (e.g. tcp://127.0.0.1:8786) or local:N for N worker processes on this "
            "machine; results equal the run without it. Needs: pip install 'etal[dask]'"
        ),
    )


@contextmanager
def client_from_args(args: argparse.Namespace) -> Iterator[Any]:
    """``with client_from_args(args) as client:`` - a Dask client for ``--scheduler``, or None.

    The client (and a ``local:N`` cluster) is closed when the block ends. Errors name the flag.
    """
    text = getattr(args, "scheduler", None)
    if text is None:
        yield None
        return
    from ..scale.cluster import connect

    try:
        client = connect(text)
    except MissingExtraError as exc:
        raise MissingExtraError(f"{_FLAG}: {exc}") from exc
    except InputError as exc:
        raise InputError(f"{_FLAG} {text}: {exc}") from exc
    except EtalError as exc:
        raise EtalError(f"{_FLAG} {text}: {exc}") from exc
    try:
        yield client
    finally:
        client.close()


class stage_bars:
    """``progress(stage, done, total)`` for :func:`etal.scale.pool.score_partitions`:
    one tqdm bar per stage ("pool: predict", "pool: score", ...), closed when complete;
    the next pick's pass of a stage starts a new bar."""

    def __init__(self, disable: bool = False, file: Any = None) -> None:
        self.disable = disable
        self.file = file  # default: stderr
        self._bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm.auto import tqdm

        bar = self._bars.get(stage)
        if bar is None or done <= bar.n:  # a new pass of the stage (the next pick): a new bar
            bar = self._bars[stage] = tqdm(total=total, desc=f"pool: {stage}", unit="partition",
                                           disable=self.disable, file=self.file)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
