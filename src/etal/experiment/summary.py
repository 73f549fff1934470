"""An experiment's results in plain language: the opening paragraphs, stops, training sets, seeds.

Plain text (not HTML), shared by the terminal summary and :mod:`etal.report`.
:func:`plain_summary` writes the opening paragraphs: the bias as the mean entropy
deficit D before and after each strategy, with the compared strategy's advantage paired
by split seed (:func:`deficit_summary`), the entropy gap and which groups gained entropy, how far each strategy raised
the groups the split depleted (:func:`depleted_summary`), the downstream R² differences
ET-AL − random with their intervals and p-values, and a plain statement when ET-AL did
not beat random.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import InputError

__all__ = ["bias_snapshot", "deficit_summary", "depleted_summary", "plain_summary"]

from .config import DEFAULT_STRATEGY, ExperimentConfig
from .outputs import _span


def bias_snapshot(entropies: Mapping[str, float]) -> dict[str, Any]:
    """The bias of one labelled set as :func:`plain_summary` expects it.

    ``entropies`` maps group -> entropy (nats). Returns ``{"entropies": {...},
    "entropy_gap": max − min over the finite entropies, "entropy_deficit": D,
    "entropy_min": ...}`` (gap and D NaN with fewer than two finite groups).
    """
    from ..bias.scores import entropy_deficit, entropy_gap, lowest_entropy

    clean = {str(g): float(h) for g, h in entropies.items()}
    return {
        "entropies": clean,
        "entropy_gap": entropy_gap(clean),
        "entropy_deficit": entropy_deficit(clean),
        "entropy_min": lowest_entropy(clean),
    }


def _num(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _signed(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def _p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _strategy_name(s: str) -> str:
    return {"etal": "ET-AL", "etal-deficit": "ET-AL (etal-deficit)", "random": "random"}.get(s, s)


def _check_snapshot(snapshot: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(snapshot, Mapping) or "entropy_gap" not in snapshot or "entropies" not in snapshot:
        raise InputError(
            f"{where} must be a dict with keys 'entropy_gap' and 'entropies' (see etal.experiment.summary.bias_snapshot)"
        )
    return snapshot


def deficit_summary(quality: Mapping[str, Any]) -> str:
    """The opening paragraph: the mean entropy deficit D per strategy and the compared strategy's advantage.

    ``quality`` is the summary :func:`etal.experiment.run_experiment` builds (also in
    ``manifest.json`` → ``entropy_deficit``): ``strategy`` (the compared one), ``budget``,
    ``confidence``, ``per_strategy`` (``{strategy: {"runs", "splits", "D_start",
    "final_D", "auc_D", "picks_to_random_median", "never_reached_random"}}``, nats, means
    over runs) and ``paired`` (:func:`etal.evaluation.paired_by_split` dicts, compared
    strategy = ``a``). A difference is called lower or higher only when its interval
    excludes zero.
    """
    per = quality.get("per_strategy") or {}
    if not per:
        return "The mean entropy deficit D was not computed (no runs)."
    focus = str(quality.get("strategy", ""))
    budget = quality.get("budget")
    first = per.get(focus) or next(iter(per.values()))
    text = (
        "Bias is scored by the mean entropy deficit D: for every group, how far its entropy lies below the most "
        "diverse group's, averaged over groups (nats; 0 = every group as diverse as the most diverse one, lower = "
        f"fairer). D of the initial labelled set was {_num(first['D_start'])} nats; after {budget} acquisitions: "
        + "; ".join(f"{_strategy_name(s)} {_num(v['final_D'])}" for s, v in per.items())
        + " (means over runs)."
    )
    finite = {s: v["final_D"] for s, v in per.items() if math.isfinite(v["final_D"])}
    if len(finite) > 1:
        best = min(finite, key=finite.get)
        text += f" Lowest final D: {_strategy_name(best)}."
    conf = float(quality.get("confidence", 0.95))
    for row in quality.get("paired") or []:
        if row.get("column") != "final_D":
            continue
        a, b = _strategy_name(str(row["a"])), _strategy_name(str(row["b"]))
        n = int(row["n_pairs"])
        lo, hi = float(row["ci_low"]), float(row["ci_high"])
        text += f" {a} minus {b}: {_signed(row['mean_diff'])} nats"
        if math.isfinite(lo) and math.isfinite(hi):
            text += f" ({conf:.0%} t-interval {_signed(lo)} to {_signed(hi)}, paired by split seed over {n} seeds)"
            if hi < 0:
                text += f": less bias with {a} (the interval excludes zero)."
            elif lo > 0:
                text += f": more bias with {a} (the interval excludes zero)."
            else:
                text += ": the difference is not clear (the interval includes zero)."
        else:
            text += (
                f" ({n} split seed(s) with both, too few for an interval; repeat the experiment over several "
                "splits, [split] seeds = [...], for a paired interval)."
            )
    picks = {s: v for s, v in per.items() if s != "random"}
    if "random" in per and picks:
        bits = []
        for s, v in picks.items():
            median, never = v["picks_to_random_median"], int(v["never_reached_random"])
            bit = f"{_strategy_name(s)} {_num(median, 0)}" if math.isfinite(median) else f"{_strategy_name(s)} never"
            if never and math.isfinite(median):
                bit += f" (never in {never} of {v['runs']} runs)"
            bits.append(bit)
        text += (
            f" Acquisitions needed to reach random's D after {budget} acquisitions on the same split (median over "
            "runs): " + "; ".join(bits) + "."
        )
    return text


def depleted_summary(depleted: Mapping[str, Any]) -> str:
    """One plain paragraph on the depleted groups (plain text).

    ``depleted`` is the summary :func:`etal.experiment.run_experiment` builds (also in
    ``manifest.json`` → ``depleted_groups``): ``groups`` (list; empty = none depleted),
    ``note``, and when there are groups ``iteration`` (acquisitions at which runs are
    compared), ``per_strategy`` (``{strategy: {"runs": n, "depleted_entropy_min_start":
    ..., "depleted_entropy_min_compared": ..., ...}}``, nats, means over runs) and
    ``paired`` (None, or a list of :func:`etal.evaluation.paired_final_difference`
    dicts, one per score, ET-AL = ``a``).

    The headline is the lowest entropy among the depleted groups. ET-AL is called better
    or worse than random only when the paired interval excludes zero.
    """
    groups = list(depleted.get("groups") or [])
    note = str(depleted.get("note") or "")
    if not groups:
        return f"Depleted groups: none. {note[:1].upper()}{note[1:]}." if note else "Depleted groups: none; score skipped."
    per = depleted.get("per_strategy") or {}
    at = depleted.get("iteration")
    key = "depleted_entropy_min"
    main = DEFAULT_STRATEGY if DEFAULT_STRATEGY in per else "etal"  # the method compared with random
    first = per.get(main) or next(iter(per.values()), {})
    start = first.get(f"{key}_start", float("nan"))
    names = ", ".join(groups)
    text = f"The depleted groups ({names}: the groups the split depleted on purpose) are the ones ET-AL is meant to raise. "
    ends = {s: v.get(f"{key}_compared", float("nan")) for s, v in per.items()}
    if main in ends and "random" in ends:
        text += (
            f"Their lowest entropy went from {_num(start)} nats to {_num(ends[main])} with {_strategy_name(main)} vs "
            f"{_num(ends['random'])} with random after {at} acquisitions"
        )
        others = [s for s in ends if s not in (main, "random")]
        extra = "; ".join(f"{_strategy_name(s)} {_num(ends[s])}" for s in others)
        text += f" ({extra}; means over runs)." if extra else " (means over runs)."
    else:
        text += (
            f"After {at} acquisitions their lowest entropy went from {_num(start)} nats to: "
            + "; ".join(f"{_strategy_name(s)} {_num(v)}" for s, v in ends.items())
            + " (means over runs)."
        )
    finite = {s: v for s, v in ends.items() if math.isfinite(v)}
    if len(finite) > 1:
        best = max(finite, key=finite.get)
        if best != main:
            text += (f" The highest value was reached by {_strategy_name(best)} ({_num(finite[best])}), "
                     f"not {_strategy_name(main)}.")
    rows = list(depleted.get("paired") or [])
    unpaired = [r for r in rows if not r.get("paired")]
    if unpaired:
        bits = ", ".join(
            f"{'lowest' if r.get('column') == key else 'mean'} entropy {_signed(r.get('mean_diff', float('nan')))} nats"
            for r in unpaired
        )
        r = unpaired[0]
        text += (
            f" ET-AL minus random (means over runs): {bits}. No interval: ET-AL has {int(r['n_a'])} run(s) and "
            f"random {int(r['n_b'])}, with {int(r['n_pairs'])} seed(s) in common, too few to pair; repeat the "
            "experiment over several splits ([split] seeds = [...]) for a paired interval."
        )
    for row in rows:
        if not row.get("paired"):
            continue
        label = "lowest" if row.get("column") == key else "mean"
        diff = row.get("mean_diff", float("nan"))
        lo, hi = float(row["ci_low"]), float(row["ci_high"])
        conf = float(row.get("confidence", 0.95))
        n = int(row["n_pairs"])
        text += (
            f" Paired by seed, ET-AL minus random ({label} entropy of the depleted groups): {_signed(diff)} nats "
            f"({conf:.0%} CI {_signed(lo)} to {_signed(hi)}, Wilcoxon p = {_p(row['p_value'])}, {n} pairs)"
        )
        if math.isfinite(lo) and lo > 0:
            text += ": higher with ET-AL (the interval excludes zero)."
        elif math.isfinite(hi) and hi < 0:
            text += ": higher with random (the interval excludes zero)."
        else:
            text += ": the difference is not clear (the interval includes zero)."
    pairs = [int(r["n_pairs"]) for r in depleted.get("paired") or [] if r.get("paired")]
    if pairs and min(pairs) <= 5:
        n = min(pairs)
        text += (
            f" With {n} pairs the two-sided Wilcoxon test cannot give p below {2 / 2**n:.3g} "
            "(all differences on one side), so the interval is the more informative figure."
        )
    if note:
        text += f" Note: {note}."
    return text


def plain_summary(
    bias_before: Mapping[str, Any],
    bias_after: Mapping[str, Mapping[str, Any]],
    paired: pd.DataFrame,
    quality: Mapping[str, Any] | None = None,
    *,
    depleted: Mapping[str, Any] | None = None,
) -> str:
    """The report's opening paragraphs, in plain language (plain text, not HTML).

    Parameters
    ----------
    bias_before
        :func:`bias_snapshot` of the initial labelled set.
    bias_after
        ``{strategy: bias_snapshot}`` of each strategy's final labelled set.
    paired
        :func:`etal.evaluation.paired_comparison` output (ET-AL = ``a``, random = ``b``).
    quality
        The mean-entropy-deficit summary (see :func:`deficit_summary`): the first
        paragraph; None to leave it out.
    depleted
        The depleted-group summary (see :func:`depleted_summary`), or None to leave that
        paragraph out.

    A difference is called "better" or "worse" only when its confidence interval
    excludes zero; otherwise the text says the difference is not clear.
    """
    before = _check_snapshot(bias_before, "bias_before")
    paras: list[str] = []

    # -- the headline: D per strategy, the compared strategy's advantage
    if quality is not None:
        paras.append(deficit_summary(quality))

    # -- bias before / after
    h0 = {g: h for g, h in before["entropies"].items() if math.isfinite(h)}
    text = f"Before acquisition, the entropy gap (highest minus lowest group entropy) was {_num(before['entropy_gap'])} nats"
    if h0:
        low, high = min(h0, key=h0.get), max(h0, key=h0.get)
        text += f"; the least diverse group was {low} ({_num(h0[low])} nats) and the most diverse {high} ({_num(h0[high])} nats)"
    paras.append(
        text + ". A smaller gap means the groups are more evenly represented; unlike D it can be pinned by one "
        "group whose pool cannot raise it."
    )
    for strategy, snap in bias_after.items():
        snap = _check_snapshot(snap, f"bias_after[{strategy!r}]")
        gap0, gap1 = float(before["entropy_gap"]), float(snap["entropy_gap"])
        change = gap1 - gap0
        text = f"After {_strategy_name(strategy)}, the gap is {_num(gap1)} nats ({_signed(change)} nats"
        if math.isfinite(change) and gap0 > 0:
            text += f", {change / gap0:+.0%}"
        text += ")."
        deltas = {
            g: float(h) - float(before["entropies"][g])
            for g, h in snap["entropies"].items()
            if g in before["entropies"] and math.isfinite(h) and math.isfinite(before["entropies"][g])
        }
        gained = sorted(((d, g) for g, d in deltas.items() if d > 0), reverse=True)
        lost = sorted((d, g) for g, d in deltas.items() if d < 0)
        new = [g for g, h in snap["entropies"].items() if math.isfinite(h) and not math.isfinite(before["entropies"].get(g, float("nan")))]
        if gained:
            text += " Groups that gained entropy: " + ", ".join(f"{g} ({_signed(d)} nats)" for d, g in gained) + "."
        else:
            text += " No group gained entropy."
        if lost:
            text += " Groups that lost entropy: " + ", ".join(f"{g} ({_signed(d)} nats)" for d, g in lost) + "."
        if new:
            text += " Groups that had too few or only equal values before and now have an entropy: " + ", ".join(new) + "."
        paras.append(text)

    # -- depleted groups: the second headline
    if depleted is not None:
        paras.append(depleted_summary(depleted))

    # -- downstream
    if paired is None or not len(paired):
        paras.append("No downstream comparison was run.")
        return "\n\n".join(paras)
    metric = str(paired["metric"].iloc[0]) if "metric" in paired else "r2"
    metric_name = {"r2": "R²", "mae": "MAE"}.get(metric, metric)
    a = str(paired["a"].iloc[0]) if "a" in paired else "etal"
    b = str(paired["b"].iloc[0]) if "b" in paired else "random"
    conf = float(paired["confidence"].iloc[0]) if "confidence" in paired else 0.95
    higher = metric != "mae"
    lines = [
        (f"Downstream check: models trained on each strategy's final labelled set and scored on the held-out "
        f"test set, {metric_name} of {_strategy_name(a)} minus {_strategy_name(b)}, paired by seed "
        f"({conf:.0%} t-interval, two-sided Wilcoxon signed-rank p-value):")
    ]
    better, worse, unclear, no_spread = [], [], [], []
    for _, r in paired.iterrows():
        label = f"{r['model']} / {r['target']}"
        line = (
            f"- {label}: {_num(r['mean_a'])} vs {_num(r['mean_b'])}, difference {_signed(r['mean_diff'])} "
            f"(CI {_signed(r['ci_low'])} to {_signed(r['ci_high'])}, p = {_p(r['p_value'])}, {int(r['n_pairs'])} seeds)"
        )
        if isinstance(r.get("note"), str) and r["note"]:
            line += f" [{r['note']}]"
        lines.append(line)
        lo, hi = float(r["ci_low"]), float(r["ci_high"])
        if math.isfinite(lo) and math.isfinite(hi) and lo == hi:
            # Zero-width interval: a model that ignores its seed (e.g. SVR) gives the same
            # difference every time, so the seeds say nothing about its uncertainty.
            no_spread.append(label)
        elif math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0):
            (better if (lo > 0) == higher else worse).append(label)
        else:
            unclear.append(label)
    paras.append("\n".join(lines))
    n = len(paired)
    if not better:
        verdict = (
            f"{_strategy_name(a)} did NOT beat {_strategy_name(b)} on downstream {metric_name}: in none of the "
            f"{n} model/target pairs does the interval lie on the {_strategy_name(a)} side of zero."
        )
    else:
        verdict = (
            f"{_strategy_name(a)} was better in {len(better)} of {n} model/target pairs ({', '.join(better)}), "
            "judged by whether the interval excludes zero."
        )
    if worse:
        verdict += f" {_strategy_name(b)} was better in {len(worse)} ({', '.join(worse)})."
    if unclear:
        verdict += f" The difference is not clear in {len(unclear)} ({', '.join(unclear)})."
    if no_spread:
        verdict += (
            f" In {len(no_spread)} ({', '.join(no_spread)}) the difference is the same for every seed (the model "
            "does not depend on its seed), so the seeds cannot tell whether it is more than chance."
        )
    verdict += (
        " p-values are not corrected for multiple comparisons, and the intervals reflect variation across seeds "
        "only (model randomness and, where each seed has its own training set, the acquisitions), not other "
        "test sets or other initial labelled sets."
    )
    paras.append(verdict)
    return "\n\n".join(paras)



def _stop_text(runs: pd.DataFrame, budget: int) -> str:
    lines = ["Where the runs stopped (a run that stops early keeps its final state; its curves end there):"]
    for (strategy, reason), block in runs.groupby(["strategy", "stop_reason"], sort=False):
        seeds = ", ".join(str(s) for s in block["seed"])
        acquired = _span(block["n_acquired"])
        if block["stopped_early"].any():
            lines.append(
                f"- {strategy} (seed {seeds}): STOPPED EARLY after {acquired} of {budget} acquisitions: "
                f"{reason or 'no stop reason recorded'}"
            )
        else:
            lines.append(f"- {strategy} (seed {seeds}): used the whole budget ({budget} acquisitions)")
    return "\n".join(lines)


def _training_text(config: ExperimentConfig, used: Mapping[int, int]) -> str:
    if not config.downstream.equal_acquisitions:
        return (
            "Downstream training sets: the initial labelled rows plus ALL rows each run acquired; runs that "
            "stopped early therefore trained on fewer rows than the others ([downstream] equal_acquisitions = false)."
        )
    counts = sorted(set(used.values()))
    n = ", ".join(map(str, counts)) if counts else "0"
    early = " (a run stopped before the budget, so every strategy is cut to its count)" if counts and min(counts) < config.run.budget else ""
    return (
        f"Downstream training sets: the initial labelled rows plus the first {n} acquisitions of each strategy"
        f"{early}, so that strategies are compared at the same number of acquisitions, as in the paper."
    )


def _seeds_text(config: ExperimentConfig, seeds_info: dict, runs: pd.DataFrame) -> str:
    per = "; ".join(f"{s}: {', '.join(map(str, v))}" for s, v in seeds_info["runs"].items())
    if seeds_info["mode"] == "one split":
        text = (
            f"One split (split seed {config.split_seeds()[0]}), shared by every strategy, with the same budget "
            f"({config.run.budget} acquisitions) and the same held-back labels. The loop seed drives the random "
            f"choices of random and balanced. etal (quadrature estimator) and uncertainty make no random choice "
            f"given the split, so they run once (with the first seed) unless a group with candidates starts with "
            f"fewer than 2 labelled rows. Runs per strategy (seeds): {per}."
        )
        text += (
            "\n\nConsequence: strategies are paired by split seed, and one split gives one pair: there is no "
            "interval on the difference in D; repeat the experiment over several splits ([split] seeds = [...]) "
            "to get one."
        )
    else:
        text = (
            f"{len(config.split_seeds())} splits (split seeds {', '.join(map(str, config.split_seeds()))}); every "
            f"strategy runs once on each, with the split seed as loop seed, the same budget ({config.run.budget} "
            f"acquisitions) and the same held-back labels. Seeds per strategy: {per}."
        )
    if seeds_info["downstream_seeds"]:
        text += (
            f"\n\nDownstream: {len(seeds_info['downstream_seeds'])} model seeds. {seeds_info['pairing'][0].upper()}"
            f"{seeds_info['pairing'][1:]}, so ET-AL and random are compared pairwise on the same model seed."
        )
    return text

