"""The campaign store: one SQLite database (``DIR/campaign.sqlite``) that remembers everything.

Tables (``rid`` is the store's own integer row key; ``id`` the user's id, as text):

* ``meta``: key → JSON value (columns, feature names, engine settings, source hashes);
* ``rows``: every candidate and initial row: ``rid``, ``id`` (UNIQUE), ``grp``, the
  feature vector (float64 BLOB) and the structure reference (a path, CIF text or
  structure JSON; NULL without one). A campaign whose pool is a folder of Parquet
  files holds its initial rows here and adds a pool row only when it is suggested or
  ingested (the next rid, in the same transaction);
* ``labels``: at most one label per row (``rid`` is the PRIMARY KEY, so a row can never
  be labelled twice, whichever process tries): the row's group (indexed copy), value, source (``initial``,
  ``ingest:FILE``, ``calculator:NAME``), calculator settings (JSON), UTC time, seconds
  spent, the group's entropy before/after (nats) and ``acquired`` (1, 2, ... in the
  order labels were acquired; NULL for the initial labels);
* ``suggestions``: the state machine of a pick (``batch``, and ``pick`` = its place in
  the engine's greedy order), ``pending`` → ``running`` → ``done`` |
  ``failed`` (a failed attempt goes back to ``pending`` until ``max_attempts``), with
  ``attempts``, the last ``error`` and, while running, the ``owner`` (``host:pid:token``)
  and its ``heartbeat`` (Unix time);
* ``failures``: one row per failed attempt (row, attempt, message, time);
* ``entropies``: the entropy (nats) of a group after every acquisition (``acquired`` =
  0 holds every group at the start).

Concurrency: WAL journal, a busy timeout and ``BEGIN IMMEDIATE`` for every state change,
so writers queue instead of failing and readers never block. A suggestion is claimed
with ``UPDATE ... WHERE state = 'pending'`` (one process wins); a ``running`` row is
*stale* only when its owner is dead (same host, the pid is gone) or its heartbeat is
older than the lease, and :meth:`CampaignStore.reclaim_stale` puts stale rows back to
``pending``. ``synchronous=FULL``: a committed transaction survives even a power cut.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..entropy import estimate_entropy
from ..errors import InputError

__all__ = ["DB_NAME", "STATES", "CampaignStore", "new_owner", "owner_is_alive", "utc_now"]

DB_NAME = "campaign.sqlite"
SCHEMA_VERSION = 1
STATES = ("pending", "running", "done", "failed")
BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rows (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    grp TEXT NOT NULL,
    features BLOB NOT NULL,
    structure TEXT
);
CREATE INDEX rows_grp ON rows(grp);
CREATE TABLE labels (
    rid INTEGER PRIMARY KEY REFERENCES rows(rid),
    grp TEXT NOT NULL,
    value REAL NOT NULL,
    source TEXT NOT NULL,
    calculator TEXT,
    created TEXT NOT NULL,
    seconds REAL,
    entropy_before REAL,
    entropy_after REAL,
    acquired INTEGER UNIQUE
);
CREATE INDEX labels_grp ON labels(grp);
CREATE TABLE suggestions (
    rid INTEGER PRIMARY KEY REFERENCES rows(rid),
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    batch INTEGER NOT NULL,
    pick INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    owner TEXT,
    heartbeat REAL,
    suggested_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    ei REAL,
    expected_entropy REAL
);
CREATE INDEX suggestions_state ON suggestions(state);
CREATE TABLE failures (
    rid INTEGER NOT NULL REFERENCES rows(rid),
    attempt INTEGER NOT NULL,
    error TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE entropies (
    acquired INTEGER NOT NULL,
    grp TEXT NOT NULL,
    n INTEGER NOT NULL,
    entropy REAL,
    status TEXT NOT NULL,
    PRIMARY KEY (acquired, grp)
);
"""


def utc_now() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_owner() -> str:
    """A lease owner name for this process: ``host:pid:random token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_alive(owner: str | None) -> bool | None:
    """True/False when ``owner`` ran on this host (its pid is checked; zombies are dead);
    None when it ran on another host (only its heartbeat can tell)."""
    try:
        host, pid_text, _token = str(owner).rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    try:  # a killed child that was not reaped yet still answers kill(0)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return True


def _estimate(values: Sequence[float]):
    # The engine's estimator (auto method, ties floored), so stored entropies and the
    # engine's stop counters agree.
    return estimate_entropy(np.asarray(values, dtype=float))


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


class CampaignStore:
    """One campaign's SQLite database; every state change is one ``BEGIN IMMEDIATE`` transaction.

    A store object holds one connection and must be used by one thread (open another
    store for another thread or process).
    """

    def __init__(self, folder: str | os.PathLike, *, create: bool = False) -> None:
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        if not create and not self.path.is_file():
            raise InputError(
                f"{self.folder}: not a campaign folder (no {DB_NAME} in it); create one with "
                f"campaign init first, or check the path."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        if not create:
            version = self.meta().get("schema_version")
            if version != SCHEMA_VERSION:
                raise InputError(
                    f"{self.path}: campaign store version {version!r}; this etal reads version {SCHEMA_VERSION}."
                )

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------------ creation

    def create(
        self,
        *,
        ids: Sequence[str],
        groups: Sequence[str],
        features: np.ndarray,
        structures: Sequence[str | None],
        targets: np.ndarray,
        meta: dict[str, Any],
    ) -> None:
        """Write the schema, every row and the initial labels (rows with a finite target)."""
        features = np.ascontiguousarray(features, dtype=np.float64)
        now = utc_now()
        with self.transaction() as c:
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        c.execute(statement)
            except sqlite3.OperationalError:  # another init won the race for this folder
                raise InputError(f"{self.folder}: a campaign exists there already; choose another folder.") from None
            c.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in {**meta, "schema_version": SCHEMA_VERSION, "created": now}.items()],
            )
            c.executemany(
                "INSERT INTO rows (rid, id, grp, features, structure) VALUES (?, ?, ?, ?, ?)",
                ((rid, ids[rid], groups[rid], features[rid].tobytes(), structures[rid]) for rid in range(len(ids))),
            )
            labelled = np.flatnonzero(np.isfinite(targets))
            c.executemany(
                "INSERT INTO labels (rid, grp, value, source, created) VALUES (?, ?, ?, 'initial', ?)",
                ((int(rid), groups[rid], float(targets[rid]), now) for rid in labelled),
            )
            by_group: dict[str, list[float]] = {}
            for rid in labelled:
                by_group.setdefault(groups[rid], []).append(float(targets[rid]))
            for g in sorted(set(groups)):
                est = _estimate(by_group.get(g, []))
                c.execute(
                    "INSERT INTO entropies (acquired, grp, n, entropy, status) VALUES (0, ?, ?, ?, ?)",
                    (g, est.n, _finite_or_none(est.entropy), est.status),
                )

    # ------------------------------------------------------------------ reading

    def meta(self) -> dict[str, Any]:
        try:
            return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}
        except sqlite3.OperationalError:
            return {}

    def counts(self) -> dict[str, int]:
        """Rows, labels (initial / acquired) and suggestions per state."""
        c = self.conn
        out = {state: 0 for state in STATES}
        out.update(dict(c.execute("SELECT state, COUNT(*) FROM suggestions GROUP BY state")))
        out["rows"] = c.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        out["initial"] = c.execute("SELECT COUNT(*) FROM labels WHERE acquired IS NULL").fetchone()[0]
        out["acquired"] = c.execute("SELECT COUNT(*) FROM labels WHERE acquired IS NOT NULL").fetchone()[0]
        out["labelled"] = out["initial"] + out["acquired"]
        out["pool"] = out["rows"] - out["labelled"]
        return out

    def n_acquired(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM labels WHERE acquired IS NOT NULL").fetchone()[0]

    def all_rows(self) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
        """(rid, user ids, groups, features (n, d)) of every row, in rid order."""
        rids, ids, groups, blobs = [], [], [], []
        for rid, uid, grp, blob in self.conn.execute("SELECT rid, id, grp, features FROM rows ORDER BY rid"):
            rids.append(rid)
            ids.append(uid)
            groups.append(grp)
            blobs.append(blob)
        d = len(self.meta_value("feature_cols"))
        feats = np.frombuffer(b"".join(blobs), dtype=np.float64).reshape(len(rids), d)
        return np.asarray(rids, dtype=np.int64), ids, groups, feats

    def meta_value(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def label_map(self) -> dict[int, float]:
        return dict(self.conn.execute("SELECT rid, value FROM labels"))

    def rids_in_states(self, states: Iterable[str]) -> set[int]:
        states = tuple(states)
        marks = ",".join("?" * len(states))
        return {r for (r,) in self.conn.execute(f"SELECT rid FROM suggestions WHERE state IN ({marks})", states)}

    def rids_of(self, ids: Sequence[str]) -> dict[str, int]:
        """User id → rid for the ids that exist."""
        out: dict[str, int] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(dict(self.conn.execute(f"SELECT id, rid FROM rows WHERE id IN ({marks})", chunk)))
        return out

    def row(self, rid: int) -> dict[str, Any]:
        uid, grp, structure = self.conn.execute("SELECT id, grp, structure FROM rows WHERE rid = ?", (rid,)).fetchone()
        return {"rid": rid, "id": uid, "group": grp, "structure": structure}

    def entropy_log(self) -> list[tuple[int, str, int, float | None, str]]:
        return list(self.conn.execute("SELECT acquired, grp, n, entropy, status FROM entropies ORDER BY acquired, grp"))

    def acquired_labels(self) -> list[tuple]:
        """(acquired, rid, id, group, value, source, entropy_before, entropy_after) in order."""
        return list(
            self.conn.execute(
                "SELECT l.acquired, l.rid, r.id, r.grp, l.value, l.source, l.entropy_before, l.entropy_after "
                "FROM labels l JOIN rows r ON r.rid = l.rid WHERE l.acquired IS NOT NULL ORDER BY l.acquired"
            )
        )

    # ------------------------------------------------------------------ suggestions

    def _insert_row(self, c: sqlite3.Connection, row: dict[str, Any]) -> int:
        """The rid of ``row`` (dict: id, grp, features, structure), added as the next rid if new.

        A campaign whose pool is a folder of Parquet files stores its pool rows only when they
        are suggested (or ingested), in the same transaction; rids stay 0..n-1.
        """
        found = c.execute("SELECT rid FROM rows WHERE id = ?", (row["id"],)).fetchone()
        if found:
            return int(found[0])
        rid = c.execute("SELECT COALESCE(MAX(rid), -1) + 1 FROM rows").fetchone()[0]
        features = np.ascontiguousarray(row["features"], dtype=np.float64)
        c.execute(
            "INSERT INTO rows (rid, id, grp, features, structure) VALUES (?, ?, ?, ?, ?)",
            (rid, row["id"], row["grp"], features.tobytes(), row.get("structure")),
        )
        return int(rid)

    def add_suggestions(self, picks: Sequence[dict[str, Any]]) -> list[int]:
        """Mark ``picks`` (dicts with rid, ei, expected_entropy) pending; returns the rids added.

        A pick may carry ``row`` (id, grp, features, structure) instead of ``rid``: a pool-folder
        row, added to ``rows`` in the same transaction.

        A row already labelled or suggested (by another process since the pool was read)
        is skipped, so nothing is ever suggested twice.
        """
        added = []
        now = utc_now()
        with self.transaction() as c:
            batch = c.execute("SELECT COALESCE(MAX(batch), 0) + 1 FROM suggestions").fetchone()[0]
            for order, p in enumerate(picks):
                rid = int(p["rid"]) if "rid" in p else self._insert_row(c, p["row"])
                if c.execute("SELECT 1 FROM labels WHERE rid = ?", (rid,)).fetchone():
                    continue
                cur = c.execute(
                    "INSERT INTO suggestions (rid, state, batch, pick, suggested_at, updated_at, ei, expected_entropy) "
                    "VALUES (?, 'pending', ?, ?, ?, ?, ?, ?) ON CONFLICT (rid) DO NOTHING",
                    (
                        rid,
                        batch,
                        order,
                        now,
                        now,
                        _finite_or_none(p.get("ei", np.nan)),
                        _finite_or_none(p.get("expected_entropy", np.nan)),
                    ),
                )
                if cur.rowcount == 1:
                    added.append(rid)
        return added

    def pending_rids(self) -> list[int]:
        """Pending suggestions: oldest batch first, in the engine's pick order."""
        return [
            r for (r,) in self.conn.execute("SELECT rid FROM suggestions WHERE state = 'pending' ORDER BY batch, pick")
        ]

    def claim(self, rid: int, owner: str) -> bool:
        """Atomically move a pending suggestion to ``running`` for ``owner`` (counts an attempt)."""
        with self.transaction() as c:
            cur = c.execute(
                "UPDATE suggestions SET state = 'running', owner = ?, heartbeat = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE rid = ? AND state = 'pending' "
                "AND NOT EXISTS (SELECT 1 FROM labels WHERE labels.rid = suggestions.rid)",
                (owner, time.time(), utc_now(), int(rid)),
            )
            return cur.rowcount == 1

    def heartbeat(self, owner: str) -> None:
        with self.transaction() as c:
            c.execute(
                "UPDATE suggestions SET heartbeat = ? WHERE owner = ? AND state = 'running'", (time.time(), owner)
            )

    def release(self, owner: str) -> int:
        """Give ``owner``'s running rows back (pending, the interrupted attempt not counted)."""
        with self.transaction() as c:
            return c.execute(
                "UPDATE suggestions SET state = 'pending', owner = NULL, heartbeat = NULL, "
                "attempts = MAX(attempts - 1, 0), updated_at = ? WHERE owner = ? AND state = 'running'",
                (utc_now(), owner),
            ).rowcount

    def reclaim_stale(self, lease_seconds: float, me: str | None = None) -> list[int]:
        """Put ``running`` rows whose owner is dead (or silent for ``lease_seconds``) back to pending.

        The attempt that died is counted (it was counted when claimed), so a row that kills
        its calculator every time ends as ``failed`` instead of looping for ever.
        """
        now = time.time()
        moved = []
        with self.transaction() as c:
            for rid, owner, beat in c.execute(
                "SELECT rid, owner, heartbeat FROM suggestions WHERE state = 'running'"
            ).fetchall():
                if owner == me:
                    continue
                alive = owner_is_alive(owner)
                silent = beat is None or now - float(beat) > lease_seconds
                if alive is False or silent:
                    c.execute(
                        "UPDATE suggestions SET state = 'pending', owner = NULL, heartbeat = NULL, "
                        "error = ?, updated_at = ? WHERE rid = ?",
                        (f"interrupted: owner {owner} died or went silent", utc_now(), rid),
                    )
                    moved.append(rid)
        return moved

    def record_failure(self, rid: int, owner: str, error: str, max_attempts: int) -> str:
        """Record a failed attempt; the row goes back to pending, or to failed after ``max_attempts``.
        Returns the new state ('' when the row was no longer ``owner``'s)."""
        now = utc_now()
        with self.transaction() as c:
            row = c.execute(
                "SELECT attempts FROM suggestions WHERE rid = ? AND state = 'running' AND owner = ?", (rid, owner)
            ).fetchone()
            if row is None:
                return ""
            state = "failed" if row[0] >= max_attempts else "pending"
            c.execute(
                "UPDATE suggestions SET state = ?, error = ?, owner = NULL, heartbeat = NULL, updated_at = ? WHERE rid = ?",
                (state, error, now, rid),
            )
            c.execute(
                "INSERT INTO failures (rid, attempt, error, created) VALUES (?, ?, ?, ?)", (rid, row[0], error, now)
            )
            return state

    # ------------------------------------------------------------------ labels

    def _group_values(self, c: sqlite3.Connection, grp: str) -> list[float]:
        # labels.grp is a copy of rows.grp, indexed: a group's values without scanning its pool rows
        return [v for (v,) in c.execute("SELECT value FROM labels WHERE grp = ?", (grp,))]

    def _insert_label(
        self, c: sqlite3.Connection, rid: int, value: float, source: str, calculator: str | None, seconds: float | None
    ) -> None:
        grp = c.execute("SELECT grp FROM rows WHERE rid = ?", (rid,)).fetchone()[0]
        values = self._group_values(c, grp)
        before, after = _estimate(values), _estimate(values + [value])
        acquired = c.execute("SELECT COALESCE(MAX(acquired), 0) + 1 FROM labels").fetchone()[0]
        now = utc_now()
        # rid is the labels' PRIMARY KEY: a second label for a row fails here, whoever tries.
        c.execute(
            "INSERT INTO labels (rid, grp, value, source, calculator, created, seconds, entropy_before, entropy_after, acquired) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rid,
                grp,
                value,
                source,
                calculator,
                now,
                seconds,
                _finite_or_none(before.entropy),
                _finite_or_none(after.entropy),
                acquired,
            ),
        )
        c.execute(
            "INSERT INTO entropies (acquired, grp, n, entropy, status) VALUES (?, ?, ?, ?, ?)",
            (acquired, grp, after.n, _finite_or_none(after.entropy), after.status),
        )
        c.execute(
            "UPDATE suggestions SET state = 'done', owner = NULL, heartbeat = NULL, error = NULL, updated_at = ? WHERE rid = ?",
            (now, rid),
        )

    def record_label(
        self,
        rid: int,
        value: float,
        *,
        source: str,
        calculator: str | None = None,
        seconds: float | None = None,
        owner: str | None = None,
    ) -> bool:
        """Store the label of ``rid`` (one transaction: label, group entropy, suggestion → done).

        Returns False, storing nothing, when the row is labelled already (e.g. ``ingest``
        from another process got there first); its suggestion is then closed as done.
        """
        with self.transaction() as c:
            if c.execute("SELECT 1 FROM labels WHERE rid = ?", (rid,)).fetchone():
                c.execute(
                    "UPDATE suggestions SET state = 'done', owner = NULL, heartbeat = NULL, updated_at = ? "
                    "WHERE rid = ? AND (owner = ? OR owner IS NULL)",
                    (utc_now(), rid, owner),
                )
                return False
            self._insert_label(c, int(rid), float(value), source, calculator, seconds)
            return True

    def ingest(self, pairs: Sequence[tuple[int | dict, float]], source: str) -> tuple[list[int], list[int]]:
        """Store many labels in ONE transaction: all or nothing.

        A pair's key is a rid, or a row dict (id, grp, features, structure) of a pool-folder row
        not in the store yet, added in the same transaction.

        A row labelled already with the same value is skipped (re-ingesting a file is
        harmless); with another value → :class:`InputError` and nothing is stored.
        Returns (rids stored, rids skipped).
        """
        stored, skipped, conflicts = [], [], []
        with self.transaction() as c:
            for key, value in pairs:
                rid = self._insert_row(c, key) if isinstance(key, dict) else int(key)
                old = c.execute("SELECT value FROM labels WHERE rid = ?", (rid,)).fetchone()
                if old is not None:
                    if np.isclose(old[0], value, rtol=1e-9, atol=1e-12):
                        skipped.append(rid)
                        continue
                    conflicts.append((rid, old[0], value))
                    continue
                self._insert_label(c, int(rid), float(value), source, None, None)
                stored.append(rid)
            if conflicts:
                shown = []
                for rid, old, new in conflicts[:5]:
                    uid = c.execute("SELECT id FROM rows WHERE rid = ?", (rid,)).fetchone()[0]
                    shown.append(f"{uid!r} (stored {old:.6g}, given {new:.6g})")
                raise InputError(
                    f"{source}: {len(conflicts)} id(s) are labelled already with another value: "
                    f"{', '.join(shown)}. Nothing was ingested; remove these rows from the file."
                )
        return stored, skipped
