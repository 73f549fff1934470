"""An experiment's results rendered as report sections and written as ``report.html``.

Reads an :class:`etal.experiment.ExperimentResult` (nothing is recomputed except small
summary tables) and builds the page with :func:`etal.report.html.build_report`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..experiment.outputs import _DEPLETED_SCORES, ExperimentResult, _snapshot
from ..experiment.summary import (
    _seeds_text,
    _stop_text,
    _strategy_name,
    _training_text,
    deficit_summary,
)
from .html import ReportSection, build_report

__all__ = ["write_experiment_report"]


def write_experiment_report(result: ExperimentResult, *, title: str | None = None) -> Path:
    """Render an experiment's results as ``<out_dir>/report.html`` and record it in the manifest.

    The report opens with the bias as the mean entropy deficit D (start → end per strategy,
    the compared strategy minus each other one paired by split seed with its interval, a
    figure of D against acquisitions with a band over seeds), then the rest of the
    plain-language summary (``result.summary_text``), the setup (data, split, seeds), the
    entropy per group, the gap vs acquisitions, the depleted groups, where each run
    stopped, the downstream comparison and the files.
    Figures are embedded; the page references nothing outside itself. Returns its path
    (also set as ``result.report_path``).
    """
    started = time.perf_counter()
    config, ds, splits = result.config, result.dataset, result.splits
    runs, trajectory = result.runs, result.trajectory
    downstream, paired, figures = result.downstream, result.paired, result.figures
    text, seeds_info = result.summary_text, result.seeds_info
    depleted, depleted_paired, depleted_info = result.depleted, result.depleted_paired, result.depleted_info
    if ds is None or not splits:
        raise InputError(
            "this ExperimentResult carries no dataset or splits (built by hand?); render the report from "
            "the result etal.experiment.run_experiment returns"
        )
    out = Path(result.out_dir)
    sections = [_deficit_section(result)]
    if result.quality_info:
        # The D paragraph opens the summary text; the first section already shows it.
        text = text.replace(deficit_summary(result.quality_info) + "\n\n", "", 1)
    sections.append(ReportSection("Summary", text=text))
    split_tables = [
        (f"Split seed {s}: rows per group (depleted = moved to the pool by the rule)", sp.summary())
        for s, sp in splits.items()
    ]
    notes = [n for sp in splits.values() for n in sp.notes]
    sections.append(
        ReportSection(
            "Setup: data, split and seeds",
            text=(
                f"Data: {ds.source} ({len(ds.frame)} rows; group {ds.group_col}, target {ds.target_col}; "
                f"loop features: {', '.join(ds.feature_cols)}). Test fraction {config.split.test_fraction:g}, pool "
                f"of {config.split.pool_size} rows. The loop never sees the pool's labels: it receives the pool "
                f"without the {ds.target_col} column and an oracle reveals a row's label when it is acquired."
                + ("\n\nNotes: " + " ".join(notes) if notes else "")
                + "\n\n" + _seeds_text(config, seeds_info, runs)
            ),
            tables=split_tables,
        )
    )
    before_after = _before_after_table(trajectory)
    sections.append(
        ReportSection(
            "Bias: entropy per group",
            text=(
                "Entropy (nats) of the target in each group after every acquisition, for the first run of "
                "ET-AL (or the first strategy), and the target's distribution per group before and after. "
                "Groups with fewer than 5 values have no entropy estimate (no line / NaN)."
            ),
            figures=[figures["entropy_evolution"], figures["distributions"]],
            tables=[("Entropy per group (nats): initial labelled set and final set of each strategy (mean over runs)", before_after)],
        )
    )
    sections.append(
        ReportSection(
            "Bias: entropy gap vs acquisitions, all strategies",
            text=(
                "The entropy gap (highest minus lowest group entropy, nats) after each acquisition: mean over the "
                "runs that reached an acquisition, band 10th–90th percentile over seeds. The gap can be pinned by "
                "one group whose pool cannot raise it, so it may not tell strategies apart; D (first section) "
                "moves whenever any group gains diversity."
            ),
            figures=[figures["entropy_gap"]],
            tables=[(
                "Entropy gap (nats): mean over runs at the start and at each run's end",
                runs.groupby("strategy", sort=False)[["gap_start", "gap_end"]].mean(),
            )],
        )
    )  # fmt: skip
    sections.append(_depleted_section(depleted, depleted_paired, depleted_info))
    sections.append(
        ReportSection(
            "Where each run stopped and why",
            text=_stop_text(runs, config.run.budget),
            tables=[("Runs", runs)],
        )
    )
    if downstream is not None:
        mean = (
            downstream[downstream["scope"] == "all"]
            .groupby(["model", "target", "strategy"], sort=True)[["r2", "mae"]]
            .agg(["mean", "std"])
        )
        mean.columns = [f"{m}_{s}" for m, s in mean.columns]
        tables = [("Test R² and MAE per model, target and strategy (scope all; mean and std over model seeds)", mean.reset_index())]
        if paired is not None:
            cols = ["metric", "model", "target", "n_pairs", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high",
                    "p_value", "p_value_t", "a_better", "note"]  # fmt: skip
            tables.insert(0, ("ET-AL (a) vs random (b), paired by model seed", paired[cols]))
        sections.append(
            ReportSection(
                "Downstream models: trained on each strategy's final labelled set",
                text=(
                    f"Models {', '.join(config.downstream.models)} predict {', '.join(sorted(set(downstream['target'])))} "
                    "from the features; each is trained on the initial labelled rows plus the rows a strategy acquired, "
                    "and scored on the held-out test set. " + _training_text(config, seeds_info.get("downstream_acquisitions", {}))
                    + " downstream.csv also has per-group scores (scope = group). "
                    "mean_diff = ET-AL minus random; CI = 95 % t-interval of the paired differences; p_value = "
                    "Wilcoxon signed-rank, p_value_t = paired t-test (not corrected for multiple comparisons)."
                ),
                figures=[figures["r2_boxplots"]] if "r2_boxplots" in figures else [],
                tables=tables,
            )
        )
    names = {Path(p).name for p in result.files if Path(p).parent == out}
    files = ", ".join(sorted(n for n in names if not n.endswith((".png", ".svg", ".html")))) + ", manifest.json"
    sections.append(
        ReportSection(
            "Files and reproduction",
            text=(
                f"Tables in {out}: {files}; figures as PNG and SVG. Re-run with: etal experiment --config "
                f"{out / 'config.toml'} --out NEW_DIR. Versions, seeds, input hash and timings are in manifest.json."
            ),
        )
    )
    facts = {
        "data": f"{ds.source} ({len(ds.frame)} rows, sha256 {ds.sha256[:12]}…)",
        "group / target": f"{ds.group_col} / {ds.target_col}",
        "strategies": ", ".join(config.run.strategies),
        "budget (acquisitions per run)": config.run.budget,
        "runs": len(runs),
        "split seeds": ", ".join(map(str, config.split_seeds())),
        "downstream": (
            f"{len(config.downstream.models)} models x {len(seeds_info['downstream_seeds'])} seeds"
            if downstream is not None else "not run"
        ),
    }
    title = title or config.title or "ET-AL experiment"
    path = build_report(out, title=title, summary=facts, sections=sections)
    result.report_path = path
    result.add_output(path, stage="report", seconds=time.perf_counter() - started)
    return path


def _deficit_section(result: ExperimentResult) -> ReportSection:
    """The first section: D start → end per strategy with the paired interval, the D figure, tables."""
    info, quality, paired = result.quality_info, result.quality, result.quality_paired
    title = "Bias: mean entropy deficit D"
    if not info:
        return ReportSection(title, text="Not computed: this result has no per-run D scores.")
    per = pd.DataFrame.from_dict(info["per_strategy"], orient="index")
    per.index.name = "strategy"
    text = (
        deficit_summary(info)
        + f"\n\nTables: D at the start and after {info['budget']} acquisitions (means over runs; a run that "
        "stopped early keeps its last D), area under the D curve (nats x acquisitions; smaller = less bias over "
        "the whole run) and the acquisitions needed to reach random's final D on the same split; then "
        f"{_strategy_name(info['strategy'])} minus each other strategy, paired by split seed "
        f"({float(info.get('confidence', 0.95)):.0%} t-interval, Wilcoxon and paired t-test p-values; "
        "negative = less bias). Per run: quality.csv; per acquisition: bias_summary.csv."
    )
    tables = [("D per strategy (nats, means over runs)", per)]
    if paired is not None and len(paired):
        tables.append((f"{_strategy_name(info['strategy'])} (a) minus each other strategy (b), paired by split seed", paired))
    tables.append(("Per run (quality.csv)", quality))
    figures = [result.figures["entropy_deficit"]] if "entropy_deficit" in result.figures else []
    return ReportSection(title, text=text, figures=figures, tables=tables)


def _depleted_section(depleted, depleted_paired, info) -> ReportSection:
    """The depleted groups: what the split depleted, their entropies, ET-AL vs random."""
    title = "Bias: the depleted groups"
    if not info["groups"]:
        return ReportSection(title, text=f"Not computed: {info['note']}.")
    groups = ", ".join(f"{g} ({rule})" for g, rule in info["rules"].items())
    at = info["iteration"]
    text = (
        f"The split depleted these groups on purpose (rule: which rows went to the pool): {groups}. "
        "Raising their entropy is what ET-AL is for. entropy_gap (max − min over all groups) can be pinned by a "
        "group the split left alone, e.g. a small group whose pool cannot raise it; these scores cannot. "
        "depleted_entropy_min is the lowest entropy (nats) among the depleted groups with an estimate, "
        "depleted_entropy_mean their mean. Values are read after "
        f"{at} acquisitions, the last iteration every run reached (and at each run's own end in "
        "depleted_groups.csv). ET-AL minus random is paired by seed: 95 % t-interval of the mean paired "
        "difference, two-sided Wilcoxon signed-rank p-value and paired t-test p-value."
    )
    if info["note"]:
        text += f"\n\nNote: {info['note']}."
    means = pd.DataFrame.from_dict(info["per_strategy"], orient="index")
    means.index.name = "strategy"
    cols = ["runs"] + [f"{s}_{w}" for s in _DEPLETED_SCORES for w in ("start", "compared")]
    tables = [(f"Depleted groups: entropy (nats) at the start and after {at} acquisitions (mean over runs)", means[cols])]
    if depleted_paired is not None:
        pcols = ["column", "iteration", "n_a", "n_b", "n_pairs", "mean_a", "mean_b", "mean_diff", "ci_low", "ci_high",
                 "p_value", "p_value_t", "a_better", "note"]  # fmt: skip
        tables.append(("ET-AL (a) minus random (b) on the depleted groups, paired by seed (nats)", depleted_paired[pcols]))
    tables.append(("Per run (depleted_groups.csv)", depleted))
    return ReportSection(title, text=text, tables=tables)


def _before_after_table(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Entropy per group (nats): the initial set and each strategy's final set, means over runs."""
    groups = sorted(trajectory["group"].unique())
    start = _snapshot(trajectory, None, "start")["entropies"]
    table = {"initial": [start.get(g, np.nan) for g in groups]}
    for strategy in dict.fromkeys(trajectory["strategy"]):
        end = _snapshot(trajectory, strategy, "end")["entropies"]
        table[f"after {strategy}"] = [end.get(g, np.nan) for g in groups]
    frame = pd.DataFrame(table, index=pd.Index(groups, name="group"))
    return frame
