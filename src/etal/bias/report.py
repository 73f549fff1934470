"""The bias report: per-group entropy of the target, intervals and the dataset scores.

:func:`bias_report` takes a validated :class:`etal.data.Dataset` (a DataFrame plus column
names is validated through :mod:`etal.data` first), estimates the differential entropy
(nats) of each group's labelled target values with the dataset-wide resolution
(:func:`etal.bias.scores.dataset_resolution`, so a constant group gets a finite, very low
entropy and counts as the least diverse group), bootstraps intervals
(:mod:`etal.bias.bootstrap`) and scores the dataset with :mod:`etal.bias.scores`.
:class:`BiasReport` holds the result (table, scores, JSON, summary); saving and figures
live in :mod:`etal.bias.outputs`.

``entropy_gap`` = max_g h_g − min_g h_g and ``entropy_deficit`` = mean_g (max h − h_g)
over groups with a finite entropy are the scores; ``entropy_std`` is the *population*
standard deviation (ddof=0) over the same groups, because the groups present are the
whole population being described, not a sample of groups. All three are invariant to
the target's unit (rescaling the target adds the same log(scale) to every h_g).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..entropy import MIN_SAMPLES, TIES, estimate_entropy, resolve_method
from ..errors import EtalError, InputError, TiedValuesError
from ..params import check_choice, check_float, check_int
from .bootstrap import CI_METHODS, DESCRIPTIONS, SUBSAMPLE_SIZE, bootstrap_groups, interval
from .inputs import as_dataset, group_values
from .scores import dataset_resolution, entropy_deficit, entropy_gap

__all__ = ["BiasReport", "bias_report", "TABLE_COLUMNS", "REFERENCE_COLUMNS", "CI_METHODS"]

#: Per-group columns of :attr:`BiasReport.table`, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "group", "n", "entropy", "ci_low", "ci_high", "rank", "status", "ties", "floored",
    "method", "window", "target_min", "target_median", "target_max",
)  # fmt: skip
#: Extra columns when a reference dataset is given.
REFERENCE_COLUMNS: tuple[str, ...] = ("reference_n", "reference_entropy", "entropy_deficit")
# Statuses whose entropy is finite and counts in the scores.
_SCORED = ("ok", "constant")


def _deprecated(value: Any, old_name: str, new_name: str, old_value: Any) -> Any:
    """``value`` of ``new_name=``, or ``old_value`` of the deprecated ``old_name=``, with a
    :class:`DeprecationWarning` (the old spellings go in the next release)."""
    if old_value is None:
        return value
    warnings.warn(
        f"bias_report({old_name}=) is deprecated and will be removed in the next release; "
        f"use {new_name}=",
        DeprecationWarning,
        stacklevel=3,
    )
    if value is not None and value != old_value:
        raise InputError(
            f"bias_report got both {new_name}={value!r} and {old_name}={old_value!r}; use {new_name}=",
            param=new_name,
        )
    return old_value
@dataclass
class BiasReport:
    """Result of :func:`bias_report`.

    Attributes
    ----------
    table : one row per group (see :data:`TABLE_COLUMNS`; entropies in nats, target
        statistics in the target's unit). Ok groups first, by entropy ascending.
    scores : dataset-level scores (``entropy_gap`` is the primary one) and settings.
    group, target : the grouping and target column names.
    values : sorted labelled target values per group (for plots and further analysis).
    settings : the arguments the report was computed with.
    gap_replicates : bootstrap replicates of ``entropy_gap`` (empty without bootstrap).
    """

    table: pd.DataFrame
    scores: dict[str, Any]
    group: str
    target: str
    values: dict[Any, np.ndarray] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    gap_replicates: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    @property
    def group_col(self) -> str:
        """The grouping column (same as ``group``)."""
        return self.group

    @property
    def target_col(self) -> str:
        """The target column (same as ``target``)."""
        return self.target

    # ---- export
    def table_records(self) -> list[dict[str, Any]]:
        """The table as a list of plain dicts (missing values as None)."""
        records = []
        for row in self.table.to_dict(orient="records"):
            records.append({k: _plain(v) for k, v in row.items()})
        return records

    def to_dict(self) -> dict[str, Any]:
        """Scores, settings and the per-group table as plain Python types (NaN -> None)."""
        from ..provenance import to_jsonable

        return {
            "group": self.group,
            "target": self.target,
            "settings": to_jsonable(self.settings),
            "scores": to_jsonable({k: _plain(v) for k, v in self.scores.items()}),
            "groups": self.table_records(),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (NaN -> null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save(self, out_dir: str | os.PathLike) -> list[Path]:
        """Write ``bias.csv``, ``bias.json``, ``target_distribution.{png,svg}`` and
        ``group_entropy.{png,svg}`` into ``out_dir``; return the written paths."""
        from .outputs import save_report

        return save_report(self, out_dir)

    # ---- figures
    def plot_distributions(self):
        """Violin plot of the target per group (ordered as in the table)."""
        from .outputs import plot_distributions

        return plot_distributions(self)

    def plot_entropy(self):
        """Entropy per group with confidence intervals; title shows ``entropy_gap``."""
        from .outputs import plot_entropy

        return plot_entropy(self)

    # ---- display
    def summary_lines(self) -> list[str]:
        """The dataset scores as short human-readable lines."""
        s = self.scores
        conf = s.get("confidence")
        lines = [
            f"groups: {s['n_groups']} ({s['n_groups_ok']} with an entropy estimate), "
            f"labelled rows: {s['n_labelled']}"
        ]
        gap = s.get("entropy_gap")
        if gap is not None and np.isfinite(gap):
            # D first: it moves whenever any group gains diversity; the gap follows
            for name in ("entropy_deficit", "entropy_gap"):
                value = s.get(name)
                if value is not None and np.isfinite(value):
                    lines.append(_score_line(s, name, conf))
            lines.append(
                f"entropy_min: {s['entropy_min']:.4f}  entropy_max: {s['entropy_max']:.4f}  "
                f"entropy_std: {s['entropy_std']:.4f} nats"
            )
        else:
            lines.append("entropy_gap: n/a")
        if s.get("most_underrepresented") is not None:
            lines.append(f"most under-represented: {s['most_underrepresented']}")
        if s.get("entropy_deficit_max") is not None and np.isfinite(s["entropy_deficit_max"]):
            lines.append(
                f"largest entropy deficit vs reference: {s['entropy_deficit_max']:.4f} nats "
                f"({s['most_depleted_vs_reference']})"
            )
        if s.get("note"):
            lines.append(f"note: {s['note']}")
        return lines

    def __str__(self) -> str:
        shown = self.table.copy()
        text = shown.to_string(
            index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"
        )
        head = f"Bias report: entropy of {self.target!r} per {self.group!r} (nats)"
        return "\n".join([head, text, *self.summary_lines()])

    def _repr_html_(self) -> str:
        import html

        table = self.table.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-")
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in self.summary_lines())
        head = html.escape(f"Bias report: entropy of {self.target!r} per {self.group!r} (nats)")
        return f"<div><strong>{head}</strong>{table}<ul>{lines}</ul></div>"


def _score_line(summary: dict, name: str, confidence: float) -> str:
    """``name: value nats`` with its interval (``name_ci_low`` / ``_ci_high``) when there is one."""
    lo, hi = summary.get(f"{name}_ci_low"), summary.get(f"{name}_ci_high")
    ci = f"  ({confidence:.0%} CI {lo:.4f} .. {hi:.4f})" if lo is not None and np.isfinite(lo) else ""
    label = {"entropy_deficit": "entropy_deficit (D, mean of max - h)", "entropy_gap": "entropy_gap (max - min)"}
    return f"{label.get(name, name)}: {summary[name]:.4f} nats{ci}"


def _plain(value: Any) -> Any:
    """pandas/NumPy scalar -> plain Python; missing -> None."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _check_settings(
    n_bootstrap: int, confidence: float, ties: str, window: int | None, method: str, ci_method: str
) -> None:
    check_choice("ci_method", ci_method, CI_METHODS)
    check_choice("ties", ties, TIES)
    check_int("n_bootstrap", n_bootstrap, low=0)  # 0 = no intervals
    check_float("confidence", confidence, low=0, high=1, low_open=True, high_open=True)
    check_int("window", window, low=1, allow_none=True)
    resolve_method(method, 100)  # raises InputError naming the valid methods


def _estimates(values: dict, *, method, window, ties, resolution, group_col: str, source: str) -> dict:
    """Entropy estimate of every group, all with the same (dataset-wide) resolution."""
    out = {}
    for label, x in values.items():
        try:
            out[label] = estimate_entropy(x, method=method, window=window, ties=ties, resolution=resolution)
        except EtalError as exc:  # same error type, but say which group, column and table
            param = "ties" if isinstance(exc, TiedValuesError) else exc.param
            raise type(exc)(f"{source}: group {label!r} of column {group_col!r}: {exc}", param=param) from exc
    return out


def _progress_bar(enabled: bool, total: int):
    if not enabled or total <= 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="bootstrap", unit="resample", leave=False)


def bias_report(
    data: pd.DataFrame | Any,
    group_col: str | None = None,
    target_col: str | None = None,
    *,
    method: str = "auto",
    window: int | None = None,
    ties: str = "floor",
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    ci_method: str = "smoothed",
    seed: int | None = 0,
    reference: pd.DataFrame | Any | None = None,
    reference_group_col: str | None = None,
    reference_target_col: str | None = None,
    subsample: int = SUBSAMPLE_SIZE,
    progress: bool = False,
    group: str | None = None,
    target: str | None = None,
    reference_group: str | None = None,
    reference_target: str | None = None,
) -> BiasReport:
    """Per-group entropy of a continuous target and dataset bias scores.

    Parameters
    ----------
    data : an :class:`etal.data.Dataset`, or a DataFrame (validated with
        :func:`etal.data.load_data`). Only labelled rows (target not NaN) are used.
    group_col, target_col : column names; default to the Dataset's columns, or to
        ``df.attrs["etal"]`` for embedded frames from :func:`etal.datasets.load_dataset`.
        (``group=`` and ``target=`` are deprecated spellings.)
    method : entropy estimator (``"auto"``, ``"vasicek"``, ``"van es"``, ``"ebrahimi"``,
        ``"correa"``); ``"auto"`` resolves per group size as SciPy does.
    window : window half-width m for every group; default floor(sqrt(n) + 0.5) per group.
    ties : ``"floor"`` (zero spacings floored at the dataset-wide resolution: the
        smallest positive gap of the whole labelled target, target units) or ``"error"``.
    n_bootstrap : bootstrap replicates for the intervals (0 = no intervals).
    confidence : nominal coverage of the intervals (e.g. 0.95).
    ci_method : ``"smoothed"`` (default), ``"percentile"`` or ``"basic"``; see
        :mod:`etal.bias.bootstrap` for what each does and its measured coverage.
    seed : seed of the bootstrap RNG (None = fresh entropy from the OS).
    reference : optional second dataset (e.g. a full database) to compare against;
        adds ``reference_n``, ``reference_entropy`` and ``entropy_deficit`` = reference −
        dataset entropy per group (nats; positive = less diverse than the reference).
        Its columns default to ``reference_group_col``/``reference_target_col``, then
        the reference's own defaults (Dataset or attrs), then ``group_col``/``target_col``.
    subsample : groups with more labelled values are bootstrapped through a subsample
        of this size (see :mod:`etal.bias.bootstrap`); the note names them.
    progress : show a tqdm progress bar of the bootstrap on stderr.

    Returns
    -------
    BiasReport
        ``table`` (one row per group, see :data:`TABLE_COLUMNS`) and ``scores``:
        ``entropy_gap`` (max − min entropy over groups with a finite entropy, nats; the
        primary score) and ``entropy_deficit`` (mean of max − h_g, nats), each with
        ``_ci_low/_ci_high``, ``entropy_min``, ``entropy_max``, ``entropy_std`` (ddof=0),
        ``n_groups``, ``n_groups_ok`` (groups with a finite entropy, constant ones
        included), ``most_underrepresented``, ``most_diverse``, ``n_labelled``, the
        settings, and ``note`` (which groups lack an estimate, which are constant;
        None when there is nothing to say).
    """
    group_col = _deprecated(group_col, "group", "group_col", group)
    target_col = _deprecated(target_col, "target", "target_col", target)
    reference_group_col = _deprecated(reference_group_col, "reference_group", "reference_group_col", reference_group)
    reference_target_col = _deprecated(
        reference_target_col, "reference_target", "reference_target_col", reference_target
    )
    _check_settings(n_bootstrap, confidence, ties, window, method, ci_method)
    if int(subsample) < MIN_SAMPLES * 2:
        raise InputError(f"subsample must be at least {2 * MIN_SAMPLES}, got {subsample!r}", param="subsample")
    dataset = as_dataset(data, group_col, target_col, "data")
    group_col, target_col, source = dataset.group_col, dataset.target_col, str(dataset.source)
    values, n_labelled = group_values(dataset)
    resolution = dataset_resolution(np.concatenate(list(values.values())))
    notes: list[str] = []

    # ---- point estimates, every group on the dataset's resolution
    estimates = _estimates(
        values, method=method, window=window, ties=ties, resolution=resolution,
        group_col=group_col, source=source,
    )  # fmt: skip
    ok = [label for label, e in estimates.items() if e.status == "ok"]
    constant = [label for label, e in estimates.items() if e.status == "constant" and np.isfinite(e.entropy)]

    # ---- bootstrap (groups in sorted label order; see etal.bias.bootstrap)
    alpha = 1.0 - float(confidence)
    bar = _progress_bar(progress, int(n_bootstrap) * len(ok))
    try:
        boot = bootstrap_groups(
            values, estimates, ok, n_bootstrap=int(n_bootstrap), ci_method=ci_method, seed=seed,
            window=window, subsample=int(subsample), tick=bar.update if bar is not None else None,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    subsampled = [f"{label} (n={values[label].size})" for label, b in boot.items() if b.subsample]
    if subsampled:
        notes.append(
            f"intervals of groups with more than {int(subsample)} labelled values come from "
            f"resamples of a random {int(subsample)}-value subsample, deviations scaled by "
            f"sqrt({int(subsample)}/n) (m-out-of-n bootstrap): {_listing(subsampled)}"
        )

    rows = []
    for label, x in values.items():
        e = estimates[label]
        ci = (np.nan, np.nan)
        if label in boot:
            ci = interval(e.entropy, boot[label].replicates, boot[label].world, alpha, ci_method)
        rows.append(
            {
                "group": label, "n": e.n, "entropy": e.entropy, "ci_low": ci[0], "ci_high": ci[1],
                "status": e.status, "ties": e.ties, "floored": e.floored, "method": e.method,
                "window": e.window, "target_min": float(x[0]),
                "target_median": float(np.median(x)), "target_max": float(x[-1]),
            }
        )  # fmt: skip

    reference_info = None
    if reference is not None:
        from .reference import compare_with_reference

        reference_info = compare_with_reference(
            rows, values, notes, reference, reference_group_col, reference_target_col,
            group_col, target_col, method=method, window=window,
        )  # fmt: skip

    table = _build_table(rows, with_reference=reference is not None)
    scores = _scores(table, values, n_labelled, estimates, ok, constant, boot, alpha, ci_method, notes)
    scores.update(method=method, confidence=float(confidence), ci_method=ci_method, n_bootstrap=int(n_bootstrap), seed=seed)
    _explain_statuses(table, window, resolution, notes)
    if reference is not None:
        deficit = table["entropy_deficit"].to_numpy(dtype=float)
        if np.isfinite(deficit).any():
            i = int(np.nanargmax(deficit))
            scores["entropy_deficit_max"] = float(deficit[i])
            scores["most_depleted_vs_reference"] = _plain(table["group"].iloc[i])
        else:
            scores["entropy_deficit_max"] = np.nan
            scores["most_depleted_vs_reference"] = None
    scores["note"] = "; ".join(notes) if notes else None

    settings = {
        "group": group_col,
        "target": target_col,
        "source": source,
        "method": method,
        "window": window,
        "ties": ties,
        "resolution": resolution,
        "n_bootstrap": int(n_bootstrap),
        "confidence": float(confidence),
        "seed": seed,
        "ci_method": ci_method,
        "bootstrap": DESCRIPTIONS[ci_method],
        "subsample": int(subsample),
        "entropy_std_ddof": 0,
        "reference": reference_info,
    }
    gap_replicates = scores.pop("_gap_replicates")
    return BiasReport(
        table=table, scores=scores, group=group_col, target=target_col, values=values,
        settings=settings, gap_replicates=gap_replicates,
    )  # fmt: skip


def _scores(table, values, n_labelled, estimates, ok, constant, boot, alpha, ci_method, notes) -> dict[str, Any]:
    """Dataset scores over the groups with a finite entropy (ok and constant ones)."""
    scored = table[table["status"].isin(_SCORED) & np.isfinite(table["entropy"].to_numpy(dtype=float))]
    h = scored["entropy"].to_numpy(dtype=float)
    scores: dict[str, Any] = {
        "entropy_gap": entropy_gap(h),
        "entropy_gap_ci_low": np.nan,
        "entropy_gap_ci_high": np.nan,
        "entropy_deficit": entropy_deficit(h),
        "entropy_deficit_ci_low": np.nan,
        "entropy_deficit_ci_high": np.nan,
        "entropy_min": float(h.min()) if h.size else np.nan,
        "entropy_max": float(h.max()) if h.size else np.nan,
        "entropy_std": float(h.std(ddof=0)) if h.size else np.nan,
        "n_groups": int(len(values)),
        "n_groups_ok": int(h.size),
        "most_underrepresented": _plain(scored["group"].iloc[0]) if h.size else None,
        "most_diverse": _plain(scored["group"].iloc[-1]) if h.size else None,
        "n_labelled": n_labelled,
        "_gap_replicates": np.empty(0),
    }
    if h.size < 2:
        notes.insert(
            0,
            f"entropy_gap needs at least 2 groups with an entropy estimate; found "
            f"{h.size} (a group needs at least {MIN_SAMPLES} distinct-enough labelled values)",
        )
        return scores
    if not boot:
        return scores
    # A constant group resamples to itself: its replicates are its entropy, every time.
    n_rep = next(iter(boot.values())).replicates.size
    labels = [label for label in values if label in boot or label in constant]
    stacked = np.vstack(
        [boot[label].replicates if label in boot else np.full(n_rep, estimates[label].entropy) for label in labels]
    )
    world_h = np.array([boot[label].world if label in boot else estimates[label].entropy for label in labels])
    gap_replicates = stacked.max(axis=0) - stacked.min(axis=0)
    deficit_replicates = np.mean(stacked.max(axis=0) - stacked, axis=0)
    lo, hi = interval(scores["entropy_gap"], gap_replicates, entropy_gap(world_h), alpha, ci_method)
    # Both scores are >= 0: the part of a pivotal interval below 0 holds no possible value.
    scores["entropy_gap_ci_low"], scores["entropy_gap_ci_high"] = max(lo, 0.0), max(hi, 0.0)
    lo, hi = interval(scores["entropy_deficit"], deficit_replicates, entropy_deficit(world_h), alpha, ci_method)
    scores["entropy_deficit_ci_low"], scores["entropy_deficit_ci_high"] = max(lo, 0.0), max(hi, 0.0)
    scores["_gap_replicates"] = gap_replicates
    return scores


def _explain_statuses(table: pd.DataFrame, window, resolution: float, notes: list[str]) -> None:
    """Notes on the groups without an estimate, the constant ones and the floored ones."""
    too_few = table[(table["status"] == "too_few") & (table["n"] > 0)]
    if len(too_few):
        listed = _listing([f"{g} (n={n})" for g, n in zip(too_few["group"], too_few["n"])])
        need = MIN_SAMPLES if window is None else max(MIN_SAMPLES, 2 * int(window) + 1)
        why = "" if window is None else f" with window {int(window)}"
        notes.append(
            f"too few labelled values for an entropy estimate (need {need}{why}), left "
            f"out of the scores: {listed}"
        )
    constant = table[table["status"] == "constant"]
    finite = constant[np.isfinite(constant["entropy"].to_numpy(dtype=float))]
    if len(finite):
        notes.append(
            f"all values equal, entropy from spacings floored at the dataset's resolution "
            f"({resolution:.4g}), the least diverse a group can be; counted in the scores: "
            + _listing(map(str, finite["group"]))
        )
    if len(constant) > len(finite):
        notes.append(
            "all values equal and the whole target holds one value (no resolution), left "
            "out of the scores: " + _listing(map(str, constant["group"][~constant.index.isin(finite.index)]))
        )
    floored = table[(table["floored"] > 0) & (table["status"] == "ok")]
    if len(floored):
        notes.append(
            "tied values gave zero spacings, floored at the dataset's resolution in: "
            + _listing(map(str, floored["group"]))
        )


def _listing(items, limit: int = 10) -> str:
    items = list(items)
    more = f" and {len(items) - limit} more (see the table)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _build_table(rows: list[dict], with_reference: bool) -> pd.DataFrame:
    columns = list(TABLE_COLUMNS) + (list(REFERENCE_COLUMNS) if with_reference else [])
    table = pd.DataFrame(rows)
    scored = table["status"].isin(_SCORED) & np.isfinite(table["entropy"].to_numpy(dtype=float))
    # Groups with a finite entropy by entropy ascending, then the rest by status and label.
    order_key = pd.DataFrame(
        {
            "block": np.where(scored, 0, 1),
            "entropy": np.where(scored, table["entropy"], 0.0),
            "status": table["status"],
            "label": table["group"].astype(str),
        }
    )
    order = order_key.sort_values(["block", "entropy", "status", "label"], kind="stable").index
    table = table.loc[order].reset_index(drop=True)
    scored = scored.loc[order].reset_index(drop=True)
    table["rank"] = table["entropy"].where(scored).rank(method="min").astype("Int64")
    for col in ("n", "ties", "floored"):
        table[col] = table[col].astype(int)
    table["window"] = pd.array(table["window"], dtype="Int64")
    if with_reference:
        table["reference_n"] = table["reference_n"].astype(int)
    return table[columns]
