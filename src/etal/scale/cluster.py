"""Connect to a Dask scheduler: parse ``ADDRESS`` / ``local:N`` and make a ``distributed.Client``.

``ADDRESS`` is a running ``dask.distributed`` scheduler (``tcp://10.0.0.5:8786``; a bare
``host:port`` means TCP). ``local:N`` starts a ``LocalCluster`` of N worker processes on
this machine, listening on the loopback interface only and without a dashboard. Dask is
imported only here, and only when a scheduler is given; without the ``dask`` extra the
error names it (``pip install 'etal[dask]'``).

The workers run etal's own functions, so they need the same etal version as the client:
:func:`connect` checks it and says which worker differs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import EtalError, InputError, MissingExtraError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "EXTRA_HINT",
    "LOCAL_PREFIX",
    "SchedulerSpec",
    "connect",
    "parse_scheduler",
    "require_distributed",
    "scheduler_client",
]

#: How ``local:N`` is spelled.
LOCAL_PREFIX = "local:"
#: What to install for Dask support.
EXTRA_HINT = "pip install 'etal[dask]'"
#: Seconds to wait for a remote scheduler before giving up.
DEFAULT_CONNECT_TIMEOUT = 10.0

_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?\[?[A-Za-z0-9_.:\-]+\]?:\d{1,5}$")


@dataclass(frozen=True)
class SchedulerSpec:
    """A parsed scheduler: a remote ``address`` or a local cluster of ``n_workers`` processes."""

    address: str | None = None
    n_workers: int | None = None

    @property
    def is_local(self) -> bool:
        return self.n_workers is not None

    def __str__(self) -> str:
        return f"{LOCAL_PREFIX}{self.n_workers}" if self.is_local else str(self.address)


def parse_scheduler(text: str) -> SchedulerSpec:
    """``"local:N"`` -> N local worker processes; ``"[tcp://]host:port"`` -> that scheduler.

    Raises :class:`~etal.errors.InputError` for anything else (the message shows both forms).
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"a Dask scheduler is 'local:N' or an address like tcp://127.0.0.1:8786, got {text!r}")
    value = text.strip()
    if value.lower().startswith(LOCAL_PREFIX):
        count = value[len(LOCAL_PREFIX):].strip()
        if not count.isdigit() or int(count) < 1:
            raise InputError(
                f"scheduler {value!r}: N in 'local:N' must be a whole number of worker processes >= 1, "
                "e.g. local:2"
            )
        return SchedulerSpec(n_workers=int(count))
    if not _ADDRESS.match(value):
        raise InputError(
            f"scheduler {value!r} is neither 'local:N' nor a scheduler address like tcp://127.0.0.1:8786 "
            "(protocol://host:port; a bare host:port means tcp)"
        )
    return SchedulerSpec(address=value if "://" in value else f"tcp://{value}")


def require_distributed(purpose: str = "running on a Dask scheduler") -> Any:
    """Import ``distributed`` or raise :class:`~etal.errors.MissingExtraError` naming the extra."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs Dask ('dask[dataframe]' and 'distributed'), which is not installed. "
            f"Install it with: {EXTRA_HINT}"
        ) from exc
    return distributed


def _etal_version() -> str:
    # Read at call time (not bound at import), so a changed version is seen.
    from .. import __version__

    return __version__


def _check_versions(client: Any) -> None:
    """Every worker must run this etal version (tasks are etal functions, pickled by name)."""
    mine = _etal_version()
    theirs = client.run(_etal_version)
    wrong = {w: v for w, v in theirs.items() if v != mine}
    if wrong:
        listed = ", ".join(f"{w} has {v}" for w, v in sorted(wrong.items()))
        raise EtalError(
            f"the Dask workers must run etal {mine} like this client; {listed}. "
            "Install the same etal version on every worker"
        )


def connect(
    scheduler: str | SchedulerSpec,
    *,
    threads_per_worker: int = 1,
    memory_limit: str | int | None = "auto",
    timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> Any:
    """A ``distributed.Client`` for ``scheduler`` (``"local:N"`` or an address).

    ``local:N`` starts N worker processes (``threads_per_worker`` threads each; default 1
    because etal's GP maths already uses BLAS and the runs are CPU-bound) bound to
    127.0.0.1, no dashboard; ``memory_limit`` per worker (Dask's ``"auto"``: the machine's
    memory divided among the workers). The cluster is closed with the client
    (``client.close()``; or use :func:`scheduler_client`). An address connects to that
    scheduler within ``timeout`` seconds. Raises :class:`~etal.errors.InputError` if it
    cannot be reached, :class:`~etal.errors.MissingExtraError` without the extra, and
    :class:`~etal.errors.EtalError` if a worker runs another etal version.
    """
    spec = scheduler if isinstance(scheduler, SchedulerSpec) else parse_scheduler(scheduler)
    distributed = require_distributed()
    if spec.is_local:
        # A client that starts its own LocalCluster also stops it on close().
        client = distributed.Client(
            n_workers=spec.n_workers,
            threads_per_worker=int(threads_per_worker),
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # The scheduler's small HTTP server (health, metrics) always starts; on a
            # random loopback port it does not fight over 8787 with other clusters.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            memory_limit=memory_limit,
            silence_logs=logging.ERROR,
            set_as_default=False,
        )
    else:
        try:
            client = distributed.Client(spec.address, timeout=f"{float(timeout)}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"could not reach the Dask scheduler at {spec.address} within {timeout:g} s ({exc}). "
                "Start one with 'dask scheduler' and workers with 'dask worker ADDRESS', or use local:N"
            ) from exc
    try:
        _check_versions(client)
    except BaseException:
        client.close()
        raise
    return client


@contextmanager
def scheduler_client(scheduler: str | SchedulerSpec | None, **kwargs: Any) -> Iterator[Any]:
    """``with scheduler_client(text) as client:`` - a connected client, or None for no scheduler.

    With ``None`` nothing is imported and the body runs locally; otherwise see :func:`connect`.
    The client (and a ``local:N`` cluster) is closed on exit.
    """
    if scheduler is None:
        yield None
        return
    client = connect(scheduler, **kwargs)
    try:
        yield client
    finally:
        client.close()
