"""The ET-AL engine: select, label, update, stop (checkpoints: :mod:`.checkpoint`).

:class:`ETAL` owns the run: labelled values and pool candidates per group (the pool never
carries labels inside the loop), the current entropy of every group, one warm-started
surrogate per group, the stop-rule counters and one :class:`numpy.random.Generator`.
What to pick is delegated to a strategy (:mod:`etal.strategies`); where labels come from
to an oracle (:mod:`etal.oracles`); persistence to :mod:`etal.engine.checkpoint`; the
stop rules to :mod:`etal.engine.stopping`; progress display to the caller
(``progress=``, see :mod:`etal.engine.progress`).

Two ways to drive it::

    loop = ETAL(group_col="crystal_system", target_col="formation_energy_per_atom",
                feature_cols=features, budget=100)
    result = loop.run(labelled, pool, oracle)          # oracle(rows) -> values

    loop.start(labelled, pool)                          # ask / tell
    ids = loop.suggest(k=1); loop.tell(ids, values_from_dft)

Every group's entropy is estimated with its own resolution, or, for a group whose values
are all equal, with the dataset-wide one (:func:`etal.bias.scores.dataset_resolution` of
the labelled targets at start): such a group gets a finite, very low entropy and counts
in the entropy gap. Entropies are in nats.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd

from ..acquisition import ESTIMATORS
from ..bias.scores import dataset_resolution, entropy_gap
from ..entropy import EntropyEstimate, TiePolicy, estimate_entropy, resolve_method
from ..errors import InputError
from ..oracles import LookupOracle, as_oracle, check_oracle_values
from ..params import check_bool, check_choice, check_int
from ..strategies import DEFAULT_STRATEGY, make_strategy
from ..strategies.base import Pick, group_resolution
from . import checkpoint as ckpt
from . import inputs, stopping
from .progress import ProgressEvent, progress_display
from .result import HISTORY_COLUMNS, RunResult, history_frame
from .state import GroupState, LoopState

__all__ = ["ETAL", "HISTORY_COLUMNS", "LoopState", "RunResult"]

NAN = float("nan")
#: The budget of ``etal run`` and of experiment runs when none is given (``ETAL`` itself
#: runs until a stop rule without one).
DEFAULT_BUDGET = 100
#: ``patience=OFF`` turns the exclusion rule off (``None`` means "the strategy's default").
OFF = "off"


class ETAL:
    """Entropy-targeted active learning (Zhang et al. 2023) with checkpoints.

    Parameters
    ----------
    group_col, target_col, feature_cols, id_col : columns of the labelled / pool frames.
    strategy : a name of :data:`etal.strategies.STRATEGIES` (default
        :data:`etal.strategies.DEFAULT_STRATEGY`, ``"etal-deficit"``), a
        strategy object (e.g. ``make_strategy("uncertainty", refine_top=5)``) or any
        object with ``select(state, k, rng)``.
    surrogate : ``"gp"`` or a surrogate object (copied per group); ``surrogate_options``
        are passed to :func:`etal.surrogate.make_surrogate`.
    estimator, n_samples : expected-entropy estimator (``"quadrature"`` or Monte Carlo
        ``"mc"`` with ``n_samples`` draws, as in the paper).
    method, ties : entropy estimator and tie policy (:func:`etal.entropy.estimate_entropy`).
    batch_size : rows acquired per iteration (greedy with fantasies when > 1; 1 = paper).
    patience : exclude a group after this many consecutive acquisitions in it without an
        entropy increase; ``"off"`` disables exclusion; ``None`` (default): the
        strategy's own (5 for ``"etal"``/``"etal-paper"``, off for ``"etal-deficit"`` and the baselines).
    budget : maximum number of acquisitions (``None``: until another stop rule).
    fairness_stop : stop when the only eligible group's entropy is already the highest;
        ``None`` (default): the strategy's own (on for the ET-AL strategies, off for the baselines).
    seed : seeds the loop's one random generator (``None``: fresh entropy, recorded).
    checkpoint_dir : write a checkpoint there after every acquisition (resume with
        :meth:`resume`).
    progress : ``True``: a tqdm bar in :meth:`run`; ``False``: none; or a callable taking
        a :class:`etal.engine.progress.ProgressEvent` (the caller's own display).
    """

    def __init__(
        self,
        *,
        group_col: str,
        target_col: str,
        feature_cols,
        id_col: str = "id",
        strategy: Any = DEFAULT_STRATEGY,
        surrogate: Any = "gp",
        estimator: str = "quadrature",
        n_samples: int = 1000,
        method: str = "auto",
        batch_size: int = 1,
        patience: int | str | None = None,
        budget: int | None = None,
        ties: str = "floor",
        seed: int | None = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: Any = True,
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
        self.estimator = check_choice("estimator", estimator, ESTIMATORS)
        self.n_samples = check_int("n_samples", n_samples, low=1)
        resolve_method(method, 100)  # validates the name
        self.method = method
        self.ties = check_choice("ties", ties, get_args(TiePolicy))
        self.batch_size = check_int("batch_size", batch_size, low=1)
        # None = the strategy's default (its class property); explicit values override.
        if patience is None:
            self.patience = getattr(self.strategy, "patience", None)
        elif isinstance(patience, str) and patience.strip().lower() == OFF:
            self.patience = None
        else:
            self.patience = check_int("patience", patience, low=1)
        if fairness_stop is None:
            self.fairness_stop = bool(getattr(self.strategy, "fairness_stop", False))
        else:
            self.fairness_stop = check_bool("fairness_stop", fairness_stop)
        self.budget = check_int("budget", budget, low=0, allow_none=True)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = check_int("seed", seed, low=0)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        if not (isinstance(progress, bool) or callable(progress)):
            raise InputError(f"progress must be True, False or a callable, got {progress!r}")
        self.progress = progress

        self._dataset = None
        self._started = False
        self._groups: dict[str, GroupState] = {}
        self._resolution = NAN  # dataset-wide resolution of the labelled targets at start
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
            "strategy_params": _params(self.strategy),
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

    def _features_of(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.feature_cols:
            return np.empty((len(frame), 0))
        return frame[self.feature_cols].apply(pd.to_numeric).to_numpy(dtype=float)

    def _setup(self, labelled, pool: pd.DataFrame | None = None, *, trusted: bool = False) -> None:
        """Validate the inputs (unless ``trusted``) and build the per-group state (no checkpoint written).

        ``labelled`` may be a validated :class:`etal.data.Dataset` (then ``pool`` is None).
        """
        if getattr(self.strategy, "uses_surrogate", False) and not self.feature_cols:
            raise InputError(f"strategy {self.strategy_name!r} needs feature_cols for its surrogate model")
        if pool is None and inputs.is_dataset(labelled):
            labelled, pool = inputs.dataset_tables(self, labelled)
        elif not trusted:
            labelled, pool = inputs.validated(self, labelled, pool)
        pool = pool.drop(columns=[self.target_col], errors="ignore")
        labelled = labelled.copy()
        pool = pool.copy()
        labelled[self.group_col] = labelled[self.group_col].astype(str)
        pool[self.group_col] = pool[self.group_col].astype(str)
        lab_ids, pool_ids = labelled[self.id_col].tolist(), pool[self.id_col].tolist()
        self._labelled_input, self._pool_input = labelled, pool
        self._pool_position = {i: p for p, i in enumerate(pool_ids)}

        lab_groups = labelled[self.group_col].to_numpy()
        pool_groups = pool[self.group_col].to_numpy()
        values = labelled[self.target_col].astype(float).to_numpy()
        self._resolution = dataset_resolution(values)
        x_lab, x_pool = self._features_of(labelled), self._features_of(pool)
        names = sorted(set(lab_groups.tolist()) | set(pool_groups.tolist()))
        self._groups = {}
        self._where = {}
        for g in names:
            li = np.flatnonzero(lab_groups == g)
            pi = np.flatnonzero(pool_groups == g)
            grp = GroupState(
                g, values[li], x_lab[li], [lab_ids[i] for i in li], [pool_ids[i] for i in pi], x_pool[pi], pi
            )
            grp.estimate = self._estimate(grp.values)
            self._groups[g] = grp
            for local, i in enumerate(pi):
                self._where[pool_ids[i]] = (g, local)
        self._started = True

    def _estimate(self, values: np.ndarray) -> EntropyEstimate:
        resolution = group_resolution(values, self._resolution)
        return estimate_entropy(values, method=self.method, ties=self.ties, resolution=resolution)

    # ----------------------------------------------------------------- public API

    @property
    def state(self) -> LoopState:
        """A read-only :class:`LoopState` view (what strategies see)."""
        self._require_started()
        return LoopState(self)

    @property
    def groups(self) -> list[str]:
        return list(self._groups)

    def start(self, labelled, pool: pd.DataFrame | None = None) -> ETAL:
        """Load the labelled rows and the pool; write the first checkpoint.

        Either a validated :class:`etal.data.Dataset` (``start(dataset)``: its labelled
        rows and pool, trusted as validated) or two frames ``(labelled, pool)``, validated
        once through :func:`etal.data.from_frame`.
        """
        if self._started:
            raise InputError("this ETAL run has already started; make a new ETAL for another run")
        if pool is None and not inputs.is_dataset(labelled):
            raise InputError("start() needs a Dataset, or the labelled and pool tables")
        if self.checkpoint_dir is not None:
            ckpt.check_directory_free(self.checkpoint_dir)
        self._setup(labelled, pool)
        self._record_entropies()
        self._update_stop()
        if self.checkpoint_dir is not None:
            self._inputs_meta = {
                "labelled": ckpt.save_input(self.checkpoint_dir, "labelled", self._labelled_input),
                "pool": ckpt.save_input(self.checkpoint_dir, "pool", self._pool_input),
            }
            if isinstance(self._oracle, LookupOracle):  # set by run() before start()
                self._inputs_meta["oracle_labels"] = ckpt.oracle_labels_input(self, self._oracle)
            self.save_checkpoint()
        return self

    def suggest(self, k: int | None = None) -> list:
        """Ids of the next ``k`` pool rows to label (default ``batch_size``); [] once stopped.

        ``k > 1`` is greedy batch selection with posterior-mean fantasies. Label them and
        pass the values to :meth:`tell`.
        """
        self._require_started()
        k = self.batch_size if k is None else check_int("k", k, low=1)
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
        labelled=None,
        pool: pd.DataFrame | None = None,
        oracle: Any = None,
        budget: int | None = None,
        progress: Any = None,
    ) -> RunResult:
        """Run until a stop rule fires; label picks with ``oracle(rows) -> values``.

        ``labelled`` may be a validated :class:`etal.data.Dataset` (then leave ``pool``
        out). ``budget`` (acquisitions) overrides the constructor's; so does ``progress``
        (``True``/``False`` or a callable taking a :class:`ProgressEvent`). On a resumed
        run (:meth:`resume`) leave ``labelled``/``pool`` out, or pass the same tables.
        """
        if budget is not None:
            self.budget = check_int("budget", budget, low=0)
        if oracle is not None:
            previous = self._oracle
            self._oracle = as_oracle(oracle)
            if self._started and self.checkpoint_dir is not None and isinstance(self._oracle, LookupOracle) \
                    and self._oracle is not previous:
                self._inputs_meta["oracle_labels"] = ckpt.oracle_labels_input(self, self._oracle)
                self.save_checkpoint()
        is_dataset = pool is None and inputs.is_dataset(labelled)
        if not self._started and is_dataset:
            self.start(labelled)
        elif not self._started:
            if labelled is None or pool is None:
                if self._dataset is None:
                    raise InputError("run() needs the labelled and pool tables (or use ETAL.from_dataset)")
                labelled = self._dataset.labelled if labelled is None else labelled
                pool = self._dataset.pool if pool is None else pool
            self.start(labelled, pool)
        elif is_dataset:
            ckpt.check_same_inputs(self, *inputs.dataset_tables(self, labelled))
        elif labelled is not None or pool is not None:
            ckpt.check_same_inputs(self, labelled, pool)
        self._update_stop()
        if self.stop_reason is None and self._oracle is None:
            raise InputError(
                "run() needs an oracle (a callable rows -> values, e.g. LookupOracle(labels)); "
                "without one, use suggest() and tell()"
            )
        report = progress_display(self.progress if progress is None else progress, f"etal ({self.strategy_name})")
        total = self._progress_total()
        if report is not None:
            report(ProgressEvent(len(self._selected), total))
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
                if report is not None:
                    last = self._history_rows[-1]
                    report(ProgressEvent(len(self._selected), total, last["group"], last["entropy_gap"]))
        finally:
            if report is not None:
                report(ProgressEvent(len(self._selected), total, finished=True))
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
        return history_frame(self._history_rows)

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
        return stopping.eligible(self._groups)

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
            from ..surrogate import make_surrogate

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
                if stopping.increased(before, after):
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
        self.stop_reason = stopping.stop_reason(
            self._groups, patience=self.patience, fairness_stop=self.fairness_stop, budget=self.budget,
            n_acquired=len(self._selected),
        )

    def _progress_total(self) -> int:
        n_pool = sum(grp.candidates.size for grp in self._groups.values()) + len(self._selected)
        return n_pool if self.budget is None else min(self.budget, n_pool)

    # ----------------------------------------------------------------- checkpoints

    def save_checkpoint(self) -> Path:
        """Write the checkpoint now (done automatically after every acquisition)."""
        if self.checkpoint_dir is None:
            raise InputError("no checkpoint_dir was given")
        return ckpt.save_loop(self)

    @classmethod
    def resume(
        cls,
        checkpoint_dir: str | os.PathLike,
        oracle: Any = None,
        *,
        strategy: Any = None,
        surrogate: Any = None,
        progress: Any = True,
    ) -> ETAL:
        """Rebuild a run from its checkpoint; ``.run()`` then continues it exactly.

        The oracle of a retrospective (LookupOracle) run is restored from the checkpoint;
        otherwise pass ``oracle``. ``strategy``/``surrogate`` are needed only when the run
        used custom objects. Raises :class:`CheckpointError` for a finished, changed or
        unreadable checkpoint.
        """
        return ckpt.resume_loop(cls, checkpoint_dir, oracle, strategy=strategy, surrogate=surrogate, progress=progress)


def _params(strategy) -> dict | None:
    get = getattr(strategy, "get_params", None)
    return dict(get()) if callable(get) else None


def _hashable(value):
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)
