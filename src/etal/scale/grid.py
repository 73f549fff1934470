"""Run a list of independent tasks (experiment runs, downstream fits) on Dask or locally.

:func:`run_tasks` calls ``func(*args)`` for each argument tuple and returns the results
in the order of the tasks, whatever order they finish in, so that the tables built from
them equal those of a local run with the same seeds. On a ``distributed.Client`` every
call is one task (``pure=False``: each runs even if equal to another) whose key comes
from the caller's label (the run spec), with ``retries``: a task that raises, or whose
worker dies, runs again (a dying worker costs only its own tasks). Arguments shared by
several tasks (the same DataFrame or array object, e.g. a split's pool) are sent to the
cluster once. Progress (tasks done / total) goes to a callback or a tqdm bar given by the
caller. Without a client the tasks run here, one after another, and Dask is not imported.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_RETRIES", "run_tasks"]

#: Extra attempts of a failed task (an exception or a lost worker) before the grid fails.
DEFAULT_RETRIES = 2

# Keyword names that distributed.Client.submit keeps for itself.
_SUBMIT_OPTIONS = frozenset({"key", "workers", "resources", "retries", "priority", "fifo_timeout",
                             "allow_other_workers", "actor", "actors", "pure"})

# Objects worth sending once when several tasks share them (by identity).
_SHARED_TYPES = (pd.DataFrame, pd.Series, np.ndarray)


def _report(progress: Any, done: int, total: int) -> None:
    """tqdm-like objects get ``update(1)``; callables get ``(done, total)``."""
    if progress is None:
        return
    update = getattr(progress, "update", None)
    if callable(update):
        update(1)
    else:
        progress(done, total)


def _safe_key(label: str) -> str:
    # Dask keys are strings; keep them readable in the scheduler's logs.
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in str(label))[:120]


def run_tasks(
    func: Callable[..., Any],
    tasks: Sequence[Sequence[Any]],
    *,
    client: Any = None,
    labels: Sequence[str] | None = None,
    kwargs: Mapping[str, Any] | None = None,
    retries: int = DEFAULT_RETRIES,
    progress: Any = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """``[func(*args, **kwargs) for args in tasks]``, on a Dask cluster if ``client`` is given.

    Parameters
    ----------
    func : a module-level function (workers import it by name: it must exist in the etal
        version the workers run).
    tasks : one argument tuple per task.
    client : a ``distributed.Client`` (see :func:`etal.scale.cluster.connect`) or None to
        run here, in order.
    labels : one label per task (e.g. ``"etal-seed3-split0"`` from the run spec); it
        becomes the task's Dask key (plus a per-call suffix, so two grids never share
        keys). Default: the task number.
    kwargs : keyword arguments passed to every call.
    retries : extra attempts of a task that raised or lost its worker.
    progress : ``callback(done, total)`` or an object with ``update(n)`` (a tqdm bar).
    on_result : ``on_result(index, result)`` called as each task finishes (completion
        order), e.g. to write partial outputs.

    Returns the results in the order of ``tasks``. The first task that still fails after
    its retries raises its exception here (the other tasks are cancelled).
    """
    tasks = [tuple(t) for t in tasks]
    kwargs = dict(kwargs or {})
    total = len(tasks)
    if labels is not None and len(labels) != total:
        raise ValueError(f"run_tasks got {len(labels)} labels for {total} tasks")
    clash = sorted(set(kwargs) & _SUBMIT_OPTIONS)
    if clash:
        raise ValueError(f"run_tasks: keyword argument(s) {clash} clash with Dask's submit(); wrap func")
    results: list[Any] = [None] * total
    if client is None:
        for i, args in enumerate(tasks):
            results[i] = func(*args, **kwargs)
            if on_result is not None:
                on_result(i, results[i])
            _report(progress, i + 1, total)
        return results
    if not total:
        return results

    from distributed import as_completed

    # Send each shared big argument once (tasks then refer to it by its future).
    counts: dict[int, int] = {}
    for args in (*tasks, tuple(kwargs.values())):
        for a in args:
            if isinstance(a, _SHARED_TYPES):
                counts[id(a)] = counts.get(id(a), 0) + 1
    sent: dict[int, Any] = {}

    def shipped(a: Any) -> Any:
        if not isinstance(a, _SHARED_TYPES) or counts.get(id(a), 0) < 2:
            return a
        if id(a) not in sent:
            sent[id(a)] = client.scatter([a], hash=False)[0]
        return sent[id(a)]

    suffix = uuid.uuid4().hex[:10]
    names = [_safe_key(labels[i]) if labels is not None else f"task-{i}" for i in range(total)]
    if len(set(names)) != total:
        names = [f"{n}-{i}" for i, n in enumerate(names)]
    call_kwargs = {k: shipped(v) for k, v in kwargs.items()}
    futures = [
        client.submit(
            func, *[shipped(a) for a in args], key=f"etal-{names[i]}-{suffix}", retries=int(retries),
            pure=False, **call_kwargs,
        )
        for i, args in enumerate(tasks)
    ]
    index = {f.key: i for i, f in enumerate(futures)}
    done = 0
    try:
        for future, result in as_completed(futures, with_results=True, loop=client.loop):
            i = index[future.key]
            results[i] = result
            done += 1
            if on_result is not None:
                on_result(i, result)
            _report(progress, done, total)
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        for f in sent.values():
            f.release()
    return results
