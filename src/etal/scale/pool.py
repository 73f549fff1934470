"""Score a partitioned Parquet pool (a folder of Parquet files) for one ET-AL pick.

A pool too large for one machine's memory - tens of millions of hypothetical candidates
from a generative model or an enumeration - is stored as a folder of Parquet files (the
partitions; any layout, files taken in sorted path order). :func:`score_partitions` gives
the pick the in-memory engine (:class:`etal.engine.ETAL` with :class:`etal.strategies.ETALStrategy`)
would make for the target group if the whole pool were in memory, holding only one
partition's features at a time per worker:

1. the target group's surrogate is fitted once (by the caller) and broadcast to the
   workers (``client.scatter``);
2. each partition is read on a worker (only the group, id and feature columns), its rows
   of the target group are predicted (posterior mean / std, target units); the
   mean / std stay on the worker;
3. each partition is scored there: the expected entropy after adding each candidate
   (:func:`etal.expected_entropy`, nats) and its expected improvement over the group's
   entropy (:func:`etal.expected_improvement`); only the partition's best candidates
   come back and are merged.

Equal to the single-machine pick: the candidates are ordered as in the engine (files in
sorted order, rows in file order), ties are broken alike (largest EI, then larger
expected entropy, then the earlier candidate), the quadrature of every partition is
given the whole pool's range of posterior std (two extra "anchor" candidates that are
dropped again; the quadrature's smoothing ladder spans the stds of all candidates it is
given), and a pool large enough for the surrogate's huge-pool std
(``GPSurrogate.approximates``) is screened with it and its ``refine_top`` best are
re-scored with the exact posterior, as :class:`~etal.strategies.ETALStrategy` does.
Groups whose entropy is undefined get the largest posterior std (``criterion="std"``).

Without a client the same steps run here, partition by partition: memory holds one
partition's features plus 24 bytes per candidate of the group (mean, std, row).

Only the quadrature estimator is supported (Monte Carlo draws depend on the candidates'
order across the whole pool).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = [
    "CRITERIA",
    "DEFAULT_TOP",
    "PoolPick",
    "count_groups",
    "fingerprint_partitions",
    "list_partitions",
    "score_partitions",
]

#: What a candidate is ranked by: expected improvement of the entropy (ET-AL), or the
#: posterior std (the engine's rule in a group whose entropy is undefined).
CRITERIA: tuple[str, ...] = ("ei", "std")
#: Best candidates of each partition sent back (and of the merge, kept in ``PoolPick.top``).
DEFAULT_TOP = 10
_PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")


# ---------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolPick:
    """The chosen candidate of a partitioned pool and how it was found.

    ``mean`` / ``std`` are the surrogate's posterior at the pick (target units, e.g.
    eV/atom; ``mean`` is the engine's fantasy label for batch picks); ``expected_entropy``,
    ``expected_entropy_std``, ``ei`` and ``incumbent`` are in nats (NaN for
    ``criterion="std"``). ``position`` counts the group's candidates in pool order (files
    in sorted order, rows in file order), ``file`` / ``row`` locate the pick. ``top`` holds
    the best candidates of the merge, best first, with the same columns.
    ``approximate``: the pool was screened with the surrogate's huge-pool std and the
    best ``refine_top`` re-scored exactly.
    """

    id: Any
    group: str
    criterion: str
    position: int
    file: str
    row: int
    mean: float
    std: float
    expected_entropy: float
    expected_entropy_std: float
    ei: float
    incumbent: float
    approximate: bool
    n_candidates: int
    n_partitions: int
    reason: str
    top: pd.DataFrame = field(repr=False)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The pick as plain values (without ``top``)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "top"}


_TOP_COLUMNS = ["position", "file", "row", "id", "mean", "std", "expected_entropy",
                "expected_entropy_std", "ei"]


# ---------------------------------------------------------------------------------------
# Partitions
# ---------------------------------------------------------------------------------------


def list_partitions(pool: str | Path | Sequence[str | Path]) -> list[Path]:
    """The Parquet files of a pool folder (searched recursively), in sorted path order.

    ``pool`` may also be one Parquet file or a list of files (kept in the given order).
    Raises :class:`~etal.errors.InputError` if there is none.
    """
    if isinstance(pool, (str, Path)):
        path = Path(pool)
        if path.is_file():
            return [path]
        if not path.is_dir():
            raise InputError(f"candidate pool {str(path)!r} is neither a folder of Parquet files nor a file")
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _PARQUET_SUFFIXES
                       and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
        if not files:
            raise InputError(
                f"candidate pool folder {str(path)!r} holds no Parquet files (*.parquet); "
                "write one file per partition"
            )
        return files
    files = [Path(p) for p in pool]
    if not files:
        raise InputError("the candidate pool lists no Parquet files")
    for p in files:
        if not p.is_file():
            raise InputError(f"candidate pool file {str(p)!r} does not exist")
    return files


def fingerprint_partitions(files: Sequence[Path], root: Path) -> str:
    """SHA-256 of the partitions' names (relative to ``root``) and sizes in bytes: a cheap
    fingerprint of a pool folder (hashing every byte of a huge pool would cost a full read)."""
    import hashlib

    digest = hashlib.sha256()
    for f in files:
        f = Path(f)
        digest.update(f"{f.relative_to(root) if f.is_relative_to(root) else f}\t{f.stat().st_size}\n".encode())
    return digest.hexdigest()


def partition_schema(path: Path, wanted: Sequence[str], needs: str = "the group, id and feature columns"):
    """The Parquet schema of one pool partition, after checking that it is readable and has
    the ``wanted`` columns (an :class:`InputError` naming the file otherwise). Reads only the
    file's footer. ``needs`` words what every pool file must hold, for the message."""
    from ..errors import require

    pq = require("pyarrow.parquet", "parquet", "Reading a Parquet pool")
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # any unreadable file is the user's to fix
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in wanted if c not in schema.names]
    if missing:
        raise InputError(f"{path}: column(s) {missing} missing; every {needs} ({', '.join(wanted)})")
    return schema


def _read(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    from ..errors import require

    pq = require("pyarrow.parquet", "parquet", "Reading a Parquet pool")
    wanted = list(dict.fromkeys(columns))
    partition_schema(path, wanted, "pool file needs the group, id and feature columns")
    return pq.read_table(path, columns=wanted).to_pandas()


def _group_rows(frame: pd.DataFrame, group_col: str, group: str) -> np.ndarray:
    # Groups are compared as strings, as the engine does.
    return np.flatnonzero(frame[group_col].astype(str).to_numpy() == group)


def _count_task(path: Path, group_col: str, group: str | None, id_col: str | None = None,
                exclude: frozenset = frozenset()) -> Any:
    """Rows of ``group`` in one partition (or, with ``group=None``, rows per group), not
    counting the ids in ``exclude``."""
    frame = _read(path, [group_col] + ([id_col] if exclude and id_col else []))
    groups = frame[group_col].astype(str)
    if exclude and id_col:
        groups = groups[~frame[id_col].isin(exclude).to_numpy()]
    if group is None:
        return {str(g): int(n) for g, n in groups.value_counts(sort=False).items()}
    return int((groups == group).sum())


@dataclass
class _Part:
    """One partition's candidates of the target group: their rows in the file and posterior."""

    rows: np.ndarray  # int64 row numbers in the file
    mean: np.ndarray  # posterior mean, target units
    std: np.ndarray  # posterior std (the huge-pool std when screening)


def _features(frame: pd.DataFrame, feature_cols: Sequence[str], rows: np.ndarray, path: Path) -> np.ndarray:
    X = np.empty((rows.size, len(feature_cols)))
    for j, c in enumerate(feature_cols):
        try:
            X[:, j] = frame[c].to_numpy()[rows]
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: feature column {c!r} is not numeric ({exc})") from exc
    bad = ~np.isfinite(X)
    if bad.any():
        r, j = np.argwhere(bad)[0]
        raise InputError(
            f"{path}: feature {feature_cols[j]!r} is missing or not finite in row {int(rows[r])} "
            f"({int(bad.any(axis=1).sum())} candidate row(s) affected); fill or drop them"
        )
    return X


def _predict_task(path: Path, surrogate: Any, group_col: str, group: str, id_col: str,
                  feature_cols: Sequence[str], exclude: frozenset, approximate: bool | None) -> _Part:
    """Read one partition and predict its candidates of ``group`` (runs on a worker)."""
    columns = [group_col, *feature_cols] + ([id_col] if exclude else [])
    frame = _read(path, columns)
    rows = _group_rows(frame, group_col, group)
    if exclude and rows.size:
        keep = ~frame[id_col].iloc[rows].isin(exclude).to_numpy()
        rows = rows[keep]
    if not rows.size:
        return _Part(rows.astype(np.int64), np.empty(0), np.empty(0))
    X = _features(frame, feature_cols, rows, path)
    del frame
    kwargs = {} if approximate is None else {"approximate": approximate}
    mu, sigma = surrogate.predict(X, **kwargs)
    return _Part(rows.astype(np.int64), np.asarray(mu, float).ravel(), np.asarray(sigma, float).ravel())


def _ladder_task(part: _Part, low: float, high: float, base: float, far: float) -> tuple[float, float]:
    """(min, max) std of the candidates on the quadrature's smoothing ladder (inf, -inf if none)."""
    if not part.std.size:
        return math.inf, -math.inf
    outside = np.maximum(np.maximum(low - part.mean, part.mean - high), 0.0)
    on = (part.std >= base) & (outside < far * part.std)
    if not on.any():
        return math.inf, -math.inf
    return float(part.std[on].min()), float(part.std[on].max())


def _ranked(score: np.ndarray, second: np.ndarray, position: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the ``keep`` best: largest score, then largest ``second``, then lowest position."""
    order = np.lexsort((position, -second, -score))
    return order[:keep]


def _score_block(values: np.ndarray, mean: np.ndarray, std: np.ndarray, incumbent: float, method: str,
                 anchors: tuple[float, float, float] | None) -> tuple[np.ndarray, ...]:
    """Expected entropy (mean, std), EI and the ranking score, as ETALStrategy computes them."""
    from ..acquisition import expected_entropy, expected_improvement

    n = mean.size
    if anchors is not None:
        # Same smoothing ladder as one call over the whole pool (see the module docstring).
        at, s_min, s_max = anchors
        mean = np.concatenate((mean, [at, at]))
        std = np.concatenate((std, [s_min, s_max]))
    h_mean, h_std = expected_entropy(values, mean, std, estimator="quadrature", method=method)
    h_mean, h_std = np.asarray(h_mean, float)[:n], np.asarray(h_std, float)[:n]
    ei = np.asarray(expected_improvement(h_mean, h_std, incumbent), float)
    score = np.where(np.isfinite(ei), ei, -np.inf)
    return h_mean, h_std, ei, score


def _score_task(part: _Part, path: Path, offset: int, id_col: str, feature_cols: Sequence[str],
                values: np.ndarray, incumbent: float, method: str, criterion: str,
                anchors: tuple[float, float, float] | None, keep: int, screening: bool) -> pd.DataFrame:
    """Score one partition's candidates and return its ``keep`` best (runs on a worker).

    ``screening``: rank by score then position only (the engine's shortlist) and return
    the features too, for the exact re-scoring.
    """
    n = part.rows.size
    if not n:
        return pd.DataFrame(columns=_TOP_COLUMNS)
    position = offset + np.arange(n, dtype=np.int64)
    nan = np.full(n, np.nan)
    if criterion == "std":
        h_mean, h_std, ei, score = nan, nan, nan, part.std
    else:
        h_mean, h_std, ei, score = _score_block(values, part.mean, part.std, incumbent, method, anchors)
    second = np.zeros(n) if (screening or criterion == "std") else np.where(np.isfinite(h_mean), h_mean, -np.inf)
    best = _ranked(score, second, position, keep)
    rows = part.rows[best]
    columns = [id_col] + (list(feature_cols) if screening else [])
    frame = _read(path, columns)
    top = pd.DataFrame({
        "position": position[best], "file": str(path), "row": rows,
        "id": frame[id_col].to_numpy()[rows],
        "mean": part.mean[best], "std": part.std[best], "expected_entropy": h_mean[best],
        "expected_entropy_std": h_std[best], "ei": ei[best], "_score": score[best], "_second": second[best],
    })  # fmt: skip
    if screening:
        X = _features(frame, feature_cols, rows, path)
        for j in range(X.shape[1]):
            top[f"_x{j}"] = X[:, j]
    return top


# ---------------------------------------------------------------------------------------
# Running the passes here or on the cluster
# ---------------------------------------------------------------------------------------


class _Runner:
    """Map a task over partitions, locally or as Dask tasks, keeping per-partition results
    (futures on the cluster, objects here) for the next pass."""

    def __init__(self, client: Any, retries: int, progress: Callable[[str, int, int], None] | None) -> None:
        self.client = client
        self.retries = retries
        self.progress = progress

    def share(self, obj: Any) -> Any:
        if self.client is None:
            return obj
        return self.client.scatter(obj, broadcast=True, hash=False)

    def map(self, stage: str, func: Callable, per_part: Sequence[tuple], *shared: Any, gather: bool) -> list:
        total = len(per_part)
        if self.client is None:
            out = []
            for i, args in enumerate(per_part):
                out.append(func(*args, *shared))
                if self.progress is not None:
                    self.progress(stage, i + 1, total)
            return out
        from distributed import as_completed

        futures = [self.client.submit(func, *args, *shared, pure=False, retries=self.retries,
                                      key=f"etal-pool-{stage}-{i}-{_token()}") for i, args in enumerate(per_part)]
        if not gather:
            # Wait without fetching: the results (the partitions' posteriors) stay on the workers.
            for done, future in enumerate(as_completed(futures, loop=self.client.loop), 1):
                if future.status == "error":
                    try:
                        future.result()  # raises the task's own exception here
                    finally:
                        self.client.cancel(futures)
                if self.progress is not None:
                    self.progress(stage, done, total)
            return futures
        results: list[Any] = [None] * total
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for done, (future, result) in enumerate(
                    as_completed(futures, with_results=True, loop=self.client.loop), 1):
                results[index[future.key]] = result
                if self.progress is not None:
                    self.progress(stage, done, total)
        except BaseException:
            self.client.cancel(futures)
            raise
        return results


def _token() -> str:
    import uuid

    return uuid.uuid4().hex[:10]


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def _ladder_geometry(values: np.ndarray) -> tuple[float, float, float, float]:
    """(low, high, half mean spacing, far) of the quadrature ladder for these labelled values."""
    from ..acquisition import FAR_SCALES  # the quadrature's own constant (one home)
    from ..entropy import data_resolution

    x = np.sort(np.asarray(values, dtype=float))
    res = data_resolution(x)
    if not math.isfinite(res):
        raise InputError(
            f"all {x.size} labelled values of the group are equal; the expected entropy is undefined "
            "(rank by the posterior std instead: criterion='std')"
        )
    low, high = float(x[0]), float(x[-1])
    return low, high, 0.5 * max((high - low) / (x.size - 1), res), float(FAR_SCALES)


def score_partitions(
    pool: str | Path | Sequence[str | Path],
    *,
    surrogate: Any,
    values: np.ndarray,
    group: str,
    group_col: str,
    id_col: str,
    feature_cols: Sequence[str],
    incumbent: float | None = None,
    criterion: str = "ei",
    method: str = "auto",
    ties: str = "floor",
    exclude_ids: Iterable[Any] = (),
    client: Any = None,
    top: int = DEFAULT_TOP,
    refine_top: int | None = None,
    retries: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
) -> PoolPick:
    """The engine's pick among the target group's candidates of a partitioned Parquet pool.

    Parameters
    ----------
    pool : folder of Parquet files (one per partition; read recursively in sorted path
        order), one file, or a list of files.
    surrogate : the target group's surrogate, already fitted on its labelled rows (e.g.
        :class:`etal.GPSurrogate`); it is sent to each worker once.
    values : the group's labelled target values (target units), including any fantasy
        labels of a greedy batch.
    group, group_col, id_col, feature_cols : the target group and the pool's columns.
    incumbent : the group's current entropy (nats); default: estimated from ``values``
        with ``method`` and ``ties`` like the engine does.
    criterion : ``"ei"`` (ET-AL) or ``"std"`` (largest posterior std; the engine's rule
        when the group's entropy is undefined).
    method : entropy estimator of the expected entropy (as the engine's ``method``).
    exclude_ids : candidates already acquired (skipped).
    client : a ``distributed.Client`` or None (run here, partition by partition).
    top : best candidates returned per partition and kept in ``PoolPick.top``.
    refine_top : shortlist re-scored exactly after a huge-pool screening (default
        :data:`etal.strategies.REFINE_TOP`, as the engine).
    retries : extra attempts of a partition's task (a worker lost or an error).
    progress : ``progress(stage, done, total)`` per finished partition task; the stages
        are ``"count"`` (only for a surrogate that may approximate), ``"predict"`` and
        ``"score"``.

    Raises :class:`~etal.errors.InputError` for a missing column, non-finite features,
    no candidate of the group, or labelled values that make the criterion undefined.
    """
    from ..strategies import REFINE_TOP

    started = time.perf_counter()
    if criterion not in CRITERIA:
        raise InputError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    top = int(top)
    if top < 1:
        raise InputError(f"top must be >= 1, got {top}")
    refine_top = REFINE_TOP if refine_top is None else int(refine_top)
    if refine_top < 1:
        raise InputError(f"refine_top must be >= 1, got {refine_top}")
    group = str(group)
    feature_cols = [str(c) for c in feature_cols]
    if not feature_cols:
        raise InputError("scoring a pool needs feature columns for the surrogate")
    values = np.asarray(values, dtype=float).ravel()
    files = list_partitions(pool)
    exclude = frozenset(exclude_ids)
    runner = _Runner(client, int(retries), progress)

    if criterion == "ei":
        from ..entropy import estimate_entropy

        if incumbent is None:
            estimate = estimate_entropy(values, method=method, ties=ties)
            if estimate.status != "ok":
                raise InputError(
                    f"the entropy of group {group!r} is undefined ({estimate.status}, {values.size} "
                    "labelled value(s)); rank by the posterior std instead (criterion='std')"
                )
            incumbent = estimate.entropy
        incumbent = float(incumbent)
        geometry = _ladder_geometry(values)

    # The huge-pool decision is the engine's: on all of the group's pool rows.
    approximates = getattr(surrogate, "approximates", None)
    may_approximate = callable(approximates) and bool(approximates(2**62))
    approximate: bool | None = None
    if may_approximate:
        counts = runner.map("count", _count_task, [(f,) for f in files], group_col, group, gather=True)
        approximate = bool(approximates(int(sum(counts))))
        if approximate:
            # Build the screening posterior once, here, before the model is shipped.
            surrogate.predict(np.zeros((1, len(feature_cols))), approximate=True)

    model = runner.share(surrogate)
    parts = runner.map("predict", _predict_task, [(f,) for f in files], model, group_col, group, id_col,
                       feature_cols, exclude, approximate, gather=False)
    if client is None:
        sizes = [p.rows.size for p in parts]
    else:
        sizes = client.gather([client.submit(_size, p, pure=False) for p in parts])
    n_candidates = int(sum(sizes))
    if not n_candidates:
        raise InputError(
            f"the pool {str(pool)!r} has no candidate of group {group!r} in column {group_col!r}"
            + (f" left after excluding {len(exclude)} acquired id(s)" if exclude else "")
        )
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(int)

    anchors = None
    if criterion == "ei":
        low, high, base, far = geometry
        stats = runner.map("ladder", _ladder_task, [(p,) for p in parts], low, high, base, far, gather=True)
        s_min, s_max = min(s[0] for s in stats), max(s[1] for s in stats)
        if math.isfinite(s_min):
            anchors = (low, s_min, s_max)

    screening = bool(approximate)
    keep = refine_top if screening else top
    tables = runner.map(
        "score", _score_task,
        [(p, f, int(o)) for p, f, o in zip(parts, files, offsets)],
        id_col, feature_cols, values, incumbent if criterion == "ei" else math.nan, method, criterion,
        anchors, keep, screening, gather=True,
    )  # fmt: skip
    if client is not None:
        client.cancel(parts)
    merged = pd.concat([t for t in tables if len(t)], ignore_index=True)
    best = _ranked(merged["_score"].to_numpy(float), merged["_second"].to_numpy(float),
                   merged["position"].to_numpy(np.int64), keep)
    merged = merged.iloc[best].reset_index(drop=True)
    refined = ""
    if screening:
        merged = _refine(merged, surrogate, values, incumbent, method, criterion)
        refined = (f"; exact posterior for the top {len(merged)} of {n_candidates} candidates "
                   "by the approximate one")
    pick = merged.iloc[0]
    if criterion == "ei":
        reason = (f"lowest entropy: {group!r} (h={incumbent:.4f} nats); largest expected improvement"
                  f"{refined}; scored in {len(files)} partition(s)")
    else:
        reason = f"largest GP posterior std ({float(pick['std']):.4g}) in {group!r}{refined}"
    table = merged[_TOP_COLUMNS].head(top).reset_index(drop=True)
    return PoolPick(
        id=pick["id"].item() if hasattr(pick["id"], "item") else pick["id"], group=group, criterion=criterion,
        position=int(pick["position"]), file=str(pick["file"]), row=int(pick["row"]), mean=float(pick["mean"]),
        std=float(pick["std"]), expected_entropy=float(pick["expected_entropy"]),
        expected_entropy_std=float(pick["expected_entropy_std"]), ei=float(pick["ei"]),
        incumbent=float(incumbent) if criterion == "ei" else math.nan, approximate=screening,
        n_candidates=n_candidates, n_partitions=len(files), reason=reason, top=table,
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def _size(part: _Part) -> int:
    return int(part.rows.size)


def _refine(shortlist: pd.DataFrame, surrogate: Any, values: np.ndarray, incumbent: float | None,
            method: str, criterion: str) -> pd.DataFrame:
    """Re-score a screened shortlist with the exact posterior, as ETALStrategy does: in pool
    order, one expected-entropy call over the shortlist, best first."""
    shortlist = shortlist.sort_values("position", kind="stable").reset_index(drop=True)
    X = shortlist[[c for c in shortlist.columns if c.startswith("_x")]].to_numpy(float)
    mu, sigma = surrogate.predict(X, approximate=False)
    shortlist["mean"], shortlist["std"] = np.asarray(mu, float).ravel(), np.asarray(sigma, float).ravel()
    if criterion == "std":
        score, second = shortlist["std"].to_numpy(), np.zeros(len(shortlist))
    else:
        h_mean, h_std, ei, score = _score_block(values, shortlist["mean"].to_numpy(), shortlist["std"].to_numpy(),
                                                float(incumbent), method, None)
        shortlist["expected_entropy"], shortlist["expected_entropy_std"], shortlist["ei"] = h_mean, h_std, ei
        second = np.where(np.isfinite(h_mean), h_mean, -np.inf)
    order = _ranked(score, second, shortlist["position"].to_numpy(np.int64), len(shortlist))
    return shortlist.iloc[order].reset_index(drop=True)


def count_groups(
    pool: str | Path | Sequence[str | Path],
    *,
    group_col: str,
    id_col: str | None = None,
    exclude_ids: Iterable[Any] = (),
    client: Any = None,
) -> dict[str, int]:
    """Candidates per group in a partitioned pool (groups as strings, sorted), without
    ``exclude_ids``; one task per partition on ``client``, else here."""
    files = list_partitions(pool)
    runner = _Runner(client, 2, None)
    per_file = runner.map("count", _count_task, [(f,) for f in files], group_col, None, id_col,
                          frozenset(exclude_ids), gather=True)
    total: dict[str, int] = {}
    for counts in per_file:
        for g, n in counts.items():
            total[g] = total.get(g, 0) + int(n)
    return dict(sorted(total.items()))
