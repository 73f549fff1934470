"""A campaign whose pool is a folder of Parquet files: its record, its picks, its id look-ups.

``etal campaign init DIR DATA --pool-file POOLDIR`` stores the folder (absolute path, the
number of files and rows, and a fingerprint of its files' names and sizes) in the
store's meta under ``pool_folder`` instead of copying its rows. A pool row enters the
store's ``rows`` table only when it is suggested (or ingested), in the same transaction
as its suggestion (label), and then lives the usual ``pending`` → ``running`` → ``done`` |
``failed`` life.

Picks come from :func:`etal.scale.suggest.suggest_from_pool` (partition by partition
here, or one task per partition on a Dask client): the labelled rows are the store's,
and every id the store holds (labelled, or suggested in any state) is excluded. The
campaign's stop rules are honoured: groups excluded by patience (from the store's
history, as for an in-memory pool) are never picked from, and the fairness stop is the
engine's own rule (:func:`etal.engine.stopping.stop_reason`). So the picks equal those of
a campaign holding the same rows in memory (the ``etal`` strategy, quadrature estimator).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .rows import _id_text, _resolve_structures

__all__ = ["FOLDER_KEY", "describe_folder", "folder_files", "lookup_rows", "propose_from_folder"]

#: The store's meta key of a pool folder (absent for an in-memory pool).
FOLDER_KEY = "pool_folder"


def _pyarrow():
    from ..errors import require

    pa = require("pyarrow", "parquet", "A pool folder of Parquet files")
    return pa, require("pyarrow.parquet", "parquet", "A pool folder of Parquet files")


def describe_folder(
    path: str | Path, *, id_col: str, group_col: str, feature_cols: list[str], structure_col: str | None,
    initial_rows: int,
) -> dict[str, Any]:  # fmt: skip
    """The store's record of a pool folder; checks that every file has the needed columns.

    Reads only the files' schemas and footers (row counts), never their rows.
    """
    from ..scale.pool import fingerprint_partitions, list_partitions, partition_schema

    pa, pq = _pyarrow()
    root = Path(path).expanduser().resolve()
    files = list_partitions(root)
    wanted = [id_col, group_col, *feature_cols] + ([structure_col] if structure_col else [])
    n_rows, int_ids = 0, set()
    for f in files:
        schema = partition_schema(f, wanted, "file of the pool folder needs the id, group and feature columns of DATA")
        n_rows += pq.ParquetFile(f).metadata.num_rows
        int_ids.add(bool(pa.types.is_integer(schema.field(id_col).type)))
    if len(int_ids) > 1:
        raise InputError(f"{root}: the id column {id_col!r} is whole numbers in some files and text in others; "
                         "write it with one type in every file")  # fmt: skip
    return {"path": str(root), "files": len(files), "rows": int(n_rows), "id_is_int": int_ids.pop(),
            "fingerprint": fingerprint_partitions(files, root), "initial_rows": int(initial_rows)}  # fmt: skip


def folder_files(meta: dict[str, Any]) -> list[Path]:
    """The partitions of a campaign's pool folder; :class:`InputError` if the folder changed
    since ``campaign init`` (files added, removed or rewritten: the picks would differ)."""
    from ..scale.pool import fingerprint_partitions, list_partitions

    info = meta[FOLDER_KEY]
    root = Path(info["path"])
    if not root.is_dir():
        raise InputError(f"{root}: the campaign's pool folder is gone; mount or restore it at this path")
    files = list_partitions(root)
    if fingerprint_partitions(files, root) != info["fingerprint"]:
        raise InputError(
            f"{root}: the pool folder changed since campaign init (its files' names or sizes differ); "
            "restore it, or start a new campaign on the new folder"
        )
    return files


def _native(ids: Iterable[str], id_is_int: bool) -> set:
    """Store ids (text) as the folder's id values (whole numbers when its id column is)."""
    out: set = set()
    for i in ids:
        if id_is_int:
            try:
                out.add(int(i))
                continue
            except ValueError:  # a text id of DATA: no folder row has it
                pass
        out.add(i)
    return out


def _stored(frame: pd.DataFrame, meta: dict[str, Any], root: Path, where: str) -> list[dict[str, Any]]:
    """Pool-folder rows as the store's row dicts (id text, group, features, structure reference)."""
    feats = frame[meta["feature_cols"]].to_numpy(dtype=float)
    col = meta.get("structure_col")
    refs = (_resolve_structures(frame[col].tolist(), root, where, col) if col else [None] * len(frame))
    return [{"id": _id_text(uid), "grp": str(grp), "features": feats[k], "structure": refs[k]}
            for k, (uid, grp) in enumerate(zip(frame[meta["id_col"]], frame[meta["group_col"]]))]  # fmt: skip


def _labelled(campaign) -> pd.DataFrame:
    """The store's labelled rows (rid order, as the in-memory engine sees them), named as at init."""
    meta = campaign.meta
    rids, ids, groups, feats = campaign.store.all_rows()
    labels = campaign.store.label_map()
    keep = np.array([int(r) in labels for r in rids], dtype=bool)
    frame = pd.DataFrame(feats[keep], columns=meta["feature_cols"])
    frame.insert(0, meta["group_col"], np.asarray(groups, dtype=object)[keep])
    frame.insert(0, meta["id_col"], np.asarray(ids, dtype=object)[keep])
    frame[meta["target_col"]] = [labels[int(r)] for r in rids[keep]]
    return frame


def _fairness(labelled: pd.DataFrame, counts: dict[str, int], excluded: set[str], meta: dict[str, Any]) -> str | None:
    """The engine's fairness stop (if its strategy has it) on the folder's group counts."""
    from ..bias.scores import dataset_resolution
    from ..engine.stopping import stop_reason
    from ..entropy import estimate_entropy
    from ..strategies import strategy_class
    from ..strategies.base import group_resolution

    if not strategy_class(meta["engine"]["strategy"]).fairness_stop:
        return None
    values = labelled[meta["target_col"]].to_numpy(float)
    labels = labelled[meta["group_col"]].astype(str).to_numpy()
    resolution = dataset_resolution(values)
    states = {}
    for g in sorted(set(labels.tolist()) | set(counts)):
        v = values[labels == g]
        # Duck-typed GroupState: only the candidate count, exclusion and estimate are read.
        states[g] = SimpleNamespace(
            candidates=SimpleNamespace(size=0 if g in excluded else counts.get(g, 0)), excluded=False,
            estimate=estimate_entropy(v, resolution=group_resolution(v, resolution)),
        )  # fmt: skip
    return stop_reason(states, patience=None, fairness_stop=True, budget=None, n_acquired=0)


def propose_from_folder(
    campaign, k: int, *, client: Any = None, progress: Callable[[str, int, int], None] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The next ``k`` picks from the pool folder, as :meth:`Campaign.propose` (each pick
    carries its ``row`` for the store), and the stop reason when there is none."""
    from ..scale.pool import count_groups
    from ..scale.suggest import pool_rows, suggest_from_pool

    meta = campaign.meta
    info, eng = meta[FOLDER_KEY], meta["engine"]
    files = folder_files(meta)
    labelled = _labelled(campaign)
    # Every id the store holds is labelled or suggested (in any state): never picked again.
    exclude = _native([i for (i,) in campaign.store.conn.execute("SELECT id FROM rows")], info["id_is_int"])
    excluded = campaign.excluded_groups()
    counts = count_groups(files, group_col=meta["group_col"], id_col=meta["id_col"], exclude_ids=exclude,
                          client=client)  # fmt: skip
    if not any(n for g, n in counts.items() if g not in excluded):
        return [], (
            f"all groups with candidates are excluded (no entropy increase in {eng['patience']} acquisitions)"
            if any(counts.values()) else "pool exhausted"
        )  # fmt: skip
    stop = _fairness(labelled, counts, excluded, meta)
    if stop is not None:
        return [], stop
    picks = suggest_from_pool(
        labelled, files, k=int(k), group_col=meta["group_col"], target_col=meta["target_col"],
        feature_cols=meta["feature_cols"], id_col=meta["id_col"], surrogate=eng["surrogate"],
        exclude_ids=exclude, exclude_groups=excluded, counts=counts, client=client, progress=progress,
    )  # fmt: skip
    if not picks:
        return [], "the engine returned no candidate"
    columns = [meta["id_col"], meta["group_col"], *meta["feature_cols"]]
    columns += [meta["structure_col"]] if meta.get("structure_col") else []
    rows = _stored(pool_rows(picks, columns=columns), meta, Path(info["path"]), info["path"])
    return [{"ei": p.ei, "expected_entropy": p.expected_entropy, "row": row} for p, row in zip(picks, rows)], None


def lookup_rows(meta: dict[str, Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    """Store row dicts of the ``ids`` (text) found in the pool folder (``ingest`` of ids that
    were never suggested). Reads the id column of every file, then only the files holding one."""
    info = meta[FOLDER_KEY]
    files = folder_files(meta)
    _pa, pq = _pyarrow()
    wanted = _native(ids, info["id_is_int"])
    columns = [meta["id_col"], meta["group_col"], *meta["feature_cols"]]
    columns += [meta["structure_col"]] if meta.get("structure_col") else []
    found: dict[str, dict[str, Any]] = {}
    for f in files:
        id_values = pq.read_table(f, columns=[meta["id_col"]]).column(0).to_pandas()
        hits = np.flatnonzero(id_values.isin(wanted).to_numpy())
        if hits.size:
            frame = pq.read_table(f, columns=list(dict.fromkeys(columns))).to_pandas().iloc[hits]
            for row in _stored(frame, meta, Path(info["path"]), str(f)):
                found.setdefault(row["id"], row)  # the first file in sorted order wins, as in the picks
    return found
