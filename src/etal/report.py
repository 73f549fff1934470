"""A self-contained HTML report of an experiment, and its plain-language summary.

:func:`build_report` writes one ``report.html``: figures are embedded as base64 data
URIs, the stylesheet is inline, and nothing is fetched from a network (no external CSS,
JavaScript or fonts), so the file can be mailed, archived or opened offline. All text
and table cells are HTML-escaped.

:func:`plain_summary` writes the opening paragraphs in plain language: the bias
(``entropy_gap``, nats) before and after each strategy, which groups gained entropy, how
far each strategy raised the groups the split depleted (:func:`depleted_summary`), the
downstream R² differences ET-AL − random with their intervals and p-values, and a plain
statement when ET-AL did not beat random.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .provenance import atomic_write_text

__all__ = ["ReportSection", "bias_snapshot", "build_report", "depleted_summary", "plain_summary"]

_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #222; background: #fff; max-width: 1100px; margin: 2em auto; padding: 0 1.2em;
       line-height: 1.5; }
h1 { font-size: 1.7em; border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .15em; }
p { margin: .6em 0; }
figure { margin: 1.2em 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #555; }
table { border-collapse: collapse; margin: 1em 0; font-size: .88em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25em .55em; text-align: right; white-space: nowrap; }
th { background: #f2f5f9; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: .3em 0; }
table.summary td, table.summary th { text-align: left; }
footer { margin-top: 3em; font-size: .8em; color: #777; border-top: 1px solid #ddd; padding-top: .5em; }
"""


@dataclass
class ReportSection:
    """One section of the report: a title, optional text, figures and tables.

    ``text`` is plain text; blank lines separate paragraphs. ``figures`` are paths to PNG,
    SVG or JPEG files (embedded, captioned with the file name). ``tables`` are
    DataFrames, or ``(caption, DataFrame)`` pairs.
    """

    title: str
    text: str | None = None
    figures: list[str | os.PathLike] = field(default_factory=list)
    tables: list[pd.DataFrame | tuple[str, pd.DataFrame]] = field(default_factory=list)


# --------------------------------------------------------------------------- HTML


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _paragraphs(text: str) -> str:
    """Plain text -> escaped HTML: blank lines separate paragraphs, ``- `` lines are list items."""
    out = []
    for block in str(text).replace("\r\n", "\n").split("\n\n"):
        lines = [line.rstrip() for line in block.strip().split("\n") if line.strip()]
        prose = [line for line in lines if not line.startswith("- ")]
        items = [line[2:] for line in lines if line.startswith("- ")]
        if prose:
            out.append("<p>" + "<br>".join(_esc(line) for line in prose) + "</p>")
        if items:
            out.append("<ul>" + "".join(f"<li>{_esc(item)}</li>" for item in items) + "</ul>")
    return "\n".join(out)


def _format_cell(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "—"
        return f"{value:.4g}"
    return str(value)


def _figure_html(path: str | os.PathLike) -> str:
    path = Path(path)
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise InputError(f"figure {path} has an unsupported type; use one of {sorted(_MIME)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read figure {path}: {exc.strerror}; check the path") from exc
    encoded = base64.b64encode(data).decode("ascii")
    name = _esc(path.stem.replace("_", " "))
    return (
        f'<figure><img alt="{name}" src="data:{mime};base64,{encoded}">'
        f"<figcaption>{name}</figcaption></figure>"
    )


def _table_html(table: pd.DataFrame | tuple[str, pd.DataFrame]) -> str:
    caption = None
    if isinstance(table, tuple):
        caption, table = table
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"report tables must be DataFrames or (caption, DataFrame) pairs, got {type(table).__name__}")
    show_index = not isinstance(table.index, pd.RangeIndex)
    body = table.map(_format_cell) if len(table) else table
    # escape=True: pandas escapes every header and cell.
    out = body.to_html(index=show_index, escape=True, border=0, na_rep="—")
    if caption:
        out = out.replace(">\n", f">\n<caption>{_esc(caption)}</caption>\n", 1)
    return out


def _summary_html(summary: Mapping[str, Any]) -> str:
    if not summary:
        return ""
    rows = "\n".join(
        f"<tr><th>{_esc(key)}</th><td>{_esc(_format_cell(value))}</td></tr>" for key, value in summary.items()
    )
    return f'<table class="summary">\n{rows}\n</table>'


def build_report(
    out_dir: str | os.PathLike,
    *,
    title: str,
    summary: Mapping[str, Any],
    sections: Sequence[ReportSection],
) -> Path:
    """Write ``<out_dir>/report.html`` atomically and return its path.

    ``summary`` is a small ``{label: value}`` table of facts shown under the title
    (dataset, number of acquisitions, seeds, ...). Put the plain-language text of
    :func:`plain_summary` in the first section. Figures are embedded as base64 data
    URIs; the file references nothing outside itself.
    """
    from . import __version__ as etal_version

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        _summary_html(summary),
    ]
    for section in sections:
        if not isinstance(section, ReportSection):
            raise InputError(f"report sections must be ReportSection objects, got {type(section).__name__}")
        parts.append(f"<section>\n<h2>{_esc(section.title)}</h2>")
        if section.text:
            parts.append(_paragraphs(section.text))
        parts.extend(_figure_html(p) for p in section.figures)
        parts.extend(_table_html(t) for t in section.tables)
        parts.append("</section>")
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts += [
        f"<footer>Generated by etal {_esc(etal_version)} on {_esc(created)}.</footer>",
        "</body>",
        "</html>",
    ]
    return atomic_write_text(Path(out_dir) / "report.html", "\n".join(parts) + "\n")


# --------------------------------------------------------------------------- plain summary


def bias_snapshot(entropies: Mapping[str, float]) -> dict[str, Any]:
    """The bias of one labelled set as :func:`plain_summary` expects it.

    ``entropies`` maps group -> entropy (nats). Returns ``{"entropies": {...},
    "entropy_gap": max − min over the finite entropies, "entropy_min": ...}`` (gap NaN
    with fewer than two finite groups).
    """
    clean = {str(g): float(h) for g, h in entropies.items()}
    finite = [h for h in clean.values() if math.isfinite(h)]
    return {
        "entropies": clean,
        "entropy_gap": max(finite) - min(finite) if len(finite) >= 2 else float("nan"),
        "entropy_min": min(finite) if finite else float("nan"),
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
    return {"etal": "ET-AL", "random": "random"}.get(s, s)


def _check_snapshot(snapshot: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(snapshot, Mapping) or "entropy_gap" not in snapshot or "entropies" not in snapshot:
        raise InputError(
            f"{where} must be a dict with keys 'entropy_gap' and 'entropies' (see etal.report.bias_snapshot)"
        )
    return snapshot


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
    first = per.get("etal") or next(iter(per.values()), {})
    start = first.get(f"{key}_start", float("nan"))
    names = ", ".join(groups)
    text = f"The depleted groups ({names}: the groups the split depleted on purpose) are the ones ET-AL is meant to raise. "
    ends = {s: v.get(f"{key}_compared", float("nan")) for s, v in per.items()}
    if "etal" in ends and "random" in ends:
        text += (
            f"Their lowest entropy went from {_num(start)} nats to {_num(ends['etal'])} with ET-AL vs "
            f"{_num(ends['random'])} with random after {at} acquisitions"
        )
        others = [s for s in ends if s not in ("etal", "random")]
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
        if best != "etal":
            text += f" The highest value was reached by {_strategy_name(best)} ({_num(finite[best])}), not ET-AL."
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
    gap_rates: pd.DataFrame | None,
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
    gap_rates
        :func:`etal.evaluation.gap_reduction_rate` output, or None.
    depleted
        The depleted-group summary (see :func:`depleted_summary`), or None to leave that
        paragraph out.

    A difference is called "better" or "worse" only when its confidence interval
    excludes zero; otherwise the text says the difference is not clear.
    """
    before = _check_snapshot(bias_before, "bias_before")
    paras: list[str] = []

    # -- bias before / after
    h0 = {g: h for g, h in before["entropies"].items() if math.isfinite(h)}
    text = f"Before acquisition, the entropy gap (highest minus lowest group entropy) was {_num(before['entropy_gap'])} nats"
    if h0:
        low, high = min(h0, key=h0.get), max(h0, key=h0.get)
        text += f"; the least diverse group was {low} ({_num(h0[low])} nats) and the most diverse {high} ({_num(h0[high])} nats)"
    paras.append(text + ". A smaller gap means the groups are more evenly represented.")
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

    # -- speed of gap reduction
    if gap_rates is not None and len(gap_rates):
        rates = gap_rates.set_index(gap_rates["strategy"].astype(str))
        conf = float(rates["confidence"].iloc[0]) if "confidence" in rates else 0.95
        bits = []
        for strategy, r in rates.iterrows():
            bit = f"{_strategy_name(strategy)} {_signed(r['gap_drop_per_acquisition'], 4)} nats"
            if math.isfinite(r.get("drop_ci_low", float("nan"))):
                bit += f" ({conf:.0%} CI {_signed(r['drop_ci_low'], 4)} to {_signed(r['drop_ci_high'], 4)}, {int(r['n_seeds'])} seeds)"
            bits.append(bit)
        upto = rates["upto"].iloc[0] if "upto" in rates else None
        text = "Average fall of the gap per acquisition (positive = bias shrinks"
        text += f", over the first {int(upto)} acquisitions): " if upto is not None and pd.notna(upto) else "): "
        text += "; ".join(bits) + "."
        if "etal" in rates.index and "random" in rates.index:
            e, r = rates.loc["etal"], rates.loc["random"]
            if all(math.isfinite(v) for v in (e["drop_ci_low"], e["drop_ci_high"], r["drop_ci_low"], r["drop_ci_high"])):
                if e["drop_ci_low"] > r["drop_ci_high"]:
                    text += " ET-AL lowered the gap faster than random: the two intervals do not overlap."
                elif e["drop_ci_high"] < r["drop_ci_low"]:
                    text += " ET-AL lowered the gap more slowly than random: the two intervals do not overlap."
                else:
                    text += " The intervals overlap, so this run does not show that ET-AL lowers the gap faster than random."
            elif math.isfinite(e["gap_drop_per_acquisition"]) and math.isfinite(r["gap_drop_per_acquisition"]):
                faster = e["gap_drop_per_acquisition"] > r["gap_drop_per_acquisition"]
                text += (
                    f" ET-AL's gap fell {'faster' if faster else 'no faster'} than random's, but with too few "
                    "seeds for an interval this is not evidence either way."
                )
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
        f"Downstream check: models trained on each strategy's final labelled set and scored on the held-out "
        f"test set, {metric_name} of {_strategy_name(a)} minus {_strategy_name(b)}, paired by seed "
        f"({conf:.0%} t-interval, two-sided Wilcoxon signed-rank p-value):"
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
