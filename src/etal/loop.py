"""The ET-AL loop: select, label, update, stop, checkpoint.

:class:`ETAL` owns the run: labelled values and pool candidates per group (the pool never
carries labels inside the loop), the current entropy of every group, one warm-started
surrogate per group, the stop-rule counters and one :class:`numpy.random.Generator`.
What to pick is delegated to a strategy (:mod:`etal.strategies`); where labels come from
to an oracle (:mod:`etal.oracles`); persistence to :mod:`etal.checkpoint`.

Two ways to drive it::

    loop = ETAL(group_col="crystal_system", target_col="formation_energy_per_atom",
                feature_cols=features, budget=100)
    result = loop.run(labelled, pool, oracle)          # oracle(rows) -> values

    loop.start(labelled, pool)                          # ask / tell
    ids = loop.suggest(k=1); loop.tell(ids, values_from_dft)

Stop rules (method doc §4): a group whose entropy has not increased for ``patience``
consecutive acquisitions in it is excluded; the run stops when no group is eligible
(pool exhausted / all groups excluded), when the only eligible group's entropy is already
the highest (fairness stop), or at the budget. Entropies are in nats.
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import checkpoint as ckpt
from .bias.scores import entropy_gap  # noqa: F401  (re-exported)
from .entropy import EntropyEstimate, estimate_entropy, resolve_method
from .errors import CheckpointError, InputError
from .oracles import LookupOracle, as_oracle, check_oracle_values
from .strategies import Pick, make_strategy

__all__ = ["ETAL", "HISTORY_COLUMNS", "LookupOracle", "LoopState", "RunResult", "entropy_gap"]

#: Columns of :attr:`ETAL.history`, one row per acquisition.
HISTORY_COLUMNS: tuple[str, ...] = (
    "iteration", "group", "id", "value", "ei", "expected_entropy", "expected_entropy_std",
    "entropy_before", "entropy_after", "entropy_gap", "n_labelled", "status_after", "excluded",
    "seconds", "reason", "strategy",
)  # fmt: skip
_FLOAT_HISTORY = (
    "value", "ei", "expected_entropy", "expected_entropy_std", "entropy_before",
    "entropy_after", "entropy_gap", "seconds",
)  # fmt: skip
ESTIMATORS = ("quadrature", "mc")
NAN = float("nan")




@dataclass
class RunResult:
    """What :meth:`ETAL.run` returns.

    ``history``: one row per acquisition (:data:`HISTORY_COLUMNS`); ``entropies``: one row
    per iteration (0 = start), one column per group, nats, NaN where the group's status
    (in ``entropy_status``) is not ``"ok"``; ``selected``: acquired ids in order;
    ``labelled_final``: the initial labelled rows plus the acquired rows with their labels
    (column ``acquired_at`` = iteration, 0 for the initial rows).
    """

    history: pd.DataFrame
    entropies: pd.DataFrame
    selected: list
    stop_reason: str | None
    labelled_final: pd.DataFrame
    entropy_status: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def n_acquired(self) -> int:
        return len(self.selected)


class _Group:
    """One group's labelled data, pool candidates, entropy, surrogate and counters."""

    __slots__ = (
        "name", "values", "features", "ids", "pool_ids", "pool_features", "pool_positions",
        "remaining", "candidates", "estimate", "surrogate", "fitted_n", "fit_count",
        "saved_fit_count", "saved_file", "prediction", "approximate", "no_increase", "excluded",
    )  # fmt: skip

    def __init__(self, name, values, features, ids, pool_ids, pool_features, pool_positions):
        self.name = name
        self.values = np.asarray(values, dtype=float)
        self.features = np.asarray(features, dtype=float)  # (n, d)
        self.ids = list(ids)
        self.pool_ids = list(pool_ids)
        self.pool_features = np.asarray(pool_features, dtype=float)  # (m, d)
        self.pool_positions = np.asarray(pool_positions, dtype=np.int64)
        self.remaining = np.ones(len(self.pool_ids), dtype=bool)
        self.candidates = np.arange(len(self.pool_ids))  # local indices still in the pool
        self.estimate: EntropyEstimate | None = None
        self.surrogate = None
        self.fitted_n = -1  # labelled rows the surrogate was last fitted on
        self.fit_count = 0
        self.saved_fit_count = 0
        self.saved_file: str | None = None
        self.prediction: tuple[np.ndarray, np.ndarray] | None = None  # over all pool rows
        self.approximate = False  # prediction's std from the surrogate's huge-pool approximation
        self.no_increase = 0
        self.excluded = False

    @property
    def n(self) -> int:
        return len(self.values)

    def acquire(self, local: int, value: float) -> None:
        self.values = np.append(self.values, value)
        self.features = np.vstack((self.features, self.pool_features[local : local + 1]))
        self.ids.append(self.pool_ids[local])
        self.remaining[local] = False
        self.candidates = np.flatnonzero(self.remaining)


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class LoopState:
    """Read-only view of a running loop, handed to strategies (see :class:`etal.strategies.StateView`).

    It exposes labelled values and features, the remaining candidates (ids, pool-row
    positions, features; no labels: the loop never holds them), entropies and statuses,
    the excluded groups and ``predict(group)``: the group's cached surrogate, refitted
    (warm-started) only when the group's labelled data changed since its last fit.
    """

    def __init__(self, loop: ETAL) -> None:
        self._loop = loop

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self._loop._groups)

    @property
    def excluded(self) -> frozenset:
        return frozenset(g for g, grp in self._loop._groups.items() if grp.excluded)

    @property
    def iteration(self) -> int:
        return self._loop.iteration

    estimator = property(lambda self: self._loop.estimator)
    n_samples = property(lambda self: self._loop.n_samples)
    method = property(lambda self: self._loop.method)
    ties = property(lambda self: self._loop.ties)

    def eligible(self) -> list[str]:
        return self._loop._eligible()

    def n_labelled(self, group: str) -> int:
        return self._loop._groups[group].n

    def values(self, group: str) -> np.ndarray:
        return _readonly(self._loop._groups[group].values)

    def features(self, group: str) -> np.ndarray:
        return _readonly(self._loop._groups[group].features)

    def estimate(self, group: str) -> EntropyEstimate:
        return self._loop._groups[group].estimate

    def entropy(self, group: str) -> float:
        return self._loop._groups[group].estimate.entropy

    def status(self, group: str) -> str:
        return self._loop._groups[group].estimate.status

    def n_candidates(self, group: str) -> int:
        return int(self._loop._groups[group].candidates.size)

    def candidate_ids(self, group: str) -> list:
        grp = self._loop._groups[group]
        return [grp.pool_ids[i] for i in grp.candidates]

    def candidate_positions(self, group: str) -> np.ndarray:
        grp = self._loop._groups[group]
        return _readonly(grp.pool_positions[grp.candidates])

    def candidate_features(self, group: str) -> np.ndarray:
        grp = self._loop._groups[group]
        return _readonly(grp.pool_features[grp.candidates])

    def surrogate(self, group: str):
        """The group's fitted surrogate (cached; refitted, warm-started, only when stale)."""
        self._loop._prediction(group)
        return self._loop._groups[group].surrogate

    def predict(self, group: str) -> tuple[np.ndarray, np.ndarray]:
        """Surrogate posterior mean and std (target units) for the group's candidates."""
        mu, sigma = self._loop._prediction(group)
        grp = self._loop._groups[group]
        return _readonly(mu[grp.candidates]), _readonly(sigma[grp.candidates])

    def prediction_is_approximate(self, group: str) -> bool:
        """Did :meth:`predict` come from the surrogate's huge-pool approximation?

        True when the surrogate (e.g. :class:`etal.surrogate.GPSurrogate` with more pool
        rows than its ``max_exact_predict``) reported ``predict_info_["approximate"]``:
        the std is then a screening value, and strategies re-score their shortlist with
        :meth:`predict_exact`.
        """
        self._loop._prediction(group)
        return bool(self._loop._groups[group].approximate)

    def predict_exact(self, group: str, indices) -> tuple[np.ndarray, np.ndarray]:
        """The surrogate's own posterior (mean, std) for the candidates at ``indices``
        (positions among the group's current candidates), never approximated."""
        loop = self._loop
        loop._prediction(group)
        grp = loop._groups[group]
        rows = grp.pool_features[grp.candidates[np.asarray(indices, dtype=np.int64)]]
        surrogate = grp.surrogate
        if not getattr(surrogate, "is_fitted", True):
            # A resumed run: the surrogate holds the saved hyper-parameters only. Rebuild
            # the saved fit's posterior without re-optimising (the next warm start, and
            # with it every later fit, stays that of the uninterrupted run).
            rebuild = getattr(surrogate, "refit_posterior", None) or surrogate.fit
            rebuild(grp.features, grp.values)
        mu, sigma = surrogate.predict(rows, approximate=False)
        return np.asarray(mu, dtype=float).ravel(), np.asarray(sigma, dtype=float).ravel()


def _check_int(name: str, value, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(
            f"{name} must be an integer >= {low}{' or None' if allow_none else ''}, got {value!r}"
        )
    return int(value)


class ETAL:
    """Entropy-targeted active learning (Zhang et al. 2023) with checkpoints.

    Parameters
    ----------
    group_col, target_col, feature_cols, id_col : columns of the labelled / pool frames.
    strategy : ``"etal"`` (default), ``"random"``, ``"balanced"``, ``"uncertainty"`` or
        an object with ``select(state, k, rng)``.
    surrogate : ``"gp"`` or a surrogate object (copied per group); ``surrogate_options``
        are passed to :func:`etal.surrogate.make_surrogate`.
    estimator, n_samples : expected-entropy estimator (``"quadrature"`` or Monte Carlo
        ``"mc"`` with ``n_samples`` draws, as in the paper).
    method, ties : entropy estimator and tie policy (:func:`etal.entropy.estimate_entropy`).
    batch_size : rows acquired per iteration (greedy with fantasies when > 1; 1 = paper).
    patience : exclude a group after this many consecutive acquisitions in it without an
        entropy increase; ``None`` disables exclusion (baselines).
    budget : maximum number of acquisitions (``None``: until another stop rule).
    fairness_stop : stop when the only eligible group's entropy is already the highest;
        default: on for ``strategy="etal"``, off for the baselines.
    seed : seeds the loop's one random generator (``None``: fresh entropy, recorded).
    checkpoint_dir : write a checkpoint there after every acquisition (resume with
        :meth:`resume`).
    progress : show a tqdm progress bar in :meth:`run`.
    """

    def __init__(
        self,
        *,
        group_col: str,
        target_col: str,
        feature_cols,
        id_col: str = "id",
        strategy: Any = "etal",
        surrogate: Any = "gp",
        estimator: str = "quadrature",
        n_samples: int = 1000,
        method: str = "auto",
        batch_size: int = 1,
        patience: int | None = 5,
        budget: int | None = None,
        ties: str = "floor",
        seed: int | None = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
        fairness_stop: bool | None = None,
        surrogate_options: dict | None = None,
    ) -> None:
        for name, col in (("group_col", group_col), ("target_col", target_col), ("id_col", id_col)):
            if not isinstance(col, str) or not col:
                raise InputError(f"{name} must be a column name, got {col!r}")
        if isinstance(feature_cols, str):
            feature_cols = [c.strip() for c in feature_cols.split(",") if c.strip()]
        self.group_col, self.target_col, self.id_col = group_col, target_col, id_col
        self.feature_cols = [str(c) for c in (feature_cols or [])]
        clash = {group_col, target_col, id_col} & set(self.feature_cols)
        if clash:
            raise InputError(f"feature_cols must not include the group, target or id column: {sorted(clash)}")
        self.strategy = make_strategy(strategy)
        self.strategy_name = getattr(self.strategy, "name", type(self.strategy).__name__)
        self.surrogate = surrogate
        self.surrogate_options = dict(surrogate_options or {})
        if not isinstance(surrogate, str) and not callable(getattr(surrogate, "fit", None)):
            raise InputError(f"surrogate must be 'gp' or an object with fit/predict, got {surrogate!r}")
        if estimator not in ESTIMATORS:
            raise InputError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        self.estimator = estimator
        self.n_samples = _check_int("n_samples", n_samples, 1)
        resolve_method(method, 100)  # validates the name
        self.method = method
        if ties not in ("floor", "error"):
            raise InputError(f"ties must be 'floor' or 'error', got {ties!r}")
        self.ties = ties
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.patience = _check_int("patience", patience, 1, allow_none=True)
        self.budget = _check_int("budget", budget, 0, allow_none=True)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = _check_int("seed", seed, 0)
        self.fairness_stop = (self.strategy_name == "etal") if fairness_stop is None else bool(fairness_stop)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.progress = bool(progress)

        self._dataset = None
        self._started = False
        self._groups: dict[str, _Group] = {}
        self._where: dict[Any, tuple[str, int]] = {}
        self._rng = np.random.default_rng(self.seed)
        self._oracle = None
        self._pending: dict[Any, Pick] = {}
        self._pending_seconds = 0.0
        self._inputs_meta: dict = {}
        self.iteration = 0
        self.stop_reason: str | None = None
        self._history_rows: list[dict] = []
        self._entropy_rows: list[dict] = []
        self._status_rows: list[dict] = []
        self._selected: list = []
        self._values: list[float] = []
        self._labelled_input: pd.DataFrame | None = None
        self._pool_input: pd.DataFrame | None = None
        self._pool_position: dict = {}
        self._journaled = (0, 0)  # history / entropy rows already in the checkpoint journals

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_dataset(cls, ds, **kwargs) -> ETAL:
        """An :class:`ETAL` on a :class:`etal.data.Dataset`'s columns; ``run()`` then uses its
        labelled rows and pool (rows with an empty target) unless others are given."""
        loop = cls(
            group_col=ds.group_col,
            target_col=ds.target_col,
            feature_cols=list(ds.feature_cols),
            id_col=ds.id_col,
            **kwargs,
        )
        loop._dataset = ds
        return loop

    def settings(self) -> dict:
        """The run's settings (JSON-able; stored in checkpoints and manifests)."""
        return {
            "group_col": self.group_col,
            "target_col": self.target_col,
            "feature_cols": list(self.feature_cols),
            "id_col": self.id_col,
            "strategy": self.strategy_name,
            "surrogate": self.surrogate if isinstance(self.surrogate, str) else type(self.surrogate).__name__,
            "surrogate_options": self.surrogate_options,
            "estimator": self.estimator,
            "n_samples": self.n_samples,
            "method": self.method,
            "batch_size": self.batch_size,
            "patience": self.patience,
            "budget": self.budget,
            "ties": self.ties,
            "seed": self.seed,
            "fairness_stop": self.fairness_stop,
        }

    def __repr__(self) -> str:
        return (
            f"ETAL(strategy={self.strategy_name!r}, iteration={self.iteration}, "
            f"acquired={len(self._selected)}, stop_reason={self.stop_reason!r})"
        )

    # ----------------------------------------------------------------- input checks

    def _check_frame(self, frame, name: str, need_target: bool) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
        need = [self.id_col, self.group_col] + ([self.target_col] if need_target else []) + self.feature_cols
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise InputError(
                f"{name} table lacks column(s) {missing}; its columns are: "
                f"{', '.join(map(str, frame.columns))}"
            )
        frame = frame.reset_index(drop=True)
        ids = frame[self.id_col]
        if ids.isna().any():
            rows = np.flatnonzero(ids.isna().to_numpy())[:5].tolist()
            raise InputError(f"{name} table: id column {self.id_col!r} is empty in rows {rows}")
        if frame[self.group_col].isna().any():
            bad = ids[frame[self.group_col].isna()].tolist()[:5]
            raise InputError(f"{name} table: group column {self.group_col!r} is empty for ids {bad}")
        for col in self.feature_cols:
            values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(values)
            if bad.any():
                raise InputError(
                    f"{name} table: feature column {col!r} is missing, non-numeric or infinite "
                    f"for ids {ids[bad].tolist()[:5]}; fix or drop these rows"
                )
        if need_target:
            target = pd.to_numeric(frame[self.target_col], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(target)
            if bad.any():
                raise InputError(
                    f"labelled table: target column {self.target_col!r} is missing or non-numeric "
                    f"for ids {ids[bad].tolist()[:5]}; rows without a label belong in the pool"
                )
        return frame

    def _features_of(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.feature_cols:
            return np.empty((len(frame), 0))
        return frame[self.feature_cols].apply(pd.to_numeric).to_numpy(dtype=float)

    def _setup(self, labelled: pd.DataFrame, pool: pd.DataFrame) -> None:
        """Validate the inputs and build the per-group state (no checkpoint written)."""
        labelled = self._check_frame(labelled, "labelled", need_target=True)
        pool = self._check_frame(pool, "pool", need_target=False)
        if getattr(self.strategy, "uses_surrogate", False) and not self.feature_cols:
            raise InputError(f"strategy {self.strategy_name!r} needs feature_cols for its surrogate model")
        # The loop never holds pool labels: a target column in the pool is dropped here.
        pool = pool.drop(columns=[self.target_col], errors="ignore")
        labelled = labelled.copy()
        pool = pool.copy()
        labelled[self.group_col] = labelled[self.group_col].astype(str)
        pool[self.group_col] = pool[self.group_col].astype(str)
        lab_ids, pool_ids = labelled[self.id_col].tolist(), pool[self.id_col].tolist()
        seen: dict = {}
        dup = []
        for i in lab_ids + pool_ids:
            if i in seen:
                dup.append(i)
            seen[i] = True
        if dup:
            raise InputError(
                f"ids must be unique across the labelled and pool tables; repeated: {dup[:5]}"
            )
        self._labelled_input, self._pool_input = labelled, pool
        self._pool_position = {i: p for p, i in enumerate(pool_ids)}

        lab_groups = labelled[self.group_col].to_numpy()
        pool_groups = pool[self.group_col].to_numpy()
        values = labelled[self.target_col].astype(float).to_numpy()
        x_lab, x_pool = self._features_of(labelled), self._features_of(pool)
        names = sorted(set(lab_groups.tolist()) | set(pool_groups.tolist()))
        self._groups = {}
        self._where = {}
        for g in names:
            li = np.flatnonzero(lab_groups == g)
            pi = np.flatnonzero(pool_groups == g)
            grp = _Group(
                g, values[li], x_lab[li], [lab_ids[i] for i in li], [pool_ids[i] for i in pi], x_pool[pi], pi
            )
            grp.estimate = self._estimate(grp.values)
            self._groups[g] = grp
            for local, i in enumerate(pi):
                self._where[pool_ids[i]] = (g, local)
        self._started = True

    def _estimate(self, values: np.ndarray) -> EntropyEstimate:
        return estimate_entropy(values, method=self.method, ties=self.ties)

    # ----------------------------------------------------------------- public API

    @property
    def state(self) -> LoopState:
        """A read-only :class:`LoopState` view (what strategies see)."""
        self._require_started()
        return LoopState(self)

    @property
    def groups(self) -> list[str]:
        return list(self._groups)

    def start(self, labelled: pd.DataFrame, pool: pd.DataFrame) -> ETAL:
        """Validate and load the labelled rows and the pool; write the first checkpoint."""
        if self._started:
            raise InputError("this ETAL run has already started; make a new ETAL for another run")
        if self.checkpoint_dir is not None:
            self._check_checkpoint_dir_free()
        self._setup(labelled, pool)
        self._record_entropies()
        self._update_stop()
        if self.checkpoint_dir is not None:
            self._inputs_meta = {
                "labelled": ckpt.save_input(self.checkpoint_dir, "labelled", self._labelled_input),
                "pool": ckpt.save_input(self.checkpoint_dir, "pool", self._pool_input),
            }
            if isinstance(self._oracle, LookupOracle):  # set by run() before start()
                self._inputs_meta["oracle_labels"] = self._oracle_labels_input(self._oracle)
            self.save_checkpoint()
        return self

    def suggest(self, k: int | None = None) -> list:
        """Ids of the next ``k`` pool rows to label (default ``batch_size``); [] once stopped.

        ``k > 1`` is greedy batch selection with posterior-mean fantasies. Label them and
        pass the values to :meth:`tell`.
        """
        self._require_started()
        k = self.batch_size if k is None else _check_int("k", k, 1)
        if self.stop_reason is not None:
            return []
        if self.budget is not None:
            k = min(k, self.budget - len(self._selected))
        t0 = time.perf_counter()
        picks = self._select(k)
        self._pending = {p.id: p for p in picks}
        self._pending_seconds = time.perf_counter() - t0
        return [p.id for p in picks]

    def tell(self, ids, values) -> ETAL:
        """Add the labels ``values`` (one finite float per id) of pool rows ``ids``."""
        self._require_started()
        ids = list(ids) if not np.isscalar(ids) else [ids]
        values = check_oracle_values(values, ids)
        picks = []
        for i in ids:
            if i not in self._where:
                where = "already labelled" if any(i in grp.ids for grp in self._groups.values()) else "not in the pool"
                raise InputError(f"tell(): id {i!r} is {where}; only pool candidates can be labelled")
            g, local = self._where[i]
            own_id = self._groups[g].pool_ids[local]  # the pool's own id object (e.g. int, not np.int64)
            pick = self._pending.get(own_id) or Pick(own_id, g, "told without suggest()")
            picks.append(pick)
        if len(set(map(_hashable, ids))) != len(ids):
            raise InputError(f"tell(): ids must be distinct, got {ids}")
        t0 = time.perf_counter()
        self._acquire(picks, values, t0, extra_seconds=self._pending_seconds)
        self._pending = {}
        self._pending_seconds = 0.0
        return self

    def run(
        self,
        labelled: pd.DataFrame | None = None,
        pool: pd.DataFrame | None = None,
        oracle: Any = None,
        budget: int | None = None,
    ) -> RunResult:
        """Run until a stop rule fires; label picks with ``oracle(rows) -> values``.

        ``budget`` (acquisitions) overrides the constructor's. On a resumed run
        (:meth:`resume`) leave ``labelled``/``pool`` out, or pass the same tables.
        """
        if budget is not None:
            self.budget = _check_int("budget", budget, 0)
        if oracle is not None:
            previous = self._oracle
            self._oracle = as_oracle(oracle)
            if self._started and self.checkpoint_dir is not None and isinstance(self._oracle, LookupOracle) \
                    and self._oracle is not previous:
                self._inputs_meta["oracle_labels"] = self._oracle_labels_input(self._oracle)
                self.save_checkpoint()
        if not self._started:
            if labelled is None or pool is None:
                if self._dataset is None:
                    raise InputError("run() needs the labelled and pool tables (or use ETAL.from_dataset)")
                labelled = self._dataset.labelled if labelled is None else labelled
                pool = self._dataset.pool if pool is None else pool
            self.start(labelled, pool)
        elif labelled is not None or pool is not None:
            self._check_same_inputs(labelled, pool)
        self._update_stop()
        if self.stop_reason is None and self._oracle is None:
            raise InputError(
                "run() needs an oracle (a callable rows -> values, e.g. LookupOracle(labels)); "
                "without one, use suggest() and tell()"
            )
        bar = self._progress_bar()
        try:
            while self.stop_reason is None:
                k = self.batch_size
                if self.budget is not None:
                    k = min(k, self.budget - len(self._selected))
                t0 = time.perf_counter()
                picks = self._select(k)
                if not picks:  # pragma: no cover - the stop rules fire first
                    self.stop_reason = "no candidate could be selected"
                    break
                ids = [p.id for p in picks]
                rows = self.pool_rows(ids)
                values = check_oracle_values(self._oracle(rows), ids)
                self._acquire(picks, values, t0)
                if bar is not None:
                    bar.update(len(picks))
                    last = self._history_rows[-1]
                    bar.set_postfix(target=last["group"], gap=f"{last['entropy_gap']:.3f}", refresh=False)
        finally:
            if bar is not None:
                bar.close()
        return self.result()

    def result(self) -> RunResult:
        """The run so far as a :class:`RunResult`."""
        return RunResult(
            history=self.history,
            entropies=self.entropies,
            selected=list(self._selected),
            stop_reason=self.stop_reason,
            labelled_final=self.labelled_final(),
            entropy_status=self.entropy_status,
        )

    # ----------------------------------------------------------------- tables

    @property
    def history(self) -> pd.DataFrame:
        """One row per acquisition (:data:`HISTORY_COLUMNS`)."""
        frame = pd.DataFrame(self._history_rows, columns=list(HISTORY_COLUMNS))
        for c in _FLOAT_HISTORY:
            frame[c] = frame[c].astype(float)
        frame["iteration"] = frame["iteration"].astype("int64")
        frame["n_labelled"] = frame["n_labelled"].astype("int64")
        frame["excluded"] = frame["excluded"].astype(bool)
        return frame

    @property
    def entropies(self) -> pd.DataFrame:
        """Entropy (nats) per group (columns) and iteration (index; 0 = start)."""
        frame = pd.DataFrame(self._entropy_rows, columns=["iteration", *self._groups])
        return frame.set_index("iteration").astype(float)

    @property
    def entropy_status(self) -> pd.DataFrame:
        """Status (``ok``/``too_few``/``constant``) behind each entry of :attr:`entropies`."""
        frame = pd.DataFrame(self._status_rows, columns=["iteration", *self._groups])
        return frame.set_index("iteration")

    @property
    def pending(self) -> list[Pick]:
        """The picks of the last :meth:`suggest` not yet passed to :meth:`tell` (with reasons, EI)."""
        return list(self._pending.values())

    @property
    def selected(self) -> list:
        """Acquired ids, in order."""
        return list(self._selected)

    def labelled_final(self) -> pd.DataFrame:
        """Initial labelled rows plus acquired rows (with their labels and ``acquired_at``)."""
        if self._labelled_input is None:
            return pd.DataFrame()
        base = self._labelled_input.copy()
        base["acquired_at"] = 0
        if not self._selected:
            return base
        rows = self._pool_input.iloc[[self._pool_position[i] for i in self._selected]].copy()
        rows[self.target_col] = np.asarray(self._values, dtype=float)
        rows["acquired_at"] = [r["iteration"] for r in self._history_rows]
        return pd.concat([base, rows[base.columns]], ignore_index=True)

    def pool_rows(self, ids) -> pd.DataFrame:
        """The pool rows of ``ids`` (all input columns, no target), for an oracle."""
        self._require_started()
        missing = [i for i in ids if i not in self._pool_position]
        if missing:
            raise InputError(f"ids {missing[:5]} are not pool rows")
        rows = self._pool_input.iloc[[self._pool_position[i] for i in ids]].reset_index(drop=True)
        rows.attrs["id_col"] = self.id_col
        return rows

    # ----------------------------------------------------------------- internals

    def _require_started(self) -> None:
        if not self._started:
            raise InputError("call start(labelled, pool) (or run(...)) first")

    def _eligible(self) -> list[str]:
        return [g for g, grp in self._groups.items() if grp.candidates.size and not grp.excluded]

    def _select(self, k: int) -> list[Pick]:
        if k <= 0:
            return []
        picks = list(self.strategy.select(LoopState(self), int(k), self._rng))
        seen = set()
        for p in picks:
            if p.id not in self._where or p.id in seen:
                raise InputError(
                    f"strategy {self.strategy_name!r} returned id {p.id!r}, which is not a "
                    "distinct remaining pool candidate"
                )
            seen.add(p.id)
        return picks

    def _new_surrogate(self):
        if isinstance(self.surrogate, str):
            from .surrogate import make_surrogate

            return make_surrogate(self.surrogate, **self.surrogate_options)
        return copy.deepcopy(self.surrogate)

    def _prediction(self, group: str) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean / std over ALL of the group's pool rows, refitting only when stale."""
        grp = self._groups[group]
        if grp.n < 2:
            raise InputError(f"group {group!r} has {grp.n} labelled row(s); a surrogate needs at least 2")
        if grp.surrogate is None:
            grp.surrogate = self._new_surrogate()
        if grp.fitted_n != grp.n or grp.prediction is None:
            grp.surrogate.fit(grp.features, grp.values)  # warm-starts from its last fit
            grp.fitted_n = grp.n
            grp.fit_count += 1
            mu, sigma = grp.surrogate.predict(grp.pool_features)
            grp.prediction = (np.asarray(mu, dtype=float).ravel(), np.asarray(sigma, dtype=float).ravel())
            info = getattr(grp.surrogate, "predict_info_", None)
            grp.approximate = bool(info.get("approximate", False)) if isinstance(info, dict) else False
        return grp.prediction

    def _acquire(self, picks: list[Pick], values: np.ndarray, t0: float, extra_seconds: float = 0.0) -> None:
        """Move labelled picks into their groups, update entropies, counters, history, checkpoint."""
        self.iteration += 1
        rows = []
        for pick, value in zip(picks, values):
            g, local = self._where.pop(pick.id)
            grp = self._groups[g]
            before = grp.estimate
            grp.acquire(local, float(value))
            grp.estimate = self._estimate(grp.values)  # only the changed group
            after = grp.estimate
            if self.patience is not None:
                if _increased(before, after):
                    grp.no_increase = 0
                else:
                    grp.no_increase += 1
                    if grp.no_increase >= self.patience:
                        grp.excluded = True
            self._selected.append(pick.id)
            self._values.append(float(value))
            rows.append(
                {
                    "iteration": self.iteration,
                    "group": g,
                    "id": pick.id,
                    "value": float(value),
                    "ei": pick.ei,
                    "expected_entropy": pick.expected_entropy,
                    "expected_entropy_std": pick.expected_entropy_std,
                    "entropy_before": before.entropy,
                    "entropy_after": after.entropy,
                    "entropy_gap": self._gap(),
                    "n_labelled": grp.n,
                    "status_after": after.status,
                    "excluded": grp.excluded,
                    "seconds": NAN,
                    "reason": pick.reason,
                    "strategy": self.strategy_name,
                }
            )
        seconds = (time.perf_counter() - t0 + extra_seconds) / max(len(rows), 1)
        for row in rows:
            row["seconds"] = seconds
        self._history_rows.extend(rows)
        self._record_entropies()
        self._update_stop()
        if self.checkpoint_dir is not None:
            self.save_checkpoint()

    def _gap(self) -> float:
        return entropy_gap(grp.estimate.entropy for grp in self._groups.values())

    def _record_entropies(self) -> None:
        self._entropy_rows.append(
            {"iteration": self.iteration, **{g: grp.estimate.entropy for g, grp in self._groups.items()}}
        )
        self._status_rows.append(
            {"iteration": self.iteration, **{g: grp.estimate.status for g, grp in self._groups.items()}}
        )

    def _update_stop(self) -> None:
        """Set :attr:`stop_reason` from the current state (None while the run may go on)."""
        self.stop_reason = self._stop_reason()

    def _stop_reason(self) -> str | None:
        eligible = self._eligible()
        if not eligible:
            if not any(grp.candidates.size for grp in self._groups.values()):
                return "pool exhausted"
            return f"all groups excluded (no entropy increase in {self.patience} consecutive acquisitions)"
        if self.fairness_stop and len(eligible) == 1:
            only = self._groups[eligible[0]].estimate
            finite = [grp.estimate.entropy for grp in self._groups.values() if grp.estimate.status == "ok"]
            if only.status == "ok" and only.entropy >= max(finite):
                return (
                    f"fairness: {eligible[0]!r} is the only eligible group and its entropy "
                    f"({only.entropy:.4f} nats) is already the highest"
                )
        if self.budget is not None and len(self._selected) >= self.budget:
            return f"budget reached ({self.budget} acquisitions)"
        return None

    def _progress_bar(self):
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        n_pool = sum(grp.candidates.size for grp in self._groups.values()) + len(self._selected)
        total = n_pool if self.budget is None else min(self.budget, n_pool)
        return tqdm(total=total, initial=len(self._selected), desc=f"etal run ({self.strategy_name})", unit="acq")

    # ----------------------------------------------------------------- checkpoints

    def _check_checkpoint_dir_free(self) -> None:
        state_file = self.checkpoint_dir / ckpt.STATE_FILE
        if state_file.exists():
            try:
                old = ckpt.read_state(self.checkpoint_dir)
            except CheckpointError:
                old = {}
            if not old.get("stop_reason"):
                raise CheckpointError(
                    f"{self.checkpoint_dir} holds an unfinished run; resume it (ETAL.resume / "
                    "'etal run --resume') or choose another checkpoint directory"
                )

    def _oracle_labels_input(self, oracle: LookupOracle) -> dict:
        """Save the LookupOracle's labels of the pool rows, so resume needs nothing else."""
        ids = [i for i in self._pool_input[self.id_col].tolist() if i in oracle]
        labels = pd.DataFrame({self.id_col: ids, self.target_col: oracle.lookup(ids) if ids else []})
        return ckpt.save_input(self.checkpoint_dir, "oracle_labels", labels)

    def _state_dict(self) -> tuple[dict, dict]:
        surrogates, payloads = {}, {}
        for index, (g, grp) in enumerate(self._groups.items()):
            if grp.surrogate is None:
                continue
            if grp.saved_fit_count != grp.fit_count or grp.saved_file is None:
                rel = f"{ckpt.SURROGATES_DIR}/{index:03d}-{grp.fit_count}.json"
                mu, sigma = grp.prediction if grp.prediction is not None else (None, None)
                payloads[rel] = {
                    "group": g,
                    "fitted_n": grp.fitted_n,
                    "fit_count": grp.fit_count,
                    "state": grp.surrogate.state_dict(),
                    # Saved so a resumed run does not depend on predict() after
                    # load_state_dict() reproducing the last bits.
                    "prediction_mean": None if mu is None else [float(v) for v in mu],
                    "prediction_std": None if sigma is None else [float(v) for v in sigma],
                    "prediction_approximate": bool(grp.approximate),
                }
                grp.saved_file, grp.saved_fit_count = rel, grp.fit_count
            surrogates[g] = {"file": grp.saved_file, "fitted_n": grp.fitted_n, "fit_count": grp.fit_count}
        from . import __version__

        state = {
            "etal_version": __version__,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": self.settings(),
            "inputs": self._inputs_meta,
            "groups": list(self._groups),
            "iteration": self.iteration,
            "n_acquired": len(self._selected),
            "selected": list(self._selected),
            "acquired_values": list(self._values),
            "history_rows": len(self._history_rows),
            "entropy_rows": len(self._entropy_rows),
            "last_entropies": self._entropy_rows[-1],
            "no_increase": {g: grp.no_increase for g, grp in self._groups.items()},
            "excluded": [g for g, grp in self._groups.items() if grp.excluded],
            "rng_state": self._rng.bit_generator.state,
            "surrogates": surrogates,
            "stop_reason": self.stop_reason,
        }
        return state, payloads

    def save_checkpoint(self) -> Path:
        """Write the checkpoint now (done automatically after every acquisition)."""
        if self.checkpoint_dir is None:
            raise InputError("no checkpoint_dir was given")
        # Journals first (append only what is new), then state.json, which says how many
        # journal lines belong to the run.
        done_h, done_e = self._journaled
        if done_h == 0 and done_e == 0:
            ckpt.reset_rows(self.checkpoint_dir, "history", [])
            ckpt.reset_rows(self.checkpoint_dir, "entropies", [])
        ckpt.append_rows(self.checkpoint_dir, "history", self._history_rows[done_h:])
        ckpt.append_rows(
            self.checkpoint_dir,
            "entropies",
            [{"entropy": e, "status": st} for e, st in zip(self._entropy_rows[done_e:], self._status_rows[done_e:])],
        )
        self._journaled = (len(self._history_rows), len(self._entropy_rows))
        state, payloads = self._state_dict()
        return ckpt.write_state(self.checkpoint_dir, state, payloads)

    def _check_same_inputs(self, labelled, pool) -> None:
        for name, frame, mine in (("labelled", labelled, self._labelled_input), ("pool", pool, self._pool_input)):
            if frame is None:
                continue
            ids = frame[self.id_col].tolist() if self.id_col in frame.columns else None
            if ids != mine[self.id_col].tolist():
                raise CheckpointError(
                    f"the {name} table given to run() does not match the one this run started "
                    "with (different ids); resume without tables or start a new run"
                )

    @classmethod
    def resume(
        cls,
        checkpoint_dir: str | os.PathLike,
        oracle: Any = None,
        *,
        strategy: Any = None,
        surrogate: Any = None,
        progress: bool = True,
    ) -> ETAL:
        """Rebuild a run from its checkpoint; ``.run()`` then continues it exactly.

        The oracle of a retrospective (LookupOracle) run is restored from the checkpoint;
        otherwise pass ``oracle``. ``strategy``/``surrogate`` are needed only when the run
        used custom objects. Raises :class:`CheckpointError` for a finished, changed or
        unreadable checkpoint.
        """
        root = ckpt.find_checkpoint(checkpoint_dir)
        state = ckpt.read_state(root)
        if state.get("stop_reason"):
            raise CheckpointError(
                f"the run in {root} has finished ({state['stop_reason']}; "
                f"{state.get('n_acquired', 0)} acquisitions); there is nothing to resume. "
                "Start a new run (e.g. with a larger budget) in another directory"
            )
        settings = dict(state["settings"])
        for key, given in (("strategy", strategy), ("surrogate", surrogate)):
            if given is not None:
                settings[key] = given
            elif settings[key] not in (("etal", "random", "balanced", "uncertainty") if key == "strategy" else ("gp",)):
                raise CheckpointError(
                    f"the run used a custom {key} ({settings[key]}); pass it to ETAL.resume({key}=...)"
                )
        try:
            loop = cls(**settings, checkpoint_dir=root, progress=progress)
        except InputError as exc:
            raise CheckpointError(f"the checkpoint's settings are invalid: {exc}") from exc
        inputs = state.get("inputs") or {}
        if "labelled" not in inputs or "pool" not in inputs:
            raise CheckpointError(f"the checkpoint in {root} lacks its input tables")
        labelled = ckpt.load_input(root, inputs["labelled"])
        pool = ckpt.load_input(root, inputs["pool"])
        loop._setup(labelled, pool)
        loop._inputs_meta = inputs
        if state["groups"] != list(loop._groups):
            raise CheckpointError("the checkpoint's groups do not match its input tables")
        # Replay the acquisitions in order (the labelled arrays then have the same order).
        selected, values = state["selected"], state["acquired_values"]
        history = ckpt.read_rows(root, "history", int(state["history_rows"]))
        journal = ckpt.read_rows(root, "entropies", int(state["entropy_rows"]))
        if len(selected) != len(values) or len(selected) != len(history) or not journal:
            raise CheckpointError("the checkpoint is inconsistent (selections, values and history differ)")
        for i, value in zip(selected, values):
            if i not in loop._where:
                raise CheckpointError(f"the checkpoint selects id {i!r}, which is not in its pool")
            g, local = loop._where.pop(i)
            loop._groups[g].acquire(local, float(value))
        for g, grp in loop._groups.items():
            grp.estimate = loop._estimate(grp.values)
            grp.no_increase = int(state["no_increase"].get(g, 0))
            grp.excluded = g in state["excluded"]
        last = journal[-1]["entropy"]
        if last != state["last_entropies"]:
            raise CheckpointError("the checkpoint's entropy journal does not match its state")
        for g, grp in loop._groups.items():
            saved = last.get(g)
            now = grp.estimate.entropy
            if not ((saved is None and math.isnan(now)) or (saved is not None and saved == now)):
                raise CheckpointError(
                    f"replaying the checkpoint gives entropy {now} for group {g!r}, but it recorded "
                    f"{saved}; the checkpoint does not match its inputs"
                )
        loop.iteration = int(state["iteration"])
        loop._selected = list(selected)
        loop._values = [float(v) for v in values]
        loop._history_rows = [_nan_floats(r) for r in history]
        loop._entropy_rows = [_nan_floats(r["entropy"]) for r in journal]
        loop._status_rows = [r["status"] for r in journal]
        # Cut journal lines written after the last state.json (a kill between the two).
        ckpt.reset_rows(root, "history", history)
        ckpt.reset_rows(root, "entropies", journal)
        loop._journaled = (len(history), len(journal))
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = state["rng_state"]
        loop._rng = rng
        for g, entry in state.get("surrogates", {}).items():
            payload = ckpt.read_surrogate(root, entry["file"])
            grp = loop._groups[g]
            grp.surrogate = loop._new_surrogate()
            grp.surrogate.load_state_dict(payload["state"])
            grp.fitted_n = int(payload["fitted_n"])
            grp.fit_count = grp.saved_fit_count = int(payload["fit_count"])
            grp.saved_file = entry["file"]
            if payload.get("prediction_mean") is not None:
                grp.prediction = (
                    np.asarray(payload["prediction_mean"], dtype=float),
                    np.asarray(payload["prediction_std"], dtype=float),
                )
                grp.approximate = bool(payload.get("prediction_approximate", False))
        if oracle is not None:
            loop._oracle = as_oracle(oracle)
        elif "oracle_labels" in inputs:
            labels = ckpt.load_input(root, inputs["oracle_labels"])
            loop._oracle = LookupOracle(labels, id_col=loop.id_col, target_col=loop.target_col)
        loop._update_stop()
        return loop


def _hashable(value):
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _nan_floats(row: dict) -> dict:
    """JSON null back to NaN for the numeric fields of a stored row."""
    return {k: (NAN if v is None and k not in ("reason", "group", "id", "strategy", "status_after") else v) for k, v in row.items()}


def _increased(before: EntropyEstimate, after: EntropyEstimate) -> bool:
    """Did an acquisition raise the group's entropy? (stop rule of method doc §4).

    A group still too small for an entropy counts as progressing (it is being filled
    up); a constant group progresses when it stops being constant.
    """
    if before.status == "too_few":
        return True
    if after.status != "ok":
        return False
    if before.status != "ok":
        return True
    return after.entropy > before.entropy
