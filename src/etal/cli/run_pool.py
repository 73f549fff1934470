"""``etal run --pool-file DIR``: ET-AL on a pool stored as a folder of Parquet files.

A pool too large for memory (tens of millions of candidates) is a folder of Parquet files,
one per partition. ``DATA`` holds the labelled rows; the picks come from
:func:`etal.scale.suggest.suggest_from_pool`, partition by partition here or, with
``--scheduler``, one task per partition on Dask. Without ``--scheduler`` Dask is not
imported.

* no ``--labels``: the next ``--budget`` picks (greedy batch with posterior-mean
  fantasies) go to ``suggestions.csv``, as ``etal run`` does for an in-memory pool;
* ``--labels FILE`` (id, target): a loop of ``--batch-size`` picks per iteration until the
  budget or the pool runs out. Its picks equal ``ETAL.run`` with the pool in memory and
  ``patience=None, fairness_stop=False``: the patience and fairness stop rules are not
  applied on a pool folder (``--patience N`` is refused), and there is no checkpoint
  (the tables are rewritten after every iteration).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["is_pool_folder", "labels_oracle", "pool_folder_command"]

#: Columns of ``suggestions.csv`` / ``history.csv`` taken from each pick.
_PICK_COLUMNS = ("id", "group", "reason", "ei", "expected_entropy", "expected_entropy_std", "mean", "std",
                 "file", "row")


def is_pool_folder(args: argparse.Namespace) -> bool:
    """True when ``--pool-file`` names a folder (a partitioned Parquet pool)."""
    value = getattr(args, "pool_file", None)
    return bool(value) and Path(value).expanduser().is_dir()


def _refuse_options(args: argparse.Namespace, opts: dict) -> None:
    """Options of the in-memory engine that the pool-folder path does not implement."""
    wrong = [flag for flag, given in (
        ("--deplete", args.deplete), ("--test-fraction", args.test_fraction), ("--pool-size", args.pool_size),
        ("--n-samples", args.n_samples),
    ) if given is not None]  # fmt: skip
    if wrong:
        raise InputError(f"{', '.join(wrong)}: not used with a pool folder (--pool-file DIR); leave them out")
    if args.strategy is None:
        # the folder path scores partitions with `etal`; the default strategy's pooled GP
        # needs every candidate in memory at once
        opts["strategy"] = "etal"
    if opts["strategy"] != "etal":
        raise InputError(f"--strategy {opts['strategy']}: a pool folder (--pool-file DIR) supports the etal strategy only")
    if opts["estimator"] != "quadrature":
        raise InputError(
            "--estimator mc: a pool folder (--pool-file DIR) uses the quadrature estimator (Monte Carlo draws "
            "depend on the order of the whole pool)"
        )
    if args.patience not in (None, "none"):
        raise InputError(
            "--patience: the pool-folder loop applies no patience (it runs to the budget or until the pool is "
            "empty); leave --patience out or give --patience none"
        )


def labels_oracle(path: str, id_col: str, target: str):
    """A :class:`~etal.oracles.LookupOracle` from a labels file (id, target) for ``--labels``
    (also used by ``etal run`` on an in-memory pool)."""
    from ..data import read_file
    from ..oracles import LookupOracle

    frame = read_file(Path(path))
    id_name = id_col if id_col in frame.columns else ("id" if "id" in frame.columns else None)
    if id_name is None:
        raise InputError(
            f"{path}: the labels file needs an id column ({id_col!r}); its columns are: "
            f"{', '.join(map(str, frame.columns))}"
        )
    others = [c for c in frame.columns if c != id_name]
    target_name = target if target in frame.columns else (others[0] if len(others) == 1 else None)
    if target_name is None:
        raise InputError(
            f"{path}: the labels file needs columns id,target ({id_col!r} and {target!r}); its columns "
            f"are: {', '.join(map(str, frame.columns))}"
        )
    try:
        oracle = LookupOracle(frame[[id_name, target_name]], id_col=id_name, target_col=target_name)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    oracle.id_col = id_col  # read the ids of the requested rows from the data's id column
    return oracle


def _check_labels(path: str, oracle, files: list[Path], id_col: str) -> None:
    """Every pool row needs a label before the first pick (a run must not die halfway);
    reads only the id column of each partition."""
    import pyarrow.parquet as pq

    known = set(oracle.labels()[oracle.id_col].tolist())
    missing: list = []
    total = 0
    for f in files:
        try:
            ids = pq.read_table(f, columns=[id_col]).column(0).to_pylist()
        except (KeyError, ValueError) as exc:
            raise InputError(f"{f}: no id column {id_col!r} ({exc})") from exc
        total += len(ids)
        # Fast path on the raw ids; the oracle's own test (normalised ids) for the rest.
        missing += [i for i in ids if i not in known and i not in oracle]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            f"{path}: no label for {len(missing)} of the {total} pool row(s) in the pool folder (ids {shown}); "
            f"add them to {path}, or drop those rows from the pool"
        )


def _pick_rows(picks, iteration: int | None = None) -> list[dict]:
    rows = []
    for p in picks:
        row = {k: getattr(p, k) for k in _PICK_COLUMNS}
        row["file"] = Path(row["file"]).name
        rows.append(row if iteration is None else {"iteration": iteration, **row})
    return rows


def _entropy_row(frame: pd.DataFrame, group_col: str, target_col: str, groups: list[str], iteration: int) -> dict:
    from ..entropy import estimate_entropy

    labels = frame[group_col].astype(str).to_numpy()
    values = frame[target_col].astype(float).to_numpy()
    row: dict = {"iteration": iteration}
    for g in groups:
        est = estimate_entropy(values[labels == g])
        row[g] = est.entropy if est.status == "ok" else np.nan
    return row


def pool_folder_command(args: argparse.Namespace, opts: dict, *, own: tuple[str, ...], arguments: dict) -> int:
    """``etal run DATA --pool-file DIR [--labels FILE] [--scheduler ...]`` (see the module docstring).

    ``opts``: the resolved run options; ``own``: the files ``etal run`` writes (for
    ``--force``); ``arguments``: the command line for the manifest.
    """
    from ..data import load_data
    from ..provenance import atomic_write_text, write_manifest
    from ..scale.pool import count_groups, fingerprint_partitions, list_partitions
    from ..scale.suggest import pool_rows, suggest_from_pool
    from .common import _DEFAULT_DATA_DEST, output_dir, print_table
    from .scale_flags import client_from_args, stage_bars

    _refuse_options(args, opts)
    folder = Path(args.pool_file).expanduser()
    files = list_partitions(folder)
    output_dir(args, command="etal run", own=own, check_only=True)
    started = time.perf_counter()
    data = args.data if args.data is not None else getattr(args, _DEFAULT_DATA_DEST)
    ds = load_data(data, group_col=args.group_col, target_col=args.target_col, id_col=args.id_col,
                   feature_cols=args.feature_cols)
    if len(ds.pool):
        raise InputError(
            f"{ds.source} has {len(ds.pool)} row(s) without a {ds.target_col!r} value; with a pool folder "
            "(--pool-file DIR) DATA holds the labelled rows only: drop them or move them into the folder"
        )
    out = output_dir(args, command="etal run", own=own)
    group, target, id_col = ds.group_col, ds.target_col, ds.id_col
    features = list(ds.feature_cols)
    columns = {"group_col": group, "target_col": target, "feature_cols": features, "id_col": id_col}
    inputs = {"data": ds.sha256, "pool_folder": fingerprint_partitions(files, folder)}
    oracle = labels_oracle(args.labels, id_col, target) if args.labels else None
    if args.labels:
        from ..provenance import file_sha256

        _check_labels(args.labels, oracle, files, id_col)
        inputs["labels"] = file_sha256(args.labels)
    mode = "labels" if oracle is not None else "suggest"
    info = {"mode": mode, "source": ds.source, "pool_folder": {"path": str(folder.resolve()), "files": len(files)},
            "stop_rules": "budget or pool exhausted (no patience, no fairness stop)"}
    manifest = {"command": "etal run", "arguments": {**arguments, "resolved": opts}, "inputs": inputs,
                "seed": opts["seed"]}
    bars = stage_bars(disable=args.no_progress)
    out.mkdir(parents=True, exist_ok=True)

    def csv(name: str, frame: pd.DataFrame) -> None:
        atomic_write_text(out / name, frame.to_csv(index=False))

    with client_from_args(args) as client:
        info["scheduler"] = None if client is None else str(args.scheduler)
        counts = count_groups(files, group_col=group, client=client)
        labelled = ds.labelled
        groups = sorted(set(counts) | set(labelled[group].astype(str)))
        summary = pd.DataFrame([{"group": g, "labelled": int((labelled[group].astype(str) == g).sum()),
                                 "pool": counts.get(g, 0)} for g in groups]).assign(
            total=lambda f: f["labelled"] + f["pool"])
        csv("split_summary.csv", summary)
        entropies = [_entropy_row(labelled, group, target, groups, 0)]
        if oracle is None:
            picks = suggest_from_pool(labelled, files, k=opts["budget"], client=client, progress=bars,
                                      **columns) if opts["budget"] else []
            table = pd.DataFrame([{"rank": r + 1, **row} for r, row in enumerate(_pick_rows(picks))],
                                 columns=["rank", *_PICK_COLUMNS])
            csv("suggestions.csv", table)
            csv("entropies.csv", pd.DataFrame(entropies))
            write_manifest(out, **manifest, extra={**info, "status": "suggestions", "n_suggested": len(picks),
                                                   "seconds": round(time.perf_counter() - started, 3)})
            print(f"etal run: wrote the next {len(picks)} pick(s) from the pool folder {folder} "
                  f"({len(files)} file(s), {sum(counts.values())} candidates) to {out / 'suggestions.csv'} "
                  "(greedy batch with posterior-mean fantasies): compute these next.")
            if len(picks):
                print_table(table[["rank", "id", "group", "ei", "expected_entropy"]].head(10))
            return 0

        cache: dict = {}
        acquired: list = []
        history: list[dict] = []
        current = labelled.assign(acquired_at=0)
        iteration, stop = 0, None
        try:
            while True:
                if len(acquired) >= opts["budget"]:
                    stop = f"budget reached ({opts['budget']} acquisitions)"
                    break
                k = min(opts["batch_size"], opts["budget"] - len(acquired))
                picks = suggest_from_pool(current, files, k=k, surrogates=cache, exclude_ids=acquired, client=client,
                                          progress=bars, **columns)
                if not picks:
                    stop = "pool exhausted"
                    break
                iteration += 1
                rows = pool_rows(picks, columns=[id_col, group, *features]).infer_objects()
                rows[target] = oracle.lookup(rows[id_col].tolist())
                rows["acquired_at"] = iteration
                current = pd.concat([current, rows], ignore_index=True)
                acquired += [p.id for p in picks]
                history += [{**row, "label": y} for row, y in zip(_pick_rows(picks, iteration), rows[target])]
                entropies.append(_entropy_row(current, group, target, groups, iteration))
                # Rewritten after every iteration: a killed run keeps what it acquired.
                csv("history.csv", pd.DataFrame(history))
                csv("selected.csv", pd.DataFrame({id_col: acquired}))
                csv("entropies.csv", pd.DataFrame(entropies))
                csv("labelled_final.csv", current)
                write_manifest(out, **manifest, extra={**info, "status": "running", "n_acquired": len(acquired)})
        except BaseException as exc:  # the manifest never stays "running"
            interrupted = isinstance(exc, KeyboardInterrupt)
            write_manifest(out, **manifest, extra={
                **info, "status": "interrupted" if interrupted else "failed", "n_acquired": len(acquired),
                "stop_reason": "interrupted (Ctrl-C)" if interrupted else f"{type(exc).__name__}: {exc}"})
            raise
    seconds = time.perf_counter() - started
    csv("history.csv", pd.DataFrame(history, columns=["iteration", *_PICK_COLUMNS, "label"]))
    csv("selected.csv", pd.DataFrame({id_col: acquired}))
    csv("entropies.csv", pd.DataFrame(entropies))
    csv("labelled_final.csv", current)
    write_manifest(out, **manifest, extra={**info, "status": "finished", "stop_reason": stop,
                                           "n_acquired": len(acquired), "iterations": iteration,
                                           "seconds": round(seconds, 3)})
    first, last = entropies[0], entropies[-1]
    table = pd.DataFrame({"group": groups, "entropy_before": [first[g] for g in groups],
                          "entropy_after": [last[g] for g in groups],
                          "acquired": [sum(1 for h in history if h["group"] == g) for g in groups]})
    print(f"etal run: {len(acquired)} acquisitions from the pool folder {folder} in {iteration} iteration(s), "
          f"{seconds:.1f} s; stop: {stop}")
    print("entropy per group [nats] (NA: too few values for an estimate):")
    print_table(table)
    print(f"outputs in {out}: history.csv, selected.csv, entropies.csv, labelled_final.csv, manifest.json")
    return 0
