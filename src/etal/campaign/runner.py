"""``Campaign.run``: suggest → calculate → record, with leases, retries and worker processes.

One loop, in the process that owns the run:

1. *resume*: ``running`` rows whose owner is dead (or silent past the lease) go back to
   ``pending`` (their interrupted attempt counts);
2. while the campaign holds fewer than ``budget`` acquired labels (counting labels from
   earlier runs, ``ingest`` and rows that other live processes are calculating, whose
   results it waits for when they hold the rest of the budget): take the
   oldest pending suggestion, or ask the engine for a new one, claim it atomically
   (``pending`` → ``running``; a row claimed by another process is skipped) and give it to
   a calculator (in this process, or in a pool of ``workers`` processes);
3. record each result in its own transaction: the label (a row labelled meanwhile, e.g. by
   ``ingest``, is not labelled twice), or the failure with its message (the row goes back
   to ``pending`` until ``max_attempts``, then ``failed`` and never suggested again).

A heartbeat thread refreshes this process's lease while it calculates. Ctrl-C gives the
running rows back (the interrupted attempt not counted). The run also stops when the
engine has no pick (pool exhausted, all groups excluded, fairness) or after
``max_consecutive_failures`` rows in a row ended ``failed`` (a broken calculator must not
burn through the whole pool).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from ..params import check_float, check_int
from .calculators.base import CalculationError
from .calculators.registry import make_calculator
from .store import CampaignStore, new_owner

__all__ = ["RunSummary", "run_campaign"]

DEFAULT_LEASE_S = 600.0


@dataclass
class RunSummary:
    """What one :func:`run_campaign` call did."""

    acquired_before: int
    acquired_after: int
    budget: int
    labelled: list[str] = field(default_factory=list)
    failed_attempts: int = 0
    failed_rows: list[str] = field(default_factory=list)
    reclaimed: int = 0
    stop_reason: str = ""
    seconds: float = 0.0

    @property
    def n_new(self) -> int:
        return len(self.labelled)


# ---------------------------------------------------------------------- worker side

_WORKER_CALC = None


def _init_worker(calculator) -> None:
    global _WORKER_CALC
    _WORKER_CALC = calculator


def _calculate(calculator, structure: str | None, row_id: str) -> tuple[float | None, str | None, float, dict]:
    """(value, error, seconds, settings) — never raises for a calculation problem."""
    calc = calculator if calculator is not None else _WORKER_CALC
    t0 = time.perf_counter()
    try:
        value = float(calc.calculate(structure, row_id))
        if not math.isfinite(value):
            raise CalculationError(f"calculator returned a non-finite value {value!r}")
        error = None
    except CalculationError as exc:
        value, error = None, str(exc)
    except Exception as exc:  # a calculator bug is one row's failure, not the campaign's end
        value, error = None, f"{type(exc).__name__}: {exc}"
    settings = dict(calc.settings())
    refs = getattr(calc, "references", None)
    if callable(refs):
        settings["references_eV_per_atom"] = refs()
    return value, error, time.perf_counter() - t0, settings


# ---------------------------------------------------------------------- heartbeat


class _Heartbeat(threading.Thread):
    def __init__(self, folder, owner: str, interval: float) -> None:
        super().__init__(daemon=True, name="etal-campaign-heartbeat")
        self.folder, self.owner, self.interval = folder, owner, interval
        self.stop_event = threading.Event()

    def run(self) -> None:
        store = CampaignStore(self.folder)  # sqlite connections are per thread
        try:
            while not self.stop_event.wait(self.interval):
                try:
                    store.heartbeat(self.owner)
                except Exception:  # a busy store must not kill the heartbeat; retry next beat
                    pass
        finally:
            store.close()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)


# ---------------------------------------------------------------------- the loop


def run_campaign(
    campaign,
    calculator: Any,
    budget: int,
    *,
    workers: int = 1,
    max_attempts: int = 3,
    lease_seconds: float = DEFAULT_LEASE_S,
    max_consecutive_failures: int = 20,
    progress: bool = True,
    calculator_options: dict[str, Any] | None = None,
    client: Any = None,
) -> RunSummary:
    """Run ``calculator`` in the loop until the campaign holds ``budget`` acquired labels.

    ``calculator``: a name for :func:`make_calculator` (``"emt"``, ``"chgnet"``,
    ``"command:…"``, with ``calculator_options``) or a calculator object. ``workers``:
    calculations at once (> 1: a process pool). ``max_attempts``: tries per row before it
    is ``failed``. ``lease_seconds``: a running row whose owner's heartbeat is older than
    this is taken over (owners on this host are checked by pid at once). ``client``: a
    ``distributed.Client`` that scores a pool folder's partitions for each new pick (see
    :meth:`Campaign.propose`; ignored for an in-memory pool).
    """
    for name, value, low in (("budget", budget, 0), ("workers", workers, 1), ("max_attempts", max_attempts, 1),
                             ("max_consecutive_failures", max_consecutive_failures, 1)):  # fmt: skip
        check_int(name, value, low=low)
    check_float("lease_seconds", lease_seconds, low=0, low_open=True)
    workdir = campaign.folder / "work"
    workdir.mkdir(exist_ok=True)
    calc = make_calculator(calculator, workdir=workdir, **(calculator_options or {}))
    store: CampaignStore = campaign.store
    owner = new_owner()
    t0 = time.perf_counter()
    summary = RunSummary(store.n_acquired(), 0, budget)
    summary.reclaimed = len(store.reclaim_stale(lease_seconds, me=owner))
    beat = _Heartbeat(campaign.folder, owner, interval=max(0.05, min(lease_seconds / 4, 30.0)))
    beat.start()
    poll_seconds = max(0.05, min(lease_seconds / 4, 5.0))

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a process with threads
            initializer=_init_worker,
            initargs=(calc,),
        )

    executor = new_pool() if workers > 1 else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=budget, initial=min(summary.acquired_before, budget), desc=f"campaign ({calc.name})", unit="label"
        )
    in_flight: dict[Future, tuple[int, str]] = {}
    consecutive_failed = 0
    skip: set[int] = set()  # pending rows this run could not claim (another process has them)

    def finish(rid: int, uid: str, result) -> None:
        nonlocal consecutive_failed
        value, error, seconds, settings = result
        if error is None:
            ok = store.record_label(
                rid,
                value,
                source=f"calculator:{calc.name}",
                calculator=json.dumps(settings),
                seconds=seconds,
                owner=owner,
            )
            if ok:
                summary.labelled.append(uid)
                consecutive_failed = 0
            if bar is not None:
                bar.n = min(store.n_acquired(), budget)
                bar.refresh()
            return
        summary.failed_attempts += 1
        state = store.record_failure(rid, owner, error, max_attempts)
        if state == "failed":
            summary.failed_rows.append(uid)
            consecutive_failed += 1

    def next_row() -> tuple[int | None, str | None]:
        for rid in store.pending_rids():
            if rid not in skip and all(rid != r for r, _ in in_flight.values()):
                return rid, None
        picks, reason = campaign.propose(1, client=client)
        added = store.add_suggestions(picks)
        if added:
            return added[0], None
        return None, reason or "another process took the suggested row"

    try:
        while True:
            if consecutive_failed >= max_consecutive_failures:
                summary.stop_reason = (
                    f"{consecutive_failed} rows in a row failed {max_attempts} times; check the calculator"
                )
                break
            acquired = store.n_acquired()
            others = store.conn.execute(
                "SELECT COUNT(*) FROM suggestions WHERE state = 'running' AND owner != ?", (owner,)
            ).fetchone()[0]
            room = budget - acquired - len(in_flight) - others
            stop = None
            while room > 0 and len(in_flight) < workers:
                rid, stop = next_row()
                if rid is None:
                    break
                if not store.claim(rid, owner):
                    skip.add(rid)
                    continue
                row = store.row(rid)
                if executor is None:
                    in_flight[Future()] = (rid, row["id"])
                    fut = next(reversed(in_flight))
                    fut.set_result(_calculate(calc, row["structure"], row["id"]))
                else:
                    try:
                        fut = executor.submit(_calculate, None, row["structure"], row["id"])
                    except BrokenProcessPool:  # a worker died (killed, out of memory): start a new pool
                        executor.shutdown(wait=False, cancel_futures=True)
                        executor = new_pool()
                        fut = executor.submit(_calculate, None, row["structure"], row["id"])
                    in_flight[fut] = (rid, row["id"])
                room -= 1
            if not in_flight:
                if acquired >= budget:
                    summary.stop_reason = f"budget reached ({budget} acquired labels)"
                    break
                if room <= 0 and others:
                    # Other live processes hold the rest of the budget: wait for their
                    # labels (or failures), taking their rows over if they die.
                    if not store.reclaim_stale(lease_seconds, me=owner):
                        time.sleep(poll_seconds)
                    continue
                summary.stop_reason = stop or "no candidate left"
                break
            done, _ = wait(list(in_flight), timeout=None, return_when=FIRST_COMPLETED)
            for fut in done:
                rid, uid = in_flight.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:  # a worker process died (e.g. killed)
                    result = (None, f"worker failed: {type(exc).__name__}: {exc}", 0.0, {})
                finish(rid, uid, result)
    except KeyboardInterrupt:
        summary.stop_reason = "interrupted"
        raise
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        store.release(owner)  # anything still running here was interrupted
        if (campaign.folder / "suggestions.csv").exists():
            campaign.write_suggestions()  # the file lists what is still pending
        beat.stop()
        if bar is not None:
            bar.close()
        summary.acquired_after = store.n_acquired()
        summary.seconds = time.perf_counter() - t0
    return summary
