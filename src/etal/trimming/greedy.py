"""The trimming algorithm: greedy removal of the most redundant rows, in exact batches.

Pure NumPy (plus SciPy's k-d tree for the optional coverage term); rows are positions
0..n-1 of the arrays passed in, groups are integer codes 0..G-1.

Objective at a fixed size (nats): lowest mean entropy deficit D = max_g h_g - mean_g h_g
(:func:`etal.bias.scores.entropy_deficit`), then highest lowest entropy, over the groups
with an estimate, subject to: each group's smallest and largest value stay (its range of
the target), rows marked ``protected`` stay, and no group falls below its minimum count
(never below 5, the fewest values an entropy estimate needs, so no group can leave the
score by being trimmed). An optional coverage term adds, for removing row j,

    coverage_weight * (d_j / d_ref) / n_g   nats,

where d_j is the distance from j to its nearest *kept* row in standardised feature space,
d_ref the median of those distances over all rows at the start and n_g the current size
of j's group (one removal moves h_g by O(1/n_g) nats, so weight 1 puts the two terms on
the same footing): isolated rows, which the downstream model needs, become expensive.

Greedy step: for every group the exact entropy after deleting each of its removable
rows (:func:`etal.trimming.objective.deletion_entropies`, O(n_g)) gives the D that removal
would leave; the group offering the cheapest removal is trimmed. Instead of one row, a
*batch* is taken from that group: its cheapest rows at least ceil(SEPARATION * m) sorted
positions apart (m the window), so that their windows overlap little and their effects
nearly add up; cheapest first, while the predicted D of the next pick stays within
TOLERANCE nats of the best alternative group's option, and never across a size at which
the window m or the estimator changes (``"auto"`` switches estimator at 10 and 1000
values). Exact check: the group's entropy without the batch is recomputed from scratch,
and the batch is accepted only if the D it leaves is no worse (within TOLERANCE) than one
plain greedy step would leave; otherwise it is halved until it is (one row always is).
After every batch the group's entropy and all its deletion entropies are recomputed
exactly, so the reported entropies are never predictions. ``batch=False`` removes one
row per step (the plain greedy; the tests compare the two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..bias.scores import entropy_deficit, lowest_entropy
from ..entropy import MIN_SAMPLES, data_resolution
from ..errors import InputError
from .objective import deficit_after, deletion_entropies, estimator_at, group_entropy

__all__ = ["GreedyPlan", "capacity", "greedy_trim"]

_INF = float("inf")
#: Batch picks are at least SEPARATION * m sorted positions apart (m the window).
SEPARATION = 0.5
#: A batch goes on while its next pick's predicted D exceeds the best alternative by at most this (nats).
TOLERANCE = 1e-4


@dataclass
class GreedyPlan:
    """What :func:`greedy_trim` decided, row by row and step by step.

    ``step`` is 0 for kept rows and the 1-based step (batch) at which a removed row left;
    ``order`` is the 0-based removal rank (-1 when kept); ``entropy_change`` the change of
    its group's entropy (nats) had it been removed alone at that point (NaN when kept).
    ``history`` has one dict per step: ``step, group, removed, n_group, entropy_group``
    (exact, after the step), ``deficit`` (D after the step) and ``lowest``.
    ``entropy_before`` / ``entropy_after`` are per group (NaN: no estimate).
    """

    step: np.ndarray
    order: np.ndarray
    entropy_change: np.ndarray
    history: list[dict] = field(default_factory=list)
    entropy_before: np.ndarray = field(default_factory=lambda: np.empty(0))
    entropy_after: np.ndarray = field(default_factory=lambda: np.empty(0))
    resolution: np.ndarray = field(default_factory=lambda: np.empty(0))


def _floors(codes: np.ndarray, n_groups: int, min_counts: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.bincount(codes, minlength=n_groups)
    floor = np.full(n_groups, MIN_SAMPLES, dtype=np.int64)
    if min_counts is not None:
        floor = np.maximum(floor, np.asarray(min_counts, dtype=np.int64))
    return sizes, np.minimum(floor, sizes)


def capacity(codes: np.ndarray, n_groups: int, protected: np.ndarray, min_counts: np.ndarray | None = None) -> np.ndarray:
    """Most rows removable from each group: above its floor, never its min/max or protected rows.

    The floor is max(5, ``min_counts[g]``) capped at the group's size. Protected rows and
    the group's two extreme rows count as kept.
    """
    sizes, floor = _floors(codes, n_groups, min_counts)
    locked = np.bincount(codes, weights=protected.astype(float), minlength=n_groups).astype(np.int64)
    locked = np.minimum(locked + np.minimum(sizes, 2), sizes)  # + min and max (upper bound)
    return np.maximum(0, sizes - np.maximum(floor, locked))


class _Coverage:
    """Distance of every row to its nearest kept row (standardised features), kept up to date.

    Each row holds its K nearest neighbours (one k-d tree query at the start) and a
    pointer to the first one still kept. A row whose K neighbours have all gone uses the
    K-th distance (a lower bound of the true one) until enough such rows pile up
    (5 % of the kept rows); then they are re-queried on a tree of the kept rows.
    """

    _K = 8  # neighbours held per row
    _STALE = 0.05  # re-query once this share of the kept rows has lost all K neighbours

    def __init__(self, features: np.ndarray) -> None:
        x = np.asarray(features, dtype=float)
        sd = x.std(axis=0)
        keep = sd > 0
        self.z = np.ascontiguousarray((x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]) if keep.any() \
            else np.zeros((x.shape[0], 1))
        n = x.shape[0]
        self.alive = np.ones(n, dtype=bool)
        self.stale = np.zeros(n, dtype=bool)
        self.nn_idx = np.zeros((n, 0), dtype=np.int64)
        self.nn_dist = np.zeros((n, 0))
        self.ptr = np.zeros(n, dtype=np.int64)
        self._query(np.arange(n))
        d0 = self.nn_dist[:, 0] if self.nn_dist.shape[1] else np.zeros(n)
        positive = d0[d0 > 0]
        self.d_ref = float(np.median(positive)) if positive.size else 1.0
        self._update_d()

    def _query(self, rows: np.ndarray) -> None:
        """(Re)load the K nearest kept neighbours of ``rows`` (themselves excluded)."""
        from scipy.spatial import cKDTree

        kept = np.flatnonzero(self.alive)
        k = min(self._K, kept.size - 1)
        if self.nn_idx.shape[1] != self._K:
            self.nn_idx = np.zeros((self.alive.size, self._K), dtype=np.int64)
            self.nn_dist = np.full((self.alive.size, self._K), _INF)
        if k < 1:
            self.nn_dist[rows] = _INF
            self.ptr[rows] = 0
            return
        dist, idx = cKDTree(self.z[kept]).query(self.z[rows], k=k + 1, workers=-1)
        idx = kept[idx]
        # drop the row itself (normally column 0; with duplicates it may be elsewhere)
        order = np.argsort(idx == rows[:, None], axis=1, kind="stable")[:, :k]
        self.nn_idx[rows] = rows[:, None]
        self.nn_dist[rows] = _INF
        self.nn_idx[rows, :k] = np.take_along_axis(idx, order, 1)
        self.nn_dist[rows, :k] = np.take_along_axis(dist, order, 1)
        self.ptr[rows] = 0
        self.stale[rows] = False

    def _update_d(self, rows: np.ndarray | None = None) -> None:
        if rows is None:
            self.d = self.nn_dist[np.arange(self.alive.size), self.ptr] / self.d_ref
        else:
            self.d[rows] = self.nn_dist[rows, self.ptr[rows]] / self.d_ref

    def remove(self, rows: np.ndarray) -> None:
        self.alive[rows] = False
        k = self.nn_idx.shape[1]
        kept = np.flatnonzero(self.alive)
        todo = kept[~self.stale[kept]]
        todo = todo[~self.alive[self.nn_idx[todo, self.ptr[todo]]]]
        changed = todo
        while todo.size:
            self.ptr[todo] += 1
            out = self.ptr[todo] >= k
            if out.any():
                self.ptr[todo[out]] = k - 1  # K-th distance: a lower bound until re-queried
                self.stale[todo[out]] = True
                todo = todo[~out]
            todo = todo[~self.alive[self.nn_idx[todo, self.ptr[todo]]]]
        stale = kept[self.stale[kept]]
        if stale.size > max(32, self._STALE * kept.size):
            self._query(stale)
            changed = np.union1d(changed, stale)
        self._update_d(changed)


class _Group:
    """One group's sorted values and the cached exact entropies of its deletions."""

    def __init__(self, code, rows, values, protected, floor, method, resolution):
        order = np.lexsort((rows, values[rows]))
        self.code = code
        self.rows = rows[order]
        self.x = values[self.rows]
        self.locked = protected[self.rows].copy()
        if self.x.size:
            self.locked[0] = self.locked[-1] = True  # keep the group's range of the target
        self.floor = int(floor)
        self.method = method
        self.res = resolution
        self.h = group_entropy(self.x, method, resolution)
        self.cand: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.x.size)

    def removable(self) -> bool:
        return self.n > self.floor and self.n - 1 >= MIN_SAMPLES and not self.locked.all()

    def refresh(self) -> np.ndarray:
        if self.cand is None:
            cand = deletion_entropies(self.x, self.method, self.res)
            cand[self.locked] = np.nan
            self.cand = cand
            # the removal that leaves the highest entropy: the best one whenever the
            # group stays at or below the others' maximum (D falls as h_g rises there)
            self.top = int(np.nanargmax(cand)) if not self.locked.all() else -1
        return self.cand

    def same_estimator_run(self) -> int:
        """How many deletions keep the estimator and window of the first one."""
        top = self.n - 1
        first = estimator_at(self.method, top)
        m = first[1]
        # m(N) = floor(sqrt(N) + 0.5) = m exactly for m^2 - m + 1 <= N <= m^2 + m;
        # "auto" also changes estimator below 1001 and 11 values.
        low = max(m * m - m + 1, MIN_SAMPLES)
        for edge in (1001, 11):
            if top >= edge:
                low = max(low, edge)
                break
        while estimator_at(self.method, low) != first:  # pragma: no cover - safety net
            low += 1
        return top - low + 1

    def entropy_without(self, positions: np.ndarray) -> float:
        return group_entropy(np.delete(self.x, positions), self.method, self.res)

    def delete(self, positions: np.ndarray, h_new: float | None = None) -> None:
        keep = np.ones(self.n, dtype=bool)
        keep[positions] = False
        self.x, self.rows, self.locked = self.x[keep], self.rows[keep], self.locked[keep]
        self.h = group_entropy(self.x, self.method, self.res) if h_new is None else h_new
        self.cand = None


def _contexts(groups: list[_Group]) -> list[tuple[float, float, float, int]]:
    """Per group: max, sum and min of the *other* groups' entropies, and the number of
    groups in D (those with an estimate). O(G) for all groups, from the two largest and
    two smallest entropies."""
    h = np.array([grp.h for grp in groups])
    ok = np.isfinite(h)
    n_in = int(ok.sum())
    total = float(h[ok].sum())
    order = np.argsort(np.where(ok, h, np.inf), kind="stable")[:n_in]  # finite, ascending
    low2, high2 = order[:2].tolist(), order[::-1][:2].tolist()
    out = []
    for g in range(len(groups)):
        if n_in - int(ok[g]) == 0:  # no other group has an estimate
            out.append((-_INF, 0.0, _INF, n_in))
            continue
        lowest = low2[0] if low2[0] != g else low2[1]
        highest = high2[0] if high2[0] != g else high2[1]
        out.append((float(h[highest]), total - (h[g] if ok[g] else 0.0), float(h[lowest]), n_in))
    return out


def _costs(grp: _Group, ctx, coverage: _Coverage | None, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(D after removing each row of the group [+ coverage], lowest entropy after); inf when locked."""
    omax, osum, omin, n_in = ctx
    cand = grp.refresh()
    d = deficit_after(cand, omax, osum, n_in)
    if coverage is not None and weight > 0:
        d = d + weight * coverage.d[grp.rows] / grp.n
    lowest = np.minimum(omin, cand)
    bad = ~np.isfinite(d)
    d[bad] = _INF
    lowest[bad] = -_INF
    return d, lowest


def _quick_best(grp: _Group, ctx, coverage: _Coverage | None, weight: float):
    """(D, lowest) of the group's best removal without scanning it, or None if a scan is needed.

    Without the coverage term, D after a removal falls as the group's new entropy v
    rises while v <= the others' maximum, so the highest v is the best removal there.
    """
    if coverage is not None and weight > 0:
        return None
    omax, osum, omin, n_in = ctx
    grp.refresh()
    v = grp.cand[grp.top]
    if v > omax and n_in >= 2:
        return None
    return float(deficit_after(v, omax, osum, n_in)), float(min(omin, v))


def _best(d: np.ndarray, lowest: np.ndarray) -> tuple[float, float, int]:
    """Cheapest position: lowest D, then highest lowest entropy."""
    i = int(np.argmin(d))
    ties = np.flatnonzero(d == d[i])
    if ties.size > 1:
        i = int(ties[np.argmax(lowest[ties])])
    return float(d[i]), float(lowest[i]), i


def _spread_picks(cost: np.ndarray, separation: int, offset: int) -> np.ndarray:
    """Cheapest position of each block of ``separation`` positions, pairwise >= separation apart."""
    n = cost.size
    start = -(offset % separation)
    pad_front = -start
    n_blocks = -(-(n + pad_front) // separation)
    padded = np.full(n_blocks * separation, _INF)
    padded[pad_front:pad_front + n] = cost
    blocks = padded.reshape(n_blocks, separation)
    arg = np.argmin(blocks, axis=1)
    best = blocks[np.arange(n_blocks), arg]
    pos = np.arange(n_blocks) * separation + arg - pad_front
    ok = np.isfinite(best)
    pos, best = pos[ok], best[ok]
    if pos.size > 1:
        # only neighbouring blocks can be too close; drop the dearer pick of each such pair
        close = np.diff(pos) < separation
        drop = np.zeros(pos.size, dtype=bool)
        worse_right = best[1:] > best[:-1]
        drop[1:] |= close & worse_right
        drop[:-1] |= close & ~worse_right
        pos = pos[~drop]
    return pos


def greedy_trim(
    values: np.ndarray,
    codes: np.ndarray,
    n_keep: int,
    *,
    n_groups: int | None = None,
    protected: np.ndarray | None = None,
    min_counts: np.ndarray | None = None,
    features: np.ndarray | None = None,
    coverage_weight: float = 0.0,
    method: str = "auto",
    batch: bool = True,
    progress: bool = False,
) -> GreedyPlan:
    """Choose which rows to remove so that ``n_keep`` rows remain (see the module docstring).

    Parameters
    ----------
    values : target values (float, finite), one per row.
    codes : group code 0..G-1 per row.
    n_keep : rows to keep.
    protected : rows that must stay (bool per row).
    min_counts : per-group minimum counts (array of G; the floor is never below 5).
    features : (n, d) features for the coverage term (needed when ``coverage_weight`` > 0).
    coverage_weight : weight of the coverage term (0 = off; see the module docstring).
    method : entropy estimator, one of :data:`etal.trimming.objective.TRIM_METHODS`.
    batch : remove well-separated batches (fast) instead of one row per step.
    progress : show a tqdm bar.
    """
    values = np.asarray(values, dtype=float)
    codes = np.asarray(codes, dtype=np.int64)
    n = values.size
    n_groups = int(codes.max()) + 1 if n_groups is None else int(n_groups)
    protected = np.zeros(n, dtype=bool) if protected is None else np.asarray(protected, dtype=bool)
    estimator_at(method, 100)  # an unsupported estimator fails before any work
    to_remove = n - int(n_keep)
    room = int(capacity(codes, n_groups, protected, min_counts).sum())
    if to_remove < 0 or to_remove > room:
        raise InputError(
            f"cannot keep {n_keep} of {n} rows: between {n - room} and {n} can be kept "
            "(each group keeps its smallest and largest value, its minimum count and its "
            "must-keep rows)"
        )
    sizes, floor = _floors(codes, n_groups, min_counts)
    overall = data_resolution(np.sort(values))
    by_group = np.argsort(codes, kind="stable")
    starts = np.concatenate(([0], np.cumsum(sizes)))
    groups = []
    resolution = np.full(n_groups, np.nan)
    for g in range(n_groups):
        rows = by_group[starts[g]:starts[g + 1]]
        res = data_resolution(np.sort(values[rows]))
        if not np.isfinite(res):  # a constant group: the dataset's resolution (etal.bias.scores)
            res = overall if np.isfinite(overall) else 1.0
        resolution[g] = res
        groups.append(_Group(g, rows, values, protected, floor[g], method, res))
    coverage = None
    if coverage_weight > 0:
        if features is None or np.asarray(features).shape[0] != n:
            raise InputError("the coverage term needs one feature row per value (features=)")
        coverage = _Coverage(features)

    step = np.zeros(n, dtype=np.int64)
    order = np.full(n, -1, dtype=np.int64)
    change = np.full(n, np.nan)
    plan = GreedyPlan(step, order, change, entropy_before=np.array([grp.h for grp in groups]),
                      resolution=resolution)
    removed = 0
    t = 0
    from tqdm.auto import tqdm

    bar = tqdm(total=to_remove, desc="trimming", unit="row", disable=not progress)
    while removed < to_remove:
        t += 1
        options = []
        contexts = _contexts(groups)
        for g, grp in enumerate(groups):
            if not grp.removable():
                continue
            ctx = contexts[g]
            quick = _quick_best(grp, ctx, coverage, coverage_weight)
            if quick is None:
                best, low, _ = _best(*_costs(grp, ctx, coverage, coverage_weight))
            else:
                best, low = quick
            if np.isfinite(best):
                options.append((best, -low, g, ctx))
        if not options:  # pragma: no cover - capacity() rules this out
            raise InputError("no removable row left before reaching the requested size")
        options.sort(key=lambda o: (o[0], o[1], o[2]))
        best, _, g, ctx = options[0]
        alt = options[1][0] if len(options) > 1 else _INF
        grp = groups[g]
        d, lowest = _costs(grp, ctx, coverage, coverage_weight)
        h_new = None
        budget = min(to_remove - removed, grp.n - grp.floor)
        if batch:
            budget = min(budget, grp.same_estimator_run())
            m = estimator_at(grp.method, grp.n - 1)[1]
            separation = max(1, math.ceil(SEPARATION * m))
            picks = _spread_picks(d, separation, offset=t * 7919)
            picks = picks[np.argsort(d[picks], kind="stable")][:budget]
            if picks.size > 1:
                # predicted D of each next pick given the picks before it (effects additive)
                delta = grp.cand[picks] - grp.h
                before = grp.h + np.concatenate(([0.0], np.cumsum(delta)[:-1]))
                omax, osum, _, n_in = ctx
                extra = d[picks] - deficit_after(grp.cand[picks], omax, osum, n_in)  # coverage
                nxt = deficit_after(before + delta, omax, osum, n_in) + extra
                stay = nxt <= alt + TOLERANCE
                stay[0] = True
                stop = np.flatnonzero(~stay)
                if stop.size:
                    picks = picks[: stop[0]]
            # Exact check: the batch must leave D no worse than one plain greedy step
            # would (this group's best pick or the best alternative); else halve it.
            omax, osum, _, n_in = ctx
            bound = max(best, alt) + TOLERANCE
            cover = d[picks] - deficit_after(grp.cand[picks], omax, osum, n_in)
            while picks.size > 1:
                h_new = grp.entropy_without(picks)
                if deficit_after(h_new, omax, osum, n_in) + cover[: picks.size].max() <= bound:
                    break
                picks = picks[: picks.size // 2]
                h_new = None
        else:
            picks = np.array([_best(d, lowest)[2]])
        rows = grp.rows[picks]
        change[rows] = grp.cand[picks] - grp.h
        step[rows] = t
        order[rows] = removed + np.arange(rows.size)
        grp.delete(picks, h_new)
        if coverage is not None:
            coverage.remove(rows)
        removed += rows.size
        bar.update(rows.size)
        hs = [x.h for x in groups]
        plan.history.append({
            "step": t, "group": g, "removed": int(rows.size), "n_group": grp.n,
            "entropy_group": grp.h, "deficit": entropy_deficit(hs), "lowest": lowest_entropy(hs),
        })  # fmt: skip
    bar.close()
    plan.entropy_after = np.array([grp.h for grp in groups])
    return plan
