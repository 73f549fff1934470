"""What an experiment writes and returns: tables (rows per run, trajectories), the result, files.

The writer puts every file into the output folder atomically; :class:`ExperimentResult`
holds the tables and everything a caller (the CLI, :mod:`etal.report`) needs to present them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import ExperimentConfig
from .plan import RunSpec

__all__ = [
    "DEPLETED_COLUMNS",
    "QUALITY_COLUMNS",
    "QUALITY_PAIRED_COLUMNS",
    "RUNS_COLUMNS",
    "TRAJECTORY_COLUMNS",
    "ExperimentResult",
]

#: Columns of ``bias_trajectory.csv``, in order.
TRAJECTORY_COLUMNS: tuple[str, ...] = ("strategy", "seed", "iteration", "group", "entropy")
#: Columns of ``runs.csv``, in order.
RUNS_COLUMNS: tuple[str, ...] = (
    "strategy", "seed", "split_seed", "loop_seed", "budget", "n_acquired", "stopped_early",
    "stop_reason", "labels_revealed", "gap_start", "gap_end", "seconds",
)  # fmt: skip
#: Columns of ``depleted_groups.csv``, in order: per run, the depleted groups' lowest and
#: mean entropy (nats) at the start, at ``iteration_compared`` (the last iteration every
#: run reached: what the paired comparison uses) and at the run's own end, and how many
#: depleted groups had a finite entropy at the start and at the end.
DEPLETED_COLUMNS: tuple[str, ...] = (
    "strategy", "seed", "iteration_compared", "iteration_final",
    "depleted_entropy_min_start", "depleted_entropy_min_compared", "depleted_entropy_min_final",
    "depleted_entropy_mean_start", "depleted_entropy_mean_compared", "depleted_entropy_mean_final",
    "n_depleted_groups_start", "n_depleted_groups_final",
)  # fmt: skip
_DEPLETED_SCORES = ("depleted_entropy_min", "depleted_entropy_mean")
#: Columns of ``quality.csv``, in order: per run, the mean entropy deficit D (nats) after
#: 0 acquisitions and after the budget (a run that stopped early keeps its last D), the
#: area under the D curve over 0..budget (nats x acquisitions) and the acquisitions needed
#: to reach random's final D on the same split (NaN = never); see
#: :func:`etal.evaluation.run_metrics`.
QUALITY_COLUMNS: tuple[str, ...] = (
    "strategy", "seed", "split_seed", "n_acquired", "D_start", "final_D", "auc_D", "picks_to_random",
)  # fmt: skip
#: Columns of ``quality_paired.csv``: the compared strategy (``a``) minus each other one
#: (``b``) in ``column`` (final_D or auc_D), paired by split seed
#: (:func:`etal.evaluation.paired_by_split`; negative = less bias with ``a``).
QUALITY_PAIRED_COLUMNS: tuple[str, ...] = (
    "column", "a", "b", "n_pairs", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high", "p_value",
    "p_value_t", "a_better", "confidence", "note",
)  # fmt: skip



@dataclass
class _RunOutcome:
    """One finished loop run and what it cost."""

    spec: RunSpec
    result: Any  # etal.engine.RunResult
    seconds: float
    labels_revealed: int
    oracle_calls: int
    pool_columns: list[str]


def _acquisitions_axis(result) -> pd.Series:
    """Number of acquisitions made by each loop iteration (equal to the iteration for batch size 1)."""
    history = result.history
    counts = history.groupby("iteration").size() if len(history) else pd.Series(dtype="int64")
    done = counts.cumsum()
    iterations = result.entropies.index.to_numpy()
    return pd.Series([int(done.get(i, 0)) if i else 0 for i in iterations], index=iterations)


def _trajectory_rows(outcome: _RunOutcome) -> pd.DataFrame:
    ent = outcome.result.entropies
    acquisitions = _acquisitions_axis(outcome.result)
    long = ent.reset_index().melt(id_vars="iteration", var_name="group", value_name="entropy")
    long["iteration"] = long["iteration"].map(acquisitions).astype("int64")
    long.insert(0, "seed", int(outcome.spec.seed))
    long.insert(0, "strategy", outcome.spec.strategy)
    long["group"] = long["group"].astype(str)
    long["entropy"] = long["entropy"].astype(float)
    return long[list(TRAJECTORY_COLUMNS)]


def _run_row(outcome: _RunOutcome, budget: int) -> dict:
    from ..bias.scores import entropy_gap

    ent = outcome.result.entropies
    n = outcome.result.n_acquired
    return {
        "strategy": outcome.spec.strategy,
        "seed": outcome.spec.seed,
        "split_seed": outcome.spec.split_seed,
        "loop_seed": outcome.spec.loop_seed,
        "budget": budget,
        "n_acquired": n,
        "stopped_early": n < budget,
        "stop_reason": outcome.result.stop_reason or "",
        "labels_revealed": outcome.labels_revealed,
        "gap_start": entropy_gap(ent.iloc[0].to_numpy()),
        "gap_end": entropy_gap(ent.iloc[-1].to_numpy()),
        "seconds": round(outcome.seconds, 3),
    }


# =======================================================================================
# The result
# =======================================================================================


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns (every table is also written to ``out_dir``).

    ``runs``: one row per run (:data:`RUNS_COLUMNS`); ``trajectory``: long
    :data:`TRAJECTORY_COLUMNS` (entropy in nats, ``iteration`` = acquisitions so far);
    ``trajectory_summary``: :func:`etal.evaluation.summarise_bias_trajectory` (with the
    mean entropy deficit ``entropy_deficit`` = D after every acquisition);
    ``quality``: one row per run (:data:`QUALITY_COLUMNS`: D start and final, area under
    the D curve, picks to reach random's final D); ``quality_paired``: the compared
    strategy minus each other one, paired by split seed (:data:`QUALITY_PAIRED_COLUMNS`);
    ``quality_info``: the same as a dict (also in ``manifest.json`` → ``entropy_deficit``);
    ``downstream`` / ``paired``: None when downstream was disabled (``paired`` also when
    ``etal`` or ``random`` is missing).
    ``depleted_groups``: the groups the split's rules depleted (empty: no rules, score
    skipped); ``depleted``: one row per run (:data:`DEPLETED_COLUMNS`) or None;
    ``depleted_paired``: ET-AL − random at ``iteration_compared``, one row per score
    (:func:`etal.evaluation.paired_final_difference`) or None; ``depleted_note``: why
    something is missing or how it was computed.

    For presenting the results (:func:`etal.report.write_experiment_report`): ``dataset``
    (the :class:`etal.data.Dataset`), ``splits`` (split seed -> :class:`etal.split.Split`),
    ``figures`` (name -> PNG path), ``seeds_info`` and ``depleted_info`` (as in
    ``manifest.json``). ``report_path`` is None until a report is written
    (:meth:`add_output` records it in the manifest).
    """

    out_dir: Path
    config: ExperimentConfig
    runs: pd.DataFrame
    trajectory: pd.DataFrame
    trajectory_summary: pd.DataFrame
    quality: pd.DataFrame
    quality_paired: pd.DataFrame
    downstream: pd.DataFrame | None
    paired: pd.DataFrame | None
    summary_text: str
    manifest_path: Path
    timings: dict[str, float]
    files: list[Path] = field(default_factory=list)
    depleted_groups: list[str] = field(default_factory=list)
    depleted: pd.DataFrame | None = None
    depleted_paired: pd.DataFrame | None = None
    depleted_note: str = ""
    report_path: Path | None = None
    dataset: Any = field(default=None, repr=False)
    splits: dict[int, Any] = field(default_factory=dict, repr=False)
    figures: dict[str, Path] = field(default_factory=dict)
    seeds_info: dict[str, Any] = field(default_factory=dict, repr=False)
    depleted_info: dict[str, Any] = field(default_factory=dict, repr=False)
    quality_info: dict[str, Any] = field(default_factory=dict, repr=False)
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)

    def add_output(self, path: Path, *, stage: str | None = None, seconds: float | None = None) -> Path:
        """Record a file written after the run (e.g. ``report.html``) in ``files`` and ``manifest.json``.

        ``stage``/``seconds`` add a timing (seconds) to the manifest's ``timings``; the
        total is updated too. Returns the manifest path.
        """
        path = Path(path)
        if path not in self.files:
            self.files = sorted([*self.files, path])
        base, extra = self.manifest["base"], dict(self.manifest["extra"])
        timings = dict(extra.get("timings", {}))
        if stage is not None and seconds is not None:
            timings[stage] = round(float(seconds), 3)
            self.timings[stage] = float(seconds)
            if "total" in timings:
                timings["total"] = round(timings["total"] + float(seconds), 3)
                self.timings["total"] = self.timings.get("total", 0.0) + float(seconds)
        extra["timings"] = timings
        extra["outputs"] = sorted({*extra.get("outputs", []), path.name})
        self.manifest["extra"] = extra
        self.manifest_path = _write_manifest(self.out_dir, base, extra)
        return self.manifest_path

    def short_summary(self) -> str:
        """A few lines for a terminal: D per strategy and the compared strategy's advantage, stops,
        depleted groups and downstream differences."""
        out = self._deficit_lines()
        lines = []
        for strategy, block in self.runs.groupby("strategy", sort=False):
            stops = sorted(set(block["stop_reason"]))
            lines.append(
                f"  {strategy:<12} {len(block)} run(s), acquired {_span(block['n_acquired'])}, "
                f"entropy gap {block['gap_start'].mean():.3f} -> {block['gap_end'].mean():.3f} nats; "
                f"stop: {'; '.join(stops)}"
            )
        out += ["runs (gap: max - min group entropy, mean over runs):", *lines]
        out += self._depleted_lines()
        if self.paired is not None and len(self.paired):
            r2 = self.paired[self.paired["metric"] == "r2"]
            a = str(self.paired["a"].iloc[0]) if "a" in self.paired else "ET-AL"
            out.append(f"downstream R², {a} minus random (95% CI):")
            for _, r in r2.iterrows():
                out.append(
                    f"  {r['model']:<18} {r['target']:<26} {r['mean_diff']:+.4f} "
                    f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
                )
        return "\n".join(out)

    def _deficit_lines(self) -> list[str]:
        info = self.quality_info or {}
        per = info.get("per_strategy") or {}
        if not per:
            return []
        lines = [
            (
                f"bias: mean entropy deficit D (nats, lower = fairer), start -> after {info['budget']} acquisitions "
                "(mean over runs; picks = median acquisitions to reach random's final D on the same split):"
            )
        ]
        for strategy, v in per.items():
            picks = v["picks_to_random_median"]
            never = f", never in {v['never_reached_random']} of {v['runs']}" if v["never_reached_random"] else ""
            lines.append(
                f"  {strategy:<12} {_nats(v['D_start'])} -> {_nats(v['final_D'])}  "
                f"(area {v['auc_D']:.1f} nats x picks; picks {'n/a' if not np.isfinite(picks) else f'{picks:.0f}'}{never})"
            )
        for row in info.get("paired") or []:
            if row["column"] != "final_D":
                continue
            n = int(row["n_pairs"])
            text = f"  {row['a']} minus {row['b']}: {_nats(row['mean_diff'], True)} nats"
            if np.isfinite(row["ci_low"]):
                text += (
                    f" [{row['confidence']:.0%} t-interval {_nats(row['ci_low'], True)}, {_nats(row['ci_high'], True)}]"
                    f", paired by split seed over {n} seeds"
                )
            else:
                text += f" (no interval: {n} split seed(s) with both; run over several splits for one)"
            lines.append(text)
        return lines

    def _depleted_lines(self) -> list[str]:
        if not self.depleted_groups:
            return [f"depleted groups: none, score skipped ({self.depleted_note})"]
        table = self.depleted
        at = int(table["iteration_compared"].iloc[0])
        lines = [
            (f"depleted groups ({', '.join(self.depleted_groups)}), entropy in nats, mean over runs, "
            f"start -> after {at} acquisitions:")
        ]
        means = table.groupby("strategy", sort=False)[[f"{c}_{w}" for c in _DEPLETED_SCORES for w in ("start", "compared")]].mean()
        for score, label in zip(_DEPLETED_SCORES, ("lowest", "mean")):
            start = _nats(means[f"{score}_start"].iloc[0])
            ends = ", ".join(f"{s} {_nats(v)}" for s, v in means[f"{score}_compared"].items())
            lines.append(f"  {label:<7} start {start}; {ends}")
        if self.depleted_paired is not None:
            bits = []
            for _, r in self.depleted_paired.iterrows():
                label = "lowest" if r["column"] == "depleted_entropy_min" else "mean"
                if r["paired"]:
                    p = "n/a" if not np.isfinite(r["p_value"]) else f"{r['p_value']:.3g}"
                    bits.append(
                        f"{label} {_nats(r['mean_diff'], True)} [{_nats(r['ci_low'], True)}, "
                        f"{_nats(r['ci_high'], True)}], Wilcoxon p = {p}"
                    )
                else:
                    bits.append(f"{label} {_nats(r['mean_diff'], True)} (no interval)")
            how = f"paired by seed, {int(self.depleted_paired['n_pairs'].iloc[0])} pairs, 95% CI"
            if not self.depleted_paired["paired"].iloc[0]:
                how = "means over runs; fewer than 2 seeds in common"
            a = str(self.depleted_paired["a"].iloc[0]) if "a" in self.depleted_paired else "ET-AL"
            lines.append(f"  {a} minus random ({how}): " + "; ".join(bits))
        return lines


def _span(values: pd.Series) -> str:
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:+.4f}"


def _nats(x: float, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


# =======================================================================================
# Writing
# =======================================================================================




class _Writer:
    """Atomic writes into the output folder, remembering what was written."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, Path] = {}

    def csv(self, name: str, frame: pd.DataFrame) -> Path:
        from ..provenance import atomic_write_text

        path = atomic_write_text(self.out / name, frame.to_csv(index=False))
        self.files[name] = path
        return path

    def text(self, name: str, text: str) -> Path:
        from ..provenance import atomic_write_text

        path = atomic_write_text(self.out / name, text)
        self.files[name] = path
        return path

    def figure(self, fig, stem: str) -> Path:
        from ..plots import save_figure

        paths = save_figure(fig, self.out, stem)
        for p in paths:
            self.files[p.name] = p
        return paths[0]



def _write_manifest(out: Path, base: dict, extra: dict) -> Path:
    """(Re)write ``out/manifest.json``: ``base`` (command, arguments, inputs) and ``extra`` (status, ...)."""
    from ..provenance import write_manifest

    return write_manifest(out, **base, seed=None, extra=extra)



def _snapshot(trajectory: pd.DataFrame, strategy: str | None, at: str) -> dict[str, Any]:
    """Per-group entropy (mean over runs) and the mean per-run gap and D, at the start or the end."""
    from ..bias.scores import entropy_deficit, entropy_gap, lowest_entropy

    block = trajectory if strategy is None else trajectory[trajectory["strategy"] == strategy]
    rows = []
    for _, run in block.groupby(["strategy", "seed"], sort=True):
        it = run["iteration"].min() if at == "start" else run["iteration"].max()
        rows.append(run[run["iteration"] == it].set_index("group")["entropy"])
    table = pd.DataFrame(rows)
    with np.errstate(all="ignore"):
        finite = table.where(np.isfinite(table))
    entropies = {str(g): (float(finite[g].mean()) if finite[g].notna().any() else float("nan")) for g in table.columns}
    gaps = [entropy_gap(r.to_numpy(dtype=float)) for _, r in table.iterrows()]
    gaps = [g for g in gaps if math.isfinite(g)]
    deficits = [entropy_deficit(r.to_numpy(dtype=float)) for _, r in table.iterrows()]
    deficits = [d for d in deficits if math.isfinite(d)]
    return {
        "entropies": entropies,
        "entropy_gap": float(np.mean(gaps)) if gaps else float("nan"),
        "entropy_deficit": float(np.mean(deficits)) if deficits else float("nan"),
        "entropy_min": lowest_entropy(entropies),
    }

