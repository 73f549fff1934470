"""The :class:`Campaign`: a persistent ET-AL campaign in a folder (init, suggest, ingest, status, export).

Every call reads the truth from the store (:mod:`.store`), so several processes can work
on one campaign and a killed one loses nothing that was committed. The engine is rebuilt
from the store for every suggestion: labelled rows, plus the pool minus the rows that are
pending, running or failed (they are never suggested again) and minus the groups the
stop rule has excluded. Running calculators in the loop is :mod:`.runner`'s job.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..bias.scores import entropy_deficit, entropy_gap
from ..errors import InputError
from ..strategies import DEFAULT_STRATEGY, strategy_class
from .store import DB_NAME, CampaignStore

__all__ = ["SUGGESTIONS_FILE", "Campaign", "CampaignWarning", "IngestReport"]

SUGGESTIONS_FILE = "suggestions.csv"
FIGURE_STEM = "entropy_per_group"
_ENGINE_DEFAULTS = {"strategy": DEFAULT_STRATEGY, "estimator": "quadrature", "patience": 5, "seed": 0, "surrogate": "gp"}


class CampaignWarning(UserWarning):
    """Something was accepted but deserves a look (e.g. ingested ids that were never suggested)."""


@dataclass
class IngestReport:
    """What :meth:`Campaign.ingest` did: ids stored, skipped (same label already) and not suggested."""

    stored: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unsuggested: list[str] = field(default_factory=list)


def _id_text(value: Any) -> str:
    """A user id as the store's text: integral floats (ids read from a CSV with gaps) as ints."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value).strip()


def _is_text_structure(text: str) -> bool:
    head = text.lstrip()
    return head.startswith(("{", "data_", "#"))


class Campaign:
    """A campaign folder (``DIR/campaign.sqlite`` plus the files it writes).

    ``Campaign(DIR)`` opens an existing campaign; :meth:`Campaign.init` creates one.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.store = CampaignStore(self.folder)
        self.meta = self.store.meta()
        self._rows = None

    def __repr__(self) -> str:
        c = self.store.counts()
        return f"Campaign({str(self.folder)!r}, labelled={c['labelled']}, acquired={c['acquired']}, pending={c['pending']})"

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ creation

    @classmethod
    def init(
        cls,
        folder: str | os.PathLike,
        data: Any,
        *,
        group_col: str,
        target_col: str,
        id_col: str | None = None,
        feature_cols: Any = None,
        pool_path: str | os.PathLike | None = None,
        structure_col: str | None = None,
        structures: str | os.PathLike | None = None,
        seed: int = 0,
        patience: int | None = 5,
        strategy: str = DEFAULT_STRATEGY,
    ) -> Campaign:
        """Create a campaign in ``folder`` from a table (rows with an empty target are the pool).

        ``data``/``pool_path``/columns as in :func:`etal.data.load_data`. ``structure_col``
        names a column holding, per row, a structure file path (relative paths are taken
        from the table's folder, then the current one), CIF text or a structure JSON.
        ``structures``: a CIF folder, ``.cif``, ASE database or extxyz file read by
        :func:`etal.materials.read_structures`; each structure goes to the row whose id is
        its id there (CIF file stem, database row id, ``<stem>_<frame>``), for rows without
        one from ``structure_col``; stored as a structure JSON.
        ``seed``, ``patience`` and ``strategy`` configure the engine for every suggestion.
        """
        from ..data import load_data
        from ..provenance import write_manifest

        if patience is not None and not (isinstance(patience, int) and patience >= 1):
            raise InputError(f"patience must be a whole number >= 1 or None, got {patience!r}")
        _engine_class()(group_col="g", target_col="t", feature_cols=[], strategy=strategy, seed=seed)  # checks both
        folder = Path(folder)
        db = folder / DB_NAME
        if db.exists():
            old = CampaignStore(folder, create=True)
            ready = bool(old.meta())
            old.close()
            if ready:
                raise InputError(f"{folder}: a campaign exists there already; choose another folder or delete it.")
            for suffix in ("", "-wal", "-shm"):  # an init killed before its commit left an empty file
                Path(str(db) + suffix).unlink(missing_ok=True)
        ds = load_data(
            data,
            group_col=group_col,
            target_col=target_col,
            id_col=id_col,
            feature_cols=feature_cols,
            pool_path=pool_path,
        )
        frame = ds.frame
        refs: list[str | None] = [None] * len(frame)
        if structure_col is not None:
            if structure_col not in frame.columns:
                raise InputError(
                    f"{ds.source}: no structure column {structure_col!r}; its columns are: {', '.join(map(str, frame.columns))}"
                )
            base = Path(str(ds.source)).parent if isinstance(data, (str, os.PathLike)) else Path(".")
            refs = _resolve_structures(frame[structure_col].tolist(), base, ds.source, structure_col)
        ids = [_id_text(v) for v in frame[ds.id_col].tolist()]
        if len(set(ids)) != len(ids):
            raise InputError(f"{ds.source}: ids {ds.id_col!r} are not unique once written as text (e.g. 1 and 1.0)")
        if structures is not None:
            found = _structures_by_id(structures, set(ids))
            for k, uid in enumerate(ids):
                if refs[k] is None and uid in found:
                    refs[k] = found[uid]
        id_is_int = bool(pd.api.types.is_integer_dtype(frame[ds.id_col].dtype))
        meta = {
            "group_col": ds.group_col,
            "target_col": ds.target_col,
            "id_col": ds.id_col,
            "id_is_int": id_is_int,
            "feature_cols": list(ds.feature_cols),
            "structure_col": structure_col,
            "structures": None if structures is None else str(structures),
            "source": str(ds.source),
            "sha256": ds.sha256,
            "pool_source": ds.pool_source,
            "pool_sha256": ds.pool_sha256,
            "engine": {**_ENGINE_DEFAULTS, "seed": int(seed), "patience": patience, "strategy": strategy},
        }
        store = CampaignStore(folder, create=True)
        try:
            store.create(
                ids=ids,
                groups=frame[ds.group_col].astype(str).tolist(),
                features=ds.features(),
                structures=refs,
                targets=frame[ds.target_col].to_numpy(dtype=float),
                meta=meta,
            )
        finally:
            store.close()
        inputs = {"data": ds.sha256} | ({"pool": ds.pool_sha256} if ds.pool_sha256 else {})
        write_manifest(folder, command="campaign init", arguments=meta, inputs=inputs, seed=int(seed))
        return cls(folder)

    # ------------------------------------------------------------------ the engine

    def _all_rows(self):
        if self._rows is None:  # rows never change after init
            self._rows = self.store.all_rows()
        return self._rows

    def excluded_groups(self) -> set[str]:
        """Groups whose entropy has not increased over their last ``patience`` acquisitions."""
        patience = self.meta["engine"].get("patience")
        if not patience:
            return set()
        streak: dict[str, int] = {}
        for _n, _rid, _id, grp, _v, _src, before, after in self.store.acquired_labels():
            increased = before is None or (after is not None and after > before)
            streak[grp] = 0 if increased else streak.get(grp, 0) + 1
        return {g for g, s in streak.items() if s >= patience}

    def engine_frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(labelled, pool) frames for the engine: columns ``_rid``, ``_group``, ``_target``, f0…

        The pool leaves out rows that are labelled, pending, running or failed, and the
        rows of excluded groups.
        """
        rids, _ids, groups, feats = self._all_rows()
        labels = self.store.label_map()
        busy = self.store.rids_in_states(("pending", "running", "failed"))
        groups_arr = np.asarray(groups, dtype=object)
        lab_rids = np.fromiter(labels.keys(), dtype=np.int64, count=len(labels))
        is_lab = np.zeros(len(rids), dtype=bool)
        is_lab[lab_rids] = True  # rid == position (rows are numbered 0..n-1 at init)
        in_pool = ~is_lab
        if busy:
            in_pool[np.fromiter(busy, dtype=np.int64, count=len(busy))] = False
        excluded = self.excluded_groups()
        if excluded:
            in_pool &= ~np.isin(groups_arr, list(excluded))
        names = [f"f{j}" for j in range(feats.shape[1])]

        def frame(mask: np.ndarray, target: np.ndarray | None) -> pd.DataFrame:
            out = pd.DataFrame(feats[mask], columns=names)
            out.insert(0, "_group", groups_arr[mask])
            out.insert(0, "_rid", rids[mask])
            if target is not None:
                out["_target"] = target
            return out

        values = np.array([labels[int(r)] for r in rids[is_lab]], dtype=float)
        return frame(is_lab, values), frame(in_pool, None)

    def _engine(self):
        ETAL = _engine_class()
        eng = self.meta["engine"]
        n = len(self.meta["feature_cols"])
        return ETAL(
            group_col="_group",
            target_col="_target",
            id_col="_rid",
            feature_cols=[f"f{j}" for j in range(n)],
            strategy=eng["strategy"],
            estimator=eng["estimator"],
            surrogate=eng["surrogate"],
            patience=None,  # the campaign applies the stop rule from its whole history
            seed=int(eng["seed"]) + self.store.n_acquired(),
            progress=False,
            fairness_stop=bool(strategy_class(eng["strategy"]).fairness_stop),
        )

    def propose(self, k: int) -> tuple[list[dict[str, Any]], str | None]:
        """The engine's next ``k`` picks (dicts: rid, ei, expected_entropy), not stored; and the
        stop reason when it has none."""
        labelled, pool = self.engine_frames()
        if pool.empty:
            excluded = self.excluded_groups()
            return [], (
                "all groups with candidates are excluded (no entropy increase in "
                f"{self.meta['engine']['patience']} acquisitions)"
                if excluded
                else "pool exhausted"
            )
        loop = self._engine().start(labelled, pool)
        if loop.stop_reason is not None:
            return [], loop.stop_reason
        loop.suggest(k)
        picks = [{"rid": int(p.id), "ei": p.ei, "expected_entropy": p.expected_entropy} for p in loop.pending]
        return picks, None if picks else "the engine returned no candidate"

    def suggest(self, k: int = 1, *, write: bool = True) -> pd.DataFrame:
        """Mark the next ``k`` picks pending (never a pending or running row) and return them.

        Writes ``DIR/suggestions.csv``: every pending suggestion (old and new), with its
        batch number, so the file is the list of rows waiting for a label.
        The returned frame has ``attrs["stop_reason"]`` when no pick was possible.
        """
        if not (isinstance(k, (int, np.integer)) and k >= 1):
            raise InputError(f"k must be a whole number >= 1, got {k!r}")
        picks, reason = self.propose(int(k))
        added = set(self.store.add_suggestions(picks))
        table = self.suggestions()
        new = table[table["rid"].isin(added)].drop(columns=["rid"]).reset_index(drop=True)
        new.attrs["stop_reason"] = reason
        if write:
            self.write_suggestions(table)
        return new

    # ------------------------------------------------------------------ tables

    def suggestions(self, states: tuple[str, ...] = ("pending",)) -> pd.DataFrame:
        """Suggestions in ``states``: rid, id, group, state, batch, attempts, ei, expected_entropy, error, structure."""
        marks = ",".join("?" * len(states))
        rows = self.store.conn.execute(
            "SELECT s.rid, r.id, r.grp, s.state, s.batch, s.attempts, s.ei, s.expected_entropy, s.error, r.structure "
            f"FROM suggestions s JOIN rows r ON r.rid = s.rid WHERE s.state IN ({marks}) ORDER BY s.batch, s.pick",
            states,
        ).fetchall()
        cols = ["rid", "id", "group", "state", "batch", "attempts", "ei", "expected_entropy", "error", "structure"]
        return pd.DataFrame(rows, columns=cols)

    def write_suggestions(self, table: pd.DataFrame | None = None) -> Path:
        from ..provenance import atomic_write_text

        table = self.suggestions() if table is None else table
        out = table.drop(columns=["rid"]).copy()
        if not self.meta.get("structure_col"):
            out = out.drop(columns=["structure"])
        else:  # CIF text in a CSV cell is unreadable; say what it is
            out["structure"] = [
                s if s is None or not _is_text_structure(s) else "(inline structure)" for s in out["structure"]
            ]
        return atomic_write_text(self.folder / SUGGESTIONS_FILE, out.to_csv(index=False))

    def labelled(self) -> pd.DataFrame:
        """Every labelled row: id, group, target (named as at init), source, time, acquired (NaN = initial)."""
        rows = self.store.conn.execute(
            "SELECT r.id, r.grp, l.value, l.source, l.created, l.acquired, l.calculator "
            "FROM labels l JOIN rows r ON r.rid = l.rid ORDER BY l.acquired IS NOT NULL, l.acquired, r.rid"
        ).fetchall()
        frame = pd.DataFrame(rows, columns=["id", "group", "target", "source", "time", "acquired", "calculator"])
        if self.meta.get("id_is_int"):
            frame["id"] = frame["id"].astype(np.int64)
        frame["acquired"] = frame["acquired"].astype("Int64")
        return frame.rename(columns={"target": self.meta["target_col"], "group": self.meta["group_col"]})

    def export(self, out: str | os.PathLike) -> Path:
        """Write :meth:`labelled` to ``out`` (``.csv``, ``.csv.gz`` or ``.parquet``), atomically."""
        import io

        from ..provenance import atomic_write_bytes

        out = Path(out)
        frame = self.labelled()
        name = out.name.lower()
        buf = io.BytesIO()
        if name.endswith((".csv", ".csv.gz")):
            frame.to_csv(buf, index=False, compression="gzip" if name.endswith(".gz") else None)
        elif name.endswith((".parquet", ".pq")):
            frame.to_parquet(buf, index=False)
        else:
            raise InputError(f"{out}: name the export file *.csv, *.csv.gz or *.parquet")
        return atomic_write_bytes(out, buf.getvalue())

    def entropy_history(self) -> pd.DataFrame:
        """Entropy (nats) of every group after 0, 1, 2, … acquired labels (index ``acquired``)."""
        log = pd.DataFrame(self.store.entropy_log(), columns=["acquired", "group", "n", "entropy", "status"])
        wide = log.pivot(index="acquired", columns="group", values="entropy").astype(float)
        n_acq = self.store.n_acquired()
        wide = wide.reindex(range(n_acq + 1)).ffill()
        wide.index.name = "iteration"
        return wide

    # ------------------------------------------------------------------ ingest

    def ingest(
        self, results: Any, *, id_col: str | None = None, target_col: str | None = None, source: str | None = None
    ) -> IngestReport:
        """Add labels from a table (file or DataFrame) of id and target, all or nothing.

        Columns: ``id_col`` (default: the campaign's id column, else ``id``) and
        ``target_col`` (default: the campaign's target column, else ``value``). Unknown,
        empty or repeated ids, and values that are not finite numbers, raise
        :class:`InputError` and store nothing. Ids that were never suggested are accepted
        with a :class:`CampaignWarning`.
        """
        from ..data import read_file

        if isinstance(results, pd.DataFrame):
            frame, where = results, source or "<DataFrame>"
        else:
            frame, where = read_file(results), str(results)
        id_col = id_col or next((c for c in (self.meta["id_col"], "id") if c in frame.columns), None)
        target_col = target_col or next((c for c in (self.meta["target_col"], "value") if c in frame.columns), None)
        for role, col in (("id", id_col), ("target", target_col)):
            if col is None or col not in frame.columns:
                raise InputError(
                    f"{where}: no {role} column {col or ''}; expected {self.meta[role + '_col']!r} or "
                    f"{'id' if role == 'id' else 'value'}. Its columns are: {', '.join(map(str, frame.columns))}"
                )
        ids_raw = frame[id_col].tolist()
        blank = [
            i + 1
            for i, v in enumerate(ids_raw)
            if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == ""
        ]
        if blank:
            raise InputError(
                f"{where}: id column {id_col!r} is empty in rows {blank[:5]} (1-based data rows); nothing was ingested"
            )
        ids = [_id_text(v) for v in ids_raw]
        values = pd.to_numeric(frame[target_col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            shown = ", ".join(f"{ids[i]!r}: {frame[target_col].iloc[i]!r}" for i in bad[:5])
            raise InputError(
                f"{where}: target column {target_col!r} is empty, non-numeric or infinite for {bad.size} id(s) "
                f"({shown}); nothing was ingested. Fix the values or drop the rows."
            )
        if len(set(ids)) != len(ids):
            dups = pd.Series(ids)[pd.Series(ids).duplicated()].unique().tolist()
            raise InputError(f"{where}: ids repeated in the file: {dups[:5]}; give each id once. Nothing was ingested.")
        rid_of = self.store.rids_of(ids)
        unknown = [i for i in ids if i not in rid_of]
        if unknown:
            raise InputError(
                f"{where}: {len(unknown)} id(s) are not rows of this campaign: {unknown[:5]}; nothing was "
                f"ingested. Check the id column ({id_col!r})."
            )
        suggested = self.store.rids_in_states(("pending", "running", "failed", "done"))
        stored, skipped = self.store.ingest([(rid_of[i], float(v)) for i, v in zip(ids, values)], f"ingest:{where}")
        back = {rid: uid for uid, rid in rid_of.items()}
        report = IngestReport(
            stored=[back[r] for r in stored],
            skipped=[back[r] for r in skipped],
            unsuggested=[back[r] for r in stored if r not in suggested],
        )
        if report.unsuggested:
            warnings.warn(
                f"{where}: {len(report.unsuggested)} ingested id(s) were never suggested (e.g. "
                f"{report.unsuggested[:5]}); accepted.",
                CampaignWarning,
                stacklevel=2,
            )
        if (self.folder / SUGGESTIONS_FILE).exists():
            self.write_suggestions()
        return report

    # ------------------------------------------------------------------ status

    def status(self, *, last: int = 10, figure: bool = True) -> dict[str, Any]:
        """Counts, entropy per group at the start and now (nats), the last picks and failures.

        Keys ``labelled``, ``pending``, ``running``, ``failed`` are the counts. With
        ``figure``, ``DIR/entropy_per_group.png`` (and ``.svg``) shows each group's entropy
        against the number of labels acquired; its paths are under ``figure``.
        """
        counts = self.store.counts()
        log = self.store.entropy_log()
        start: dict[str, tuple] = {}
        now: dict[str, tuple] = {}
        for acquired, grp, n, h, status in log:
            if acquired == 0:
                start[grp] = (n, h, status)
            now[grp] = (n, h, status)
        groups = []
        for g in sorted(start):
            groups.append(
                {
                    "group": g,
                    "n_start": start[g][0],
                    "entropy_start": start[g][1],
                    "n_now": now[g][0],
                    "entropy_now": now[g][1],
                    "status_now": now[g][2],
                }
            )
        h_start = {g: (np.nan if v[1] is None else v[1]) for g, v in start.items()}
        h_now = {g: (np.nan if v[1] is None else v[1]) for g, v in now.items()}
        picks = self.store.acquired_labels()[-last:]
        failures = self.store.conn.execute(
            "SELECT r.id, f.attempt, f.error, f.created FROM failures f JOIN rows r ON r.rid = f.rid "
            "ORDER BY f.rowid DESC LIMIT ?",
            (last,),
        ).fetchall()
        out: dict[str, Any] = {
            "folder": str(self.folder),
            "labelled": counts["labelled"],
            "initial": counts["initial"],
            "acquired": counts["acquired"],
            "pending": counts["pending"],
            "running": counts["running"],
            "failed": counts["failed"],
            "done": counts["done"],
            "rows": counts["rows"],
            "unlabelled": counts["pool"],
            "groups": groups,
            "entropy_gap_start": entropy_gap(h_start),
            "entropy_gap_now": entropy_gap(h_now),
            "entropy_deficit_start": entropy_deficit(h_start),
            "entropy_deficit_now": entropy_deficit(h_now),
            "excluded_groups": sorted(self.excluded_groups()),
            "last_picks": [
                {"acquired": a, "id": uid, "group": g, "value": v, "source": s} for a, _r, uid, g, v, s, _b, _e in picks
            ],
            "last_failures": [{"id": uid, "attempt": a, "error": e, "time": t} for uid, a, e, t in failures],
        }
        if figure:
            out["figure"] = [str(p) for p in self.plot()]
        return out

    def plot(self) -> list[Path]:
        """Draw ``DIR/entropy_per_group.png/.svg``: entropy per group against labels acquired."""
        from ..plots import save_figure
        from ..plots.loop import plot_entropy_evolution

        history = pd.DataFrame(
            [{"iteration": a, "group": g} for a, _r, _i, g, *_ in self.store.acquired_labels()],
            columns=["iteration", "group"],
        )
        fig = plot_entropy_evolution(self.entropy_history(), history, title=f"campaign {self.folder.name}")
        fig.axes[-1].set_xlabel("labels acquired")
        return save_figure(fig, self.folder, FIGURE_STEM)

    # ------------------------------------------------------------------ run

    def run(self, calculator: Any, budget: int, **kwargs: Any):
        """Suggest → calculate → record until the campaign holds ``budget`` acquired labels;
        see :func:`etal.campaign.runner.run_campaign` for the options."""
        from .runner import run_campaign

        return run_campaign(self, calculator, budget, **kwargs)


def _engine_class():
    """The engine class, imported in this one place (lazily: ``import etal.campaign`` stays light)."""
    from ..engine import ETAL

    return ETAL


def _structures_by_id(path: str | os.PathLike, ids: set[str]) -> dict[str, str]:
    """Structure JSON by row id from a CIF folder / file, ASE database or extxyz file."""
    import json

    from ..materials.structures import read_structures

    report = read_structures(path)
    out = {}
    for record in report.records:
        key = _id_text(record.id)
        if key in ids:
            out[key] = json.dumps(record.structure.as_dict())
    if not out:
        raise InputError(
            f"{path}: none of its {report.n_read} structure ids (e.g. {[str(r.id) for r in report.records[:3]]}) "
            f"is a row id of the table; name the files (CIF stems) or frames by the row ids."
        )
    return out


def _resolve_structures(values: list, base: Path, source: str, column: str) -> list[str | None]:
    """Structure references as stored: absolute paths for files, text as it is, None for blanks."""
    out: list[str | None] = []
    missing = []
    for k, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
            out.append(None)
            continue
        text = str(value)
        if _is_text_structure(text):
            out.append(text)
            continue
        path = Path(text).expanduser()
        for candidate in [path] if path.is_absolute() else [base / path, path]:
            if candidate.is_file():
                out.append(str(candidate.resolve()))
                break
        else:
            missing.append((k + 1, text))
            out.append(None)
    if missing:
        shown = ", ".join(f"row {k}: {t!r}" for k, t in missing[:5])
        raise InputError(
            f"{source}: structure column {column!r} names {len(missing)} file(s) that do not exist ({shown}); "
            f"paths are taken relative to the table's folder ({base}) or the current folder."
        )
    return out
