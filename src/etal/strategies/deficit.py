"""The default strategy, ``etal-deficit``: the largest expected drop of the mean entropy deficit.

ET-AL as published always labels in the lowest-entropy group. This strategy instead
scores every candidate of every group whose entropy is defined by the expected mean
entropy deficit after its label, E[D'] (nats; :func:`etal.acquisition.expected_deficit_after`),
and the shared selector takes the lowest. Raising the lowest group is usually best, but
when its pool cannot move it (all its candidates sit where it already has values), a
candidate of a middle group that lowers D more wins. The moments of a group's entropy
after a candidate come from 16-node Gauss-Hermite quadrature over exact insertion
entropies (:func:`etal.acquisition.gauss_hermite_entropy`) with the candidate's value
drawn from the posterior of the latent function (no label noise: a target with outliers
gets a large fitted noise and the expected entropies then stop telling candidates apart).

The posterior comes from one GP over all groups' rows (group as one-hot features,
:class:`etal.surrogate.PooledGPSurrogate`): hyper-parameters fitted once on the first
pick, each new label added exactly by a rank-one update (matched to its pool row by id,
:meth:`StateView.labelled_ids`). Every group's entropy moments are recomputed on every
pick (the research prototype reused them while the posterior barely moved: 3.3 instead
of 4.9 ms per pick on OQMD-8, but a resumed run would then not repeat the uninterrupted
one exactly). Measured on OQMD-8 (``docs/benchmark.md``): ~4 ms per pick plus a one-off
~1 s fit, against ~20-30 ms per pick for ``etal``.

A group whose values are all equal counts in D with a very low entropy and is filled
first (:func:`~etal.strategies.common.undefined_scores`). A group with fewer than 5
values has no entropy and does not count in D; it is filled only when no group with an
entropy can take a label. (Filling it first, as the paper's rule does, lets a group of 4
rows with one pool candidate enter D at a very low entropy: on OQMD-8 volume split 9
that raised D from 0.64 to 0.82 with the first pick and cost half the run's gain.) Defaults: no patience
exclusion (the gain rule moves on by itself), fairness stop on (when only the
highest-entropy group is left, any label there can only raise D). Batches (k > 1) are
greedy through the shared selector: each pick's posterior mean is added to its group's
values as a fantasy and the entropies recomputed; the pooled GP is not conditioned on
fantasies. Checkpoints: :meth:`DeficitStrategy.state_dict` holds the GP's
hyper-parameters, so a resumed run rebuilds the same posterior without re-fitting.

Large problems: the pooled GP holds a labelled-rows x candidates matrix and solves over
all labelled rows. Above :data:`MAX_POOLED_CELLS` cells or :data:`MAX_POOLED_ROWS`
labelled rows (e.g. the 10^5..10^6-candidate pools of ``docs/performance.md``, or a
100,000-row campaign), a pick is scored as ``etal`` scores it (per-group GPs with their
huge-pool approximations, the lowest-entropy group, expected improvement) and the
history's ``reason`` says so. The decision depends only on the sizes, so a resumed run
makes the same one.
"""

from __future__ import annotations

import math

import numpy as np

from ..params import check_int
from .base import BatchView, Scores, StrategyBase
from .common import undefined_scores

__all__ = ["MAX_POOLED_CELLS", "MAX_POOLED_ROWS", "DeficitStrategy"]

#: Largest labelled-rows x candidates matrix the pooled GP may hold (2e7 cells = 160 MB).
MAX_POOLED_CELLS = 20_000_000
#: Most labelled rows the pooled GP conditions on (an exact GP over all of them).
MAX_POOLED_ROWS = 5_000


class _PooledView:
    """A :class:`~etal.surrogate.PooledGPSurrogate` kept in step with one loop's labels."""

    def __init__(self, state, saved: dict | None, hyper_rows: int) -> None:
        from ..surrogate import PooledGPSurrogate

        self.groups = tuple(state.groups)
        eye = np.eye(len(self.groups))
        X, y, P = [], [], []
        self.labelled: dict[str, list] = {}
        self.columns: dict[str, dict] = {}
        start = 0
        for j, g in enumerate(self.groups):
            f = np.asarray(state.features(g), dtype=float)
            X.append(np.hstack((f, np.tile(eye[j], (len(f), 1)))))
            y.append(np.asarray(state.values(g), dtype=float))
            self.labelled[g] = list(state.labelled_ids(g))
            cf = np.asarray(state.candidate_features(g), dtype=float)
            P.append(np.hstack((cf, np.tile(eye[j], (len(cf), 1)))))
            ids = state.candidate_ids(g)
            self.columns[g] = dict(zip(ids, range(start, start + len(ids))))
            start += len(ids)
        X, y, P = np.vstack(X), np.concatenate(y), np.vstack(P)
        self.model = PooledGPSurrogate(hyper_rows=hyper_rows)
        if saved is not None:  # a resumed run: the saved hyper-parameters, no re-optimisation
            self.model.load_state_dict(saved)
            self.model.refit_posterior(X, y)
        else:
            self.model.fit(X, y, X_pool=P)
        self.model.condition(P)

    def follows(self, state) -> bool:
        """Is ``state`` this view's loop, possibly with more labels (else: rebuild)?"""
        if tuple(state.groups) != self.groups:
            return False
        for g in self.groups:
            ids, known = state.labelled_ids(g), self.labelled[g]
            if ids[: len(known)] != known or any(i not in self.columns[g] for i in ids[len(known):]):
                return False
        return True

    def sync(self, state) -> None:
        """Condition on every label added since the last call (found by id)."""
        for g in self.groups:
            ids, known = state.labelled_ids(g), self.labelled[g]
            if len(ids) == len(known):
                continue
            values = state.values(g)
            for r in range(len(known), len(ids)):
                self.model.add(self.columns[g].pop(ids[r]), float(values[r]))
                known.append(ids[r])

    def predict(self, state, group: str) -> tuple[np.ndarray, np.ndarray]:
        """Latent posterior (mean, std) of the group's current candidates (target units)."""
        cols = self.columns[group]
        c = np.fromiter((cols[i] for i in state.candidate_ids(group)), dtype=np.int64)
        return self.model.predict_columns(c, include_noise=False)


class DeficitStrategy(StrategyBase):
    """Lowest expected mean entropy deficit after the label, over all groups, on a pooled GP.

    ``nodes``: Gauss-Hermite nodes of the entropy moments; ``hyper_rows``: labelled rows
    the pooled GP's hyper-parameters are fitted on. Defaults: patience off, fairness stop on.
    """

    name = "etal-deficit"
    uses_surrogate = True
    deterministic = True  # argmax of a Gauss-Hermite (not Monte Carlo) expectation
    relative_cost = 2
    patience = None
    fairness_stop = True

    def __init__(self, nodes: int = 16, hyper_rows: int = 500, **stop_rules) -> None:
        super().__init__(**stop_rules)
        self.nodes = check_int("nodes", nodes, low=2)
        self.hyper_rows = check_int("hyper_rows", hyper_rows, low=2)
        self._view: _PooledView | None = None
        self._saved: dict | None = None
        self._fallback = None  # an ETALStrategy, made on the first pick too large for the pooled GP

    def get_params(self) -> dict:
        return {"nodes": self.nodes, "hyper_rows": self.hyper_rows, **super().get_params()}

    # ------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict:
        """The pooled GP's hyper-parameters (JSON-able; empty before the first pick)."""
        view = self._view
        return {} if view is None else {"surrogate": view.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Use saved hyper-parameters when the pooled GP is next built (resume)."""
        self._saved = (state or {}).get("surrogate")
        self._view = None

    # ------------------------------------------------------------------ scoring

    def _pooled(self, state) -> _PooledView:
        if self._view is None or not self._view.follows(state):
            self._view = _PooledView(state, self._saved, self.hyper_rows)
            self._saved = None
        self._view.sync(state)
        return self._view

    def score(self, batch: BatchView, rng: np.random.Generator) -> Scores | None:
        from ..acquisition import expected_deficit_after, gauss_hermite_entropy

        eligible = batch.eligible()
        if not eligible:
            return None
        status = {g: batch.estimate(g).status for g in eligible}
        constant = [g for g in eligible if status[g] == "constant"]
        defined = [g for g in eligible if status[g] == "ok"]
        if constant or not defined:
            # A constant group counts in D with a very low entropy: fill it first. Groups
            # with too few values do not count in D; they are filled only when no group
            # with an entropy can take a label (smallest first, as the other strategies).
            pool = constant or eligible
            return undefined_scores(batch, min(pool, key=batch.n_labelled), rng)
        state = batch.state
        n_labelled = sum(state.n_labelled(g) for g in state.groups)
        n_candidates = sum(state.n_candidates(g) for g in state.groups)
        if n_labelled > MAX_POOLED_ROWS or n_labelled * n_candidates > MAX_POOLED_CELLS:
            return self._scored_as_etal(batch, rng, n_labelled, n_candidates)
        view = self._pooled(state)
        h = {g: batch.estimate(g).entropy for g in state.groups}
        best = None
        for g in defined:
            available = batch.available(g)
            mu, sd = view.predict(state, g)
            m_h, s_h = gauss_hermite_entropy(np.asarray(batch.values(g), dtype=float), mu, sd, self.nodes)
            others = [v for o, v in h.items() if o != g and v is not None and math.isfinite(v)]
            expected = expected_deficit_after(others, m_h[available], s_h[available])
            j = int(np.argmin(expected))
            if best is None or expected[j] < best[0]:  # equal: the earlier group
                best = (float(expected[j]), g, available, expected, mu, m_h, s_h)
        _, g, available, expected, mu, m_h, s_h = best
        from ..bias.scores import entropy_deficit

        now = entropy_deficit(h)

        def explain(j: int, refined: str) -> str:
            return (
                f"largest expected drop of the mean entropy deficit: {g!r} (h={h[g]:.4f} nats), "
                f"E[D'] = {expected[j]:.4f} nats (D now {now:.4f})"
            )

        return Scores(
            g, available, -expected, explain, fantasy=mu[available],
            expected_entropy=m_h[available], expected_entropy_std=s_h[available],
        )

    def _scored_as_etal(self, batch: BatchView, rng: np.random.Generator, n_labelled: int, n_candidates: int):
        """Too large for the pooled GP: score this pick as ``etal`` does (see the module doc)."""
        from .etal import ETALStrategy

        if self._fallback is None:
            self._fallback = ETALStrategy()
        scores = self._fallback.score(batch, rng)
        if scores is None:
            return None
        note = (
            f" [scored as etal: {n_labelled:,} labelled x {n_candidates:,} candidates is beyond the pooled GP "
            f"({MAX_POOLED_ROWS:,} rows, {MAX_POOLED_CELLS:,} cells)]"
        )
        explain = scores.explain
        scores.explain = (lambda j, refined, _e=explain: _e(j, refined) + note) if callable(explain) else explain
        return scores
