"""The depleted-group score: how far each strategy raised the groups the split depleted on purpose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .config import DEFAULT_STRATEGY
from .outputs import _DEPLETED_SCORES, DEPLETED_COLUMNS, _span


def _depleted_groups(splits: Mapping[int, Any]) -> tuple[list[str], dict[str, str], str]:
    """The groups the split(s) depleted, their rules, and a note.

    A group counts as depleted when it has a rule that moved at least one row to the pool
    in at least one split; a rule that moved nothing depleted nothing and is named in the
    note. Returns ``([], {}, reason)`` when no group was depleted.
    """
    rules: dict[str, str] = {}
    moved: dict[str, int] = {}
    for split in splits.values():
        for g, rule in split.rules.items():
            rules.setdefault(str(g), rule)
            moved[str(g)] = moved.get(str(g), 0) + int(split.depleted.get(g, 0))
    groups = sorted(g for g in rules if moved[g] > 0)
    idle = sorted(g for g in rules if moved[g] == 0)
    if not rules:
        return [], {}, (
            "the split has no depletion rules ([split] rules = \"none\", or \"paper\" with groups that are not "
            "crystal systems), so no group was depleted and the depleted-group score is skipped"
        )
    note = f"rule(s) for {', '.join(idle)} moved no row to the pool: not counted as depleted" if idle else ""
    if not groups:
        return [], {}, f"no depletion rule moved any row to the pool ({note}), so the depleted-group score is skipped"
    return groups, {g: rules[g] for g in groups}, note


def _depleted_scores(
    trajectory: pd.DataFrame, groups: list[str], rules: Mapping[str, str], strategies: Sequence[str], note: str
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any]]:
    """Per-run table (:data:`DEPLETED_COLUMNS`), ET-AL − random paired table, and a summary dict.

    Runs are compared at the last iteration every run of every strategy reached, each run read at its latest recorded iteration up to there.
    """
    from ..evaluation import group_score_trajectory, paired_final_difference

    scores = group_score_trajectory(trajectory, groups)
    at = int(scores.groupby(["strategy", "seed"])["iteration"].max().min())
    rows = []
    for (strategy, seed), run in scores.groupby(["strategy", "seed"], sort=False):
        run = run.sort_values("iteration")
        start, final = run.iloc[0], run.iloc[-1]
        compared = run[run["iteration"] <= at].iloc[-1]
        row = {"strategy": strategy, "seed": int(seed), "iteration_compared": at, "iteration_final": int(final["iteration"])}
        for score in _DEPLETED_SCORES:
            row[f"{score}_start"] = float(start[score])
            row[f"{score}_compared"] = float(compared[score])
            row[f"{score}_final"] = float(final[score])
        row["n_depleted_groups_start"] = int(start["n_depleted_groups"])
        row["n_depleted_groups_final"] = int(final["n_depleted_groups"])
        rows.append(row)
    per_run = pd.DataFrame(rows, columns=list(DEPLETED_COLUMNS))
    order = {s: i for i, s in enumerate(strategies)}
    per_run = per_run.sort_values(["strategy", "seed"], key=lambda c: c.map(order) if c.name == "strategy" else c, kind="stable")
    per_run = per_run.reset_index(drop=True)

    notes = [note] if note else []
    short = per_run[per_run["n_depleted_groups_start"] < len(groups)]
    if len(short):
        notes.append(
            f"at the start only {_span(short['n_depleted_groups_start'])} of the {len(groups)} depleted groups had "
            "an entropy in some runs (fewer than 5 labelled values); the scores cover those that had one"
        )
    paired = None
    main = DEFAULT_STRATEGY if DEFAULT_STRATEGY in order else "etal"  # the method compared with random
    if main in order and "random" in order:
        within = scores[scores["iteration"] <= at]
        paired = pd.DataFrame([paired_final_difference(within, score, main, "random") for score in _DEPLETED_SCORES])
    else:
        notes.append(f"{main} and random are not both run: no paired comparison")
    per_strategy = {}
    for strategy, block in per_run.groupby("strategy", sort=False):
        entry: dict[str, Any] = {"runs": len(block)}
        for score in _DEPLETED_SCORES:
            for when in ("start", "compared", "final"):
                entry[f"{score}_{when}"] = float(block[f"{score}_{when}"].mean())
        per_strategy[strategy] = entry
    info = {
        "groups": groups,
        "rules": dict(rules),
        "iteration": at,
        "per_strategy": per_strategy,
        "paired": paired.to_dict("records") if paired is not None else None,
        "note": "; ".join(notes),
    }
    return per_run, paired, info

