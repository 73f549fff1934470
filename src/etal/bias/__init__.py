"""The bias report: how diverse is the target inside each group, and how uneven is that?

For every group g (a crystal system, a chemical family, any categorical column) the report
estimates the differential entropy h_g of the group's labelled target values (nats, the
spacing estimators of :mod:`etal.entropy`), a bootstrap confidence interval for it, and
scalar scores for the whole dataset. Low entropy = low diversity = under-represented
group (Zhang et al., Appl. Phys. Rev. 10, 021403, 2023).

Choices made here (the paper is silent on them):

* ``entropy_gap`` = max_g h_g − min_g h_g over groups with status ``ok`` is the primary
  score; ``entropy_std`` is the *population* standard deviation (ddof=0) over the same
  groups, because the groups present are the whole population being described, not a
  sample of groups. Both are invariant to the target's unit (rescaling the target adds
  the same log(scale) to every h_g), unlike the entropies themselves.
* Confidence intervals (``ci_method``) are seeded bootstraps; each ok group is
  resampled ``n_bootstrap`` times. The honest criterion for an interval is how often
  it contains the TRUE differential entropy, not the estimate: the spacing estimators
  are biased at small n (about -0.23 nats for normal data at n=8, -0.12 at n=25; but
  +0.04 to +0.07 for heavy tails or two modes at n=100-400), so the estimator's
  expectation is not the true entropy, and an interval that only describes the
  estimator's spread around itself can be tight and still miss.

  ``"smoothed"`` (default): each resample is drawn with replacement and jittered by
  N(0, b^2), b = 0.5 x Silverman's rule, 0.9 min(sd, IQR/1.349) n^(-1/5) (the sd alone
  if the IQR is 0). The resamples are then samples from a known density, the Gaussian
  kernel density f_b of the data, whose true entropy H(f_b) is computed numerically.
  So the replicates' offset from H(f_b) models the estimator's error, bias included,
  and the interval is the pivotal (basic) one, [h - (q_hi - H(f_b)), h - (q_lo -
  H(f_b))], with q the replicates' alpha/2 and 1 - alpha/2 quantiles. Jitter also
  removes the ties that plain resamples have (which shrink spacings and pull the
  replicates low). The factor 0.5 was chosen by the benchmark: Silverman's full
  bandwidth oversmooths multimodal groups, whose bias then comes out wrong. The
  interval is not forced to contain the estimate: where the estimator is biased, it
  sits off-centre (above the estimate for small normal groups, below it for
  heavy-tailed groups of a few hundred).

  ``"percentile"``: plain resamples (ties floored at the ORIGINAL data's resolution),
  the replicates' quantiles: the old default. It describes the spread of the
  replicates, which ties pull low, and badly under-covers the truth. ``"basic"``: the
  same replicates, reflected about the estimate (2h - quantiles); better at small n,
  but it fails where ties dominate (uniform, large n) and for heavy tails and two
  modes.

  Measured coverage of the true entropy by nominal 95 % intervals (``python
  benchmarks/bench_bias_coverage.py``: 200 samples per cell, 500 resamples each; Monte
  Carlo error about +-1.5 %), n = 8 / 25 / 100 / 400 / 1500:

  ================  ==============================  ==============================
  distribution      smoothed (default)              percentile (old default)
  ================  ==============================  ==============================
  normal            0.95 0.91 0.91 0.92 0.93        0.64 0.42 0.74 0.85 0.81
  uniform           0.94 0.98 1.00 1.00 1.00        0.91 0.18 0.02 0.00 0.00
  exponential       0.92 0.85 0.89 0.90 0.94        0.77 0.70 0.90 0.92 0.89
  gamma(2)          0.94 0.88 0.94 0.95 0.94        0.73 0.54 0.76 0.89 0.81
  lognormal(0.5)    0.92 0.91 0.92 0.94 0.95        0.67 0.51 0.76 0.90 0.91
  Student t(3)      0.92 0.86 0.93 0.90 0.95        0.61 0.61 0.90 0.91 0.93
  bimodal mixture   0.80 0.79 0.83 0.89 0.94        0.98 0.75 0.89 0.93 0.95
  ================  ==============================  ==============================

  (basic: 0.43-0.99 outside the uniform n=1500 cell, where it is 0.00.) The smoothed
  interval's mean width is within 15 % of the percentile one's, except at n=8, where
  it is ~30 % narrower (1.3-1.5 vs 1.8-2.0 nats), and for uniform data at n >= 400,
  where it is 2-3 times as wide (0.07 vs 0.04 nats at n=400; it must reach the
  estimator's bias there, which the percentile interval misses). Its weak spot is a
  mixture of two unequal modes (N(-2, 1) + N(2, 0.5)) with n <= 100: 0.79-0.83. Tied
  (discretised) values are not modelled: the jittered resamples have no ties, so with
  many ties the interval ignores what the tie floor does to the estimate.
* The gap's interval resamples every ok group independently, groups visited in sorted
  label order (so the result does not depend on row order), and recomputes the gap
  (max - min) per replicate; the per-group intervals come from the same replicates.
  ``"smoothed"`` and ``"basic"`` use the same pivotal form as for a group, with the
  gap of the bootstrap world's true entropies (H(f_b) per group; the estimates for
  ``"basic"``) as its centre, clipped at 0 (the gap cannot be negative). This corrects
  the upward bias of a max - min of noisy estimates, so the interval usually reaches
  below the observed gap. A very small group widens it a lot. Coverage of the true
  gap (three normal groups, sd 0.5 / 1 / 2, 100 data sets each), smoothed vs
  percentile: 0.91 vs 0.94 (n=25 each), 0.85 vs 0.89 (100), 0.97 vs 0.96 (400),
  0.88-0.90 vs 0.49-0.52 (n=25/100/400, either order); three identical groups (true
  gap 0): 0.87-0.90 vs 0.00.
* Random streams: ``"percentile"``/``"basic"`` draw all resample indices from one
  ``numpy.random.default_rng(seed)`` stream; ``"smoothed"`` uses the two child streams
  of ``numpy.random.SeedSequence(seed).spawn(2)`` (indices; jitter), so its results do
  not depend on batching.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..entropy import MIN_SAMPLES, entropy_of_sorted, estimate_entropy, resolve_method
from ..errors import EtalError, InputError

__all__ = ["BiasReport", "bias_report", "TABLE_COLUMNS", "REFERENCE_COLUMNS", "CI_METHODS"]

#: Per-group columns of :attr:`BiasReport.table`, in order.
TABLE_COLUMNS: tuple[str, ...] = (
    "group",
    "n",
    "entropy",
    "ci_low",
    "ci_high",
    "rank",
    "status",
    "ties",
    "floored",
    "method",
    "window",
    "target_min",
    "target_median",
    "target_max",
)
#: Extra columns when a reference dataset is given.
REFERENCE_COLUMNS: tuple[str, ...] = ("reference_n", "reference_entropy", "entropy_deficit")

#: Interval methods of :func:`bias_report` (the first is the default); see the module
#: docstring for what each does and how well it covers the true entropy.
CI_METHODS: tuple[str, ...] = ("smoothed", "percentile", "basic")

# Bound on the number of float64 elements of one bootstrap batch (about 16 MB); the
# estimators make a few temporaries of this size.
_BATCH_ELEMENTS = 2_000_000

# Smoothed bootstrap: jitter bandwidth = this factor x Silverman's rule of thumb. Chosen
# by benchmarks/bench_bias_coverage.py (factor 1 oversmooths multimodal groups).
_SMOOTHING_FACTOR = 0.5
# The Gaussian kernel is cut at this many bandwidths (mass beyond: ~1e-15).
_KERNEL_REACH = 8.0
# Grid step of the smoothed density's entropy, in bandwidths, and a cap on grid points.
_GRID_STEP = 1.0 / 40.0
_GRID_POINTS_MAX = 1 << 22


# --------------------------------------------------------------------------- input


def _is_dataset(obj: Any) -> bool:
    # Duck-typed so this module does not import etal.data (and works with any object
    # that exposes the same attributes).
    return not isinstance(obj, pd.DataFrame) and all(
        hasattr(obj, name) for name in ("frame", "group_col", "target_col")
    )


def _missing_column(name: str, role: str, columns, source: str) -> InputError:
    columns = [str(c) for c in columns]
    close = difflib.get_close_matches(str(name), columns, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
    return InputError(
        f"{role} column {name!r} not found in {source}.{hint} Available columns: {shown}"
    )


def _resolve(
    data: Any, group: str | None, target: str | None, what: str
) -> tuple[pd.DataFrame, str, str, str]:
    """Return (frame, group column, target column, source description)."""
    if _is_dataset(data):
        frame = data.frame
        group = group if group is not None else data.group_col
        target = target if target is not None else data.target_col
        source = str(getattr(data, "source", None) or what)
    elif isinstance(data, pd.DataFrame):
        frame = data
        meta = data.attrs.get("etal") or {}
        group = group if group is not None else meta.get("group")
        target = target if target is not None else meta.get("target")
        source = f"{what} ({meta['name']})" if meta.get("name") else what
    else:
        raise InputError(
            f"the {what} must be a pandas DataFrame or an etal Dataset, got "
            f"{type(data).__name__}; load a file with etal.data.load_data(path) first"
        )
    if group is None:
        raise InputError(
            f"no group column given for the {what}: pass group='<column>' (the column "
            "whose values define the groups, e.g. 'crystal_system')"
        )
    if target is None:
        raise InputError(
            f"no target column given for the {what}: pass target='<column>' (the "
            "continuous property, e.g. 'formation_energy_per_atom')"
        )
    for name, role in ((group, "group"), (target, "target")):
        if name not in frame.columns:
            raise _missing_column(name, role, frame.columns, source)
    return frame, group, target, source


def _labelled_values(
    frame: pd.DataFrame, group: str, target: str, source: str
) -> tuple[dict[Any, np.ndarray], int, list[str]]:
    """Sorted target values per group from the labelled rows, their count, and notes."""
    raw = frame[target]
    numeric = pd.to_numeric(raw, errors="coerce")
    bad = numeric.isna() & raw.notna()
    if bad.any():
        rows = list(frame.index[bad.to_numpy()][:5])
        examples = list(raw[bad].astype(str).iloc[:3])
        raise InputError(
            f"target column {target!r} in {source} has {int(bad.sum())} non-numeric "
            f"value(s) (rows {rows}, e.g. {examples}); the target must be a continuous "
            "number: fix or blank those cells"
        )
    y = numeric.to_numpy(dtype=float)
    infinite = np.isinf(y)
    if infinite.any():
        rows = list(frame.index[infinite][:5])
        raise InputError(
            f"target column {target!r} in {source} has {int(infinite.sum())} infinite "
            f"value(s) (rows {rows}); fix or blank them"
        )
    labelled = ~np.isnan(y)
    if not labelled.any():
        raise InputError(
            f"target column {target!r} in {source} has no values: a bias report needs "
            "labelled rows"
        )
    notes = []
    groups = frame[group]
    no_group = labelled & groups.isna().to_numpy()
    if no_group.any():
        rows = list(frame.index[no_group][:5])
        notes.append(
            f"{int(no_group.sum())} labelled row(s) have no {group!r} value and were "
            f"left out (rows {rows})"
        )
    keep = labelled & ~no_group
    if not keep.any():
        raise InputError(
            f"no labelled row of {source} has a value in group column {group!r}"
        )
    used = pd.DataFrame({"g": groups.to_numpy()[keep], "y": y[keep]})
    values = {
        label: np.sort(part["y"].to_numpy(dtype=float))
        for label, part in used.groupby("g", sort=True, observed=True)
    }
    return values, int(keep.sum()), notes


# ---------------------------------------------------------------------- bootstrap


def _bootstrap_entropies(
    sorted_values: np.ndarray,
    n_bootstrap: int,
    rng: np.random.Generator,
    method: str,
    window: int,
    resolution: float,
) -> np.ndarray:
    """Entropy (nats) of ``n_bootstrap`` resamples with replacement, batched.

    The spacing floor is the original sample's ``resolution`` for every resample.
    """
    n = sorted_values.size
    rows = max(1, _BATCH_ELEMENTS // n)
    out = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, rows):
        stop = min(start + rows, n_bootstrap)
        idx = rng.integers(0, n, size=(stop - start, n))
        # Indices into sorted data, sorted, give sorted resamples without sorting floats.
        idx.sort(axis=1)
        out[start:stop] = entropy_of_sorted(sorted_values[idx], method, window, resolution)
    return out


def _smoothing_bandwidth(sorted_values: np.ndarray, factor: float = _SMOOTHING_FACTOR) -> float:
    """Jitter bandwidth (target units): ``factor`` x Silverman's rule of thumb,
    0.9 min(sd, IQR/1.349) n^(-1/5), with the sd alone when the IQR is 0."""
    x = np.asarray(sorted_values, dtype=float)
    sd = float(np.std(x, ddof=1))
    q25, q75 = np.quantile(x, [0.25, 0.75])
    iqr = float(q75 - q25)
    spread = min(sd, iqr / 1.349) if iqr > 0 else sd
    return float(factor * 0.9 * spread * x.size ** -0.2)


def _smoothed_entropy(sorted_values: np.ndarray, bandwidth: float) -> float:
    """Differential entropy (nats) of the Gaussian kernel density of ``sorted_values``
    with ``bandwidth``: the true entropy of the smoothed bootstrap's world.

    Numerical: linear binning on a grid of step ``bandwidth``/40, an FFT convolution
    with the kernel, and a Riemann sum of -f log f (spectrally accurate for a smooth f);
    the kernel's bandwidth is reduced by the variance that binning adds on average
    (step^2/6), so the error is ~1e-5 nats, at most ~5e-5 when the data sit on grid
    nodes. Gaps wider than two kernel reaches are shrunk to two reaches first: the
    density there is ~0, so the entropy is unchanged and outliers do not blow up the
    grid.
    """
    x = np.asarray(sorted_values, dtype=float)
    n = x.size
    reach = _KERNEL_REACH * bandwidth
    excess = np.clip(np.diff(x) - 2 * reach, 0.0, None)
    x = x - np.concatenate(([0.0], np.cumsum(excess)))
    span = x[-1] - x[0] + 2 * reach
    step = min(max(bandwidth * _GRID_STEP, span / _GRID_POINTS_MAX), bandwidth / 2)
    points = int(np.ceil(span / step)) + 2
    position = (x - (x[0] - reach)) / step
    left = np.floor(position).astype(np.int64)
    right_share = position - left
    mass = np.bincount(left, 1.0 - right_share, minlength=points)
    mass += np.bincount(left + 1, right_share, minlength=points)
    mass /= n
    kernel_sd = np.sqrt(bandwidth**2 - step**2 / 6.0)  # binning adds variance step^2/6
    half = int(np.ceil(reach / step))
    offsets = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (offsets / kernel_sd) ** 2) / (kernel_sd * np.sqrt(2 * np.pi))
    # Full linear convolution by FFT (NumPy's: scipy.signal costs ~1 s to import).
    size = mass.size + kernel.size - 1
    n_fft = 1 << (size - 1).bit_length()
    density = np.fft.irfft(np.fft.rfft(mass, n_fft) * np.fft.rfft(kernel, n_fft), n_fft)[:size]
    density = density[density > 1e-300]  # FFT round-off can give tiny negatives
    return float(-np.sum(density * np.log(density)) * step)


def _smoothed_bootstrap_entropies(
    sorted_values: np.ndarray,
    n_bootstrap: int,
    index_rng: np.random.Generator,
    noise_rng: np.random.Generator,
    method: str,
    window: int,
    resolution: float,
    bandwidth: float,
) -> np.ndarray:
    """Entropy (nats) of ``n_bootstrap`` smoothed resamples, batched: values drawn
    with replacement plus N(0, ``bandwidth``^2) jitter. Indices and jitter come from
    two streams, so the result does not depend on the batch size."""
    n = sorted_values.size
    rows = max(1, _BATCH_ELEMENTS // n)
    out = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, rows):
        stop = min(start + rows, n_bootstrap)
        idx = index_rng.integers(0, n, size=(stop - start, n))
        resample = sorted_values[idx] + bandwidth * noise_rng.standard_normal((stop - start, n))
        resample.sort(axis=1)
        # The floor only matters for exact float ties, which jitter makes improbable.
        out[start:stop] = entropy_of_sorted(resample, method, window, resolution)
    return out


def _interval(
    estimate: float,
    replicates: np.ndarray,
    world_value: float,
    alpha: float,
    ci_method: str,
) -> tuple[float, float]:
    """Two-sided interval from bootstrap replicates.

    ``percentile``: the replicates' alpha/2 and 1 - alpha/2 quantiles. ``basic`` and
    ``smoothed``: the pivotal interval estimate - (quantile - world_value), where
    ``world_value`` is the statistic's true value in the bootstrap's world (the
    estimate itself for the plain bootstrap, the kernel density's for the smoothed
    one), so the replicates' offset from it models the estimator's bias and spread.
    """
    lo, hi = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    if ci_method == "percentile":
        return float(lo), float(hi)
    return float(estimate - (hi - world_value)), float(estimate - (lo - world_value))


# ------------------------------------------------------------------------ report


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
        from ..plots import save_figure
        from ..provenance import atomic_write_text

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [
            atomic_write_text(out / "bias.csv", self.table.to_csv(index=False)),
            atomic_write_text(out / "bias.json", self.to_json() + "\n"),
        ]
        paths += save_figure(self.plot_distributions(), out, "target_distribution")
        paths += save_figure(self.plot_entropy(), out, "group_entropy")
        return paths

    # ---- figures
    def plot_distributions(self):
        """Violin plot of the target per group (ordered as in the table)."""
        from ..plots.bias import plot_target_distributions

        ordered = {label: self.values.get(label, np.empty(0)) for label in self.table["group"]}
        entropy = dict(zip(self.table["group"], self.table["entropy"]))
        return plot_target_distributions(ordered, self.target, entropy_by_group=entropy)

    def plot_entropy(self):
        """Entropy per group with confidence intervals; title shows ``entropy_gap``."""
        from ..plots.bias import plot_group_entropy

        return plot_group_entropy(
            self.table,
            entropy_gap=self.scores.get("entropy_gap"),
            gap_ci=(self.scores.get("entropy_gap_ci_low"), self.scores.get("entropy_gap_ci_high")),
            confidence=self.scores.get("confidence"),
            group_label=self.group,
            target_label=self.target,
        )

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
            ci = ""
            lo, hi = s.get("entropy_gap_ci_low"), s.get("entropy_gap_ci_high")
            if lo is not None and np.isfinite(lo):
                ci = f"  ({conf:.0%} CI {lo:.4f} .. {hi:.4f})"
            lines.append(f"entropy_gap: {gap:.4f} nats{ci}")
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
    if ci_method not in CI_METHODS:
        raise InputError(
            f"ci_method (--ci-method) must be one of {', '.join(map(repr, CI_METHODS))}, "
            f"got {ci_method!r}"
        )
    if ties not in ("floor", "error"):
        raise InputError(f"ties must be 'floor' or 'error', got {ties!r}")
    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise InputError(
            f"n_bootstrap (--bootstrap) must be a whole number >= 0 (0 = no intervals), "
            f"got {n_bootstrap!r}"
        )
    if not 0 < float(confidence) < 1:
        raise InputError(
            f"confidence (--confidence) must be between 0 and 1 (e.g. 0.95), got {confidence!r}"
        )
    if window is not None and (int(window) != window or window < 1):
        raise InputError(f"window (--window) must be a whole number >= 1, got {window!r}")
    resolve_method(method, 100)  # raises InputError naming the valid methods


def bias_report(
    data: pd.DataFrame | Any,
    group: str | None = None,
    target: str | None = None,
    *,
    method: str = "auto",
    window: int | None = None,
    ties: str = "floor",
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    ci_method: str = "smoothed",
    seed: int | None = 0,
    reference: pd.DataFrame | Any | None = None,
    reference_group: str | None = None,
    reference_target: str | None = None,
) -> BiasReport:
    """Per-group entropy of a continuous target and dataset bias scores.

    Parameters
    ----------
    data : a DataFrame or an :class:`etal.data.Dataset`. Only labelled rows (target not
        NaN) are used.
    group, target : column names; default to the Dataset's columns, or to
        ``df.attrs["etal"]`` for embedded frames from :func:`etal.datasets.load_dataset`.
    method : entropy estimator (``"auto"``, ``"vasicek"``, ``"van es"``, ``"ebrahimi"``,
        ``"correa"``); ``"auto"`` resolves per group size as SciPy does.
    window : window half-width m for every group; default floor(sqrt(n) + 0.5) per group.
    ties : ``"floor"`` (zero spacings floored at the data's resolution) or ``"error"``.
    n_bootstrap : bootstrap replicates for the intervals (0 = no intervals).
    confidence : nominal coverage of the intervals (e.g. 0.95).
    ci_method : ``"smoothed"`` (default: smoothed bootstrap, pivotal interval centred on
        the smoothed density's true entropy), ``"percentile"`` (plain bootstrap
        quantiles; poorly calibrated, kept for comparison) or ``"basic"`` (plain
        bootstrap, reverse percentile). See the module docstring for measured coverage.
    seed : seed of the bootstrap RNG (None = fresh entropy from the OS).
    reference : optional second dataset (e.g. a full database) to compare against;
        adds ``reference_n``, ``reference_entropy`` and ``entropy_deficit`` = reference −
        dataset entropy (nats; positive = less diverse than the reference). Its columns
        default to ``reference_group``/``reference_target``, then the reference's own
        defaults (Dataset or attrs), then ``group``/``target``.

    Returns
    -------
    BiasReport
        ``table`` (one row per group, see :data:`TABLE_COLUMNS`) and ``scores``:
        ``entropy_gap`` (max − min entropy over ok groups, nats; the primary score),
        ``entropy_gap_ci_low/high``, ``entropy_min``, ``entropy_max``, ``entropy_std``
        (ddof=0), ``n_groups``, ``n_groups_ok``, ``most_underrepresented``,
        ``most_diverse``, ``n_labelled``, the settings, and ``note`` (why a score is
        missing, which groups lack an estimate; None when there is nothing to say).
    """
    _check_settings(n_bootstrap, confidence, ties, window, method, ci_method)
    frame, group, target, source = _resolve(data, group, target, "data")
    values, n_labelled, notes = _labelled_values(frame, group, target, source)

    # ---- point estimates
    estimates = {}
    for label, x in values.items():
        try:
            estimates[label] = estimate_entropy(x, method=method, window=window, ties=ties)
        except EtalError as exc:  # same error type, but say which group
            raise type(exc)(f"group {label!r} of column {group!r}: {exc}") from exc
    ok = [label for label, e in estimates.items() if e.status == "ok"]

    # ---- bootstrap (groups in sorted label order; see the module docstring)
    rng = np.random.default_rng(seed)
    alpha = 1.0 - float(confidence)
    replicates: dict[Any, np.ndarray] = {}
    # The statistic's true value in the bootstrap's world, per group.
    world: dict[Any, float] = {}
    if n_bootstrap > 0 and ci_method == "smoothed":
        # = rng.spawn(2), written so that NumPy 1.24 (no Generator.spawn) works too.
        index_rng, noise_rng = map(np.random.default_rng, np.random.SeedSequence(seed).spawn(2))
        for label in ok:
            e, x = estimates[label], values[label]
            bandwidth = _smoothing_bandwidth(x)
            world[label] = _smoothed_entropy(x, bandwidth)
            replicates[label] = _smoothed_bootstrap_entropies(
                x, int(n_bootstrap), index_rng, noise_rng, e.method, e.window,
                e.resolution, bandwidth,
            )  # fmt: skip
    elif n_bootstrap > 0:
        for label in ok:
            e = estimates[label]
            world[label] = e.entropy
            replicates[label] = _bootstrap_entropies(
                values[label], int(n_bootstrap), rng, e.method, e.window, e.resolution
            )

    rows = []
    for label, x in values.items():
        e = estimates[label]
        ci = (np.nan, np.nan)
        if label in replicates:
            ci = _interval(e.entropy, replicates[label], world[label], alpha, ci_method)
        rows.append(
            {
                "group": label,
                "n": e.n,
                "entropy": e.entropy,
                "ci_low": ci[0],
                "ci_high": ci[1],
                "status": e.status,
                "ties": e.ties,
                "floored": e.floored,
                "method": e.method,
                "window": e.window,
                "target_min": float(x[0]),
                "target_median": float(np.median(x)),
                "target_max": float(x[-1]),
            }
        )

    # ---- reference comparison
    reference_info = None
    if reference is not None:
        ref_default_group = reference_group
        ref_default_target = reference_target
        if ref_default_group is None and not _has_default(reference, "group"):
            ref_default_group = group
        if ref_default_target is None and not _has_default(reference, "target"):
            ref_default_target = target
        rframe, rgroup, rtarget, rsource = _resolve(
            reference, ref_default_group, ref_default_target, "reference"
        )
        rvalues, rn, rnotes = _labelled_values(rframe, rgroup, rtarget, rsource)
        notes += [f"reference: {n}" for n in rnotes]
        restimates = {
            label: estimate_entropy(x, method=method, window=window, ties="floor")
            for label, x in rvalues.items()
        }
        for row in rows:
            r = restimates.get(row["group"])
            row["reference_n"] = r.n if r else 0
            row["reference_entropy"] = r.entropy if r else np.nan
            row["entropy_deficit"] = (r.entropy - row["entropy"]) if r else np.nan
        absent = [label for label in rvalues if label not in values]
        for label in absent:
            r = restimates[label]
            rows.append(
                {
                    "group": label, "n": 0, "entropy": np.nan, "ci_low": np.nan,
                    "ci_high": np.nan, "status": "too_few", "ties": 0, "floored": 0,
                    "method": None, "window": None, "target_min": np.nan,
                    "target_median": np.nan, "target_max": np.nan,
                    "reference_n": r.n, "reference_entropy": r.entropy,
                    "entropy_deficit": np.nan,
                }
            )
        if absent:
            notes.append(
                f"group(s) present in the reference but with no labelled row here: "
                f"{', '.join(map(str, absent))}"
            )
        reference_info = {"source": rsource, "group": rgroup, "target": rtarget, "n_labelled": rn}

    table = _build_table(rows, with_reference=reference is not None)

    # ---- dataset scores
    ok_table = table[table["status"] == "ok"]
    h = ok_table["entropy"].to_numpy(dtype=float)
    scores: dict[str, Any] = {
        "entropy_gap": np.nan,
        "entropy_gap_ci_low": np.nan,
        "entropy_gap_ci_high": np.nan,
        "entropy_min": float(h.min()) if h.size else np.nan,
        "entropy_max": float(h.max()) if h.size else np.nan,
        "entropy_std": float(h.std(ddof=0)) if h.size else np.nan,
        "n_groups": int(len(values)),
        "n_groups_ok": int(h.size),
        "most_underrepresented": _plain(ok_table["group"].iloc[0]) if h.size else None,
        "most_diverse": _plain(ok_table["group"].iloc[-1]) if h.size else None,
        "n_labelled": n_labelled,
        "method": method,
        "confidence": float(confidence),
        "ci_method": ci_method,
        "n_bootstrap": int(n_bootstrap),
        "seed": seed,
    }
    gap_replicates = np.empty(0)
    if h.size >= 2:
        scores["entropy_gap"] = float(h.max() - h.min())
        if replicates:
            stacked = np.vstack([replicates[label] for label in ok])
            gap_replicates = stacked.max(axis=0) - stacked.min(axis=0)
            world_h = np.array([world[label] for label in ok])
            lo, hi = _interval(
                scores["entropy_gap"], gap_replicates, float(world_h.max() - world_h.min()),
                alpha, ci_method,
            )  # fmt: skip
            # The gap is >= 0: the part of a pivotal interval below 0 holds no possible value.
            scores["entropy_gap_ci_low"], scores["entropy_gap_ci_high"] = max(lo, 0.0), max(hi, 0.0)
    else:
        notes.insert(
            0,
            f"entropy_gap needs at least 2 groups with an entropy estimate; found "
            f"{h.size} (a group needs at least {MIN_SAMPLES} distinct-enough labelled values)",
        )
    lacking = table[table["status"] != "ok"]
    too_few = lacking[(lacking["status"] == "too_few") & (lacking["n"] > 0)]
    if len(too_few):
        listed = _listing([f"{g} (n={n})" for g, n in zip(too_few["group"], too_few["n"])])
        need = MIN_SAMPLES if window is None else max(MIN_SAMPLES, 2 * int(window) + 1)
        why = "" if window is None else f" with window {int(window)}"
        notes.append(
            f"too few labelled values for an entropy estimate (need {need}{why}), left "
            f"out of the scores: {listed}"
        )
    constant = lacking[lacking["status"] == "constant"]
    if len(constant):
        notes.append(
            "all values equal (entropy -inf), left out of the scores: "
            + _listing(map(str, constant["group"]))
        )
    floored = table[table["floored"] > 0]
    if len(floored):
        notes.append(
            "tied values gave zero spacings, floored at the data's resolution in: "
            + _listing(map(str, floored["group"]))
        )
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
        "group": group,
        "target": target,
        "source": source,
        "method": method,
        "window": window,
        "ties": ties,
        "n_bootstrap": int(n_bootstrap),
        "confidence": float(confidence),
        "seed": seed,
        "ci_method": ci_method,
        "bootstrap": _BOOTSTRAP_DESCRIPTION[ci_method],
        "entropy_std_ddof": 0,
        "reference": reference_info,
    }
    return BiasReport(
        table=table,
        scores=scores,
        group=group,
        target=target,
        values=values,
        settings=settings,
        gap_replicates=gap_replicates,
    )


_BOOTSTRAP_DESCRIPTION = {
    "smoothed": "smoothed bootstrap (resample + Gaussian jitter, bandwidth "
    f"{_SMOOTHING_FACTOR} x Silverman's rule per group), pivotal interval centred on the "
    "kernel density's entropy; groups resampled independently",
    "percentile": "percentile; groups resampled independently; spacing floor fixed at "
    "each group's original resolution",
    "basic": "basic (reverse percentile); groups resampled independently; spacing floor "
    "fixed at each group's original resolution",
}


def _listing(items, limit: int = 10) -> str:
    items = list(items)
    more = f" and {len(items) - limit} more (see the table)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _has_default(data: Any, role: str) -> bool:
    if _is_dataset(data):
        return getattr(data, f"{role}_col", None) is not None
    if isinstance(data, pd.DataFrame):
        return bool((data.attrs.get("etal") or {}).get(role))
    return False


def _build_table(rows: list[dict], with_reference: bool) -> pd.DataFrame:
    columns = list(TABLE_COLUMNS) + (list(REFERENCE_COLUMNS) if with_reference else [])
    table = pd.DataFrame(rows)
    is_ok = table["status"] == "ok"
    # ok groups by entropy ascending, then the rest by status and label.
    order_key = pd.DataFrame(
        {
            "block": np.where(is_ok, 0, 1),
            "entropy": np.where(is_ok, table["entropy"], 0.0),
            "status": table["status"],
            "label": table["group"].astype(str),
        }
    )
    order = order_key.sort_values(["block", "entropy", "status", "label"], kind="stable").index
    table = table.loc[order].reset_index(drop=True)
    ok_h = table["entropy"].where(table["status"] == "ok")
    table["rank"] = ok_h.rank(method="min").astype("Int64")
    for col in ("n", "ties", "floored"):
        table[col] = table[col].astype(int)
    table["window"] = pd.array(table["window"], dtype="Int64")
    if with_reference:
        table["reference_n"] = table["reference_n"].astype(int)
    return table[columns]
