"""Bootstrap maths of the bias report: resampled group entropies and intervals.

Pure functions on NumPy arrays (no pandas, no I/O). :func:`bootstrap_groups` resamples
every group of a report in sorted label order and returns each group's replicates and
the statistic's value in the bootstrap's world; :func:`interval` turns replicates into a
two-sided interval.

Choices (the paper is silent on them):

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
* Large groups (more than ``subsample`` = 20,000 labelled values by default): resampling
  all n values a thousand times costs O(n log n) per replicate (59 s of a 64 s report
  on a 3-million-row table). Such a group is bootstrapped on a random subsample of k
  values drawn without replacement (from the index stream), and each replicate's
  deviation from its world value is scaled by sqrt(k / n), the m-out-of-n bootstrap of
  a root-n-consistent statistic (Politis, Romano & Wolf, *Subsampling*, 1999). The
  centre stays the full group's own (H(f_b) of all n values, or the estimate). The
  report's note names the groups this was done for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..entropy import entropy_of_sorted, window_length

__all__ = [
    "CI_METHODS",
    "DESCRIPTIONS",
    "SUBSAMPLE_SIZE",
    "GroupBootstrap",
    "bootstrap_entropies",
    "bootstrap_groups",
    "interval",
    "smoothed_bootstrap_entropies",
    "smoothed_entropy",
    "smoothing_bandwidth",
]

#: Interval methods of :func:`etal.bias.bias_report` (the first is the default); see the
#: module docstring for what each does and how well it covers the true entropy.
CI_METHODS: tuple[str, ...] = ("smoothed", "percentile", "basic")
#: Groups larger than this are bootstrapped on a subsample of this size (see above).
SUBSAMPLE_SIZE = 20_000

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


#: One-line description of each interval method (stored in the report's settings).
DESCRIPTIONS: dict[str, str] = {
    "smoothed": "smoothed bootstrap (resample + Gaussian jitter, bandwidth "
    f"{_SMOOTHING_FACTOR} x Silverman's rule per group), pivotal interval centred on the "
    "kernel density's entropy; groups resampled independently",
    "percentile": "percentile; groups resampled independently; spacing floor fixed at "
    "the dataset's resolution",
    "basic": "basic (reverse percentile); groups resampled independently; spacing floor "
    "fixed at the dataset's resolution",
}


def bootstrap_entropies(
    sorted_values: np.ndarray,
    n_bootstrap: int,
    rng: np.random.Generator,
    method: str,
    window: int,
    resolution: float,
    tick: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Entropy (nats) of ``n_bootstrap`` resamples with replacement, batched.

    The spacing floor is the original sample's ``resolution`` for every resample.
    """
    n = sorted_values.size

    def resample(rows: int) -> np.ndarray:
        idx = rng.integers(0, n, size=(rows, n))
        # Indices into sorted data, sorted, give sorted resamples without sorting floats.
        idx.sort(axis=1)
        return sorted_values[idx]

    return _in_batches(resample, n_bootstrap, n, method, window, resolution, tick)


def _in_batches(
    resample: Callable[[int], np.ndarray], n_bootstrap: int, n: int, method: str, window: int,
    resolution: float, tick: Callable[[int], None] | None,
) -> np.ndarray:
    """Entropies (nats) of ``n_bootstrap`` resamples of size ``n`` drawn ``rows`` at a time by
    ``resample(rows)`` (sorted along axis 1), so memory stays near ``_BATCH_ELEMENTS`` floats."""
    rows = max(1, _BATCH_ELEMENTS // n)
    out = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, rows):
        stop = min(start + rows, n_bootstrap)
        out[start:stop] = entropy_of_sorted(resample(stop - start), method, window, resolution)
        if tick is not None:
            tick(stop - start)
    return out


def smoothing_bandwidth(sorted_values: np.ndarray, factor: float = _SMOOTHING_FACTOR) -> float:
    """Jitter bandwidth (target units): ``factor`` x Silverman's rule of thumb,
    0.9 min(sd, IQR/1.349) n^(-1/5), with the sd alone when the IQR is 0."""
    x = np.asarray(sorted_values, dtype=float)
    sd = float(np.std(x, ddof=1))
    q25, q75 = np.quantile(x, [0.25, 0.75])
    iqr = float(q75 - q25)
    spread = min(sd, iqr / 1.349) if iqr > 0 else sd
    return float(factor * 0.9 * spread * x.size ** -0.2)


def smoothed_entropy(sorted_values: np.ndarray, bandwidth: float) -> float:
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


def smoothed_bootstrap_entropies(
    sorted_values: np.ndarray,
    n_bootstrap: int,
    index_rng: np.random.Generator,
    noise_rng: np.random.Generator,
    method: str,
    window: int,
    resolution: float,
    bandwidth: float,
    tick: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Entropy (nats) of ``n_bootstrap`` smoothed resamples, batched: values drawn
    with replacement plus N(0, ``bandwidth``^2) jitter. Indices and jitter come from
    two streams, so the result does not depend on the batch size."""
    n = sorted_values.size

    def resample(rows: int) -> np.ndarray:
        idx = index_rng.integers(0, n, size=(rows, n))
        out = sorted_values[idx] + bandwidth * noise_rng.standard_normal((rows, n))
        out.sort(axis=1)
        # The floor only matters for exact float ties, which jitter makes improbable.
        return out

    return _in_batches(resample, n_bootstrap, n, method, window, resolution, tick)


def interval(
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


@dataclass
class GroupBootstrap:
    """One group's bootstrap: ``replicates`` (nats, on the scale of the full group),
    ``world`` (the statistic's value in the bootstrap's world, nats) and ``subsample``
    (k when the group was resampled through a k-value subsample, else None)."""

    replicates: np.ndarray
    world: float
    subsample: int | None = None


def bootstrap_groups(
    values: Mapping[object, np.ndarray],
    estimates: Mapping[object, object],
    labels: Sequence[object],
    *,
    n_bootstrap: int,
    ci_method: str,
    seed: int | None,
    window: int | None = None,
    subsample: int = SUBSAMPLE_SIZE,
    tick: Callable[[int], None] | None = None,
) -> dict[object, GroupBootstrap]:
    """Bootstrap the groups ``labels`` (in that order) of ``values`` (sorted arrays).

    ``estimates`` maps each label to its :class:`etal.entropy.EntropyEstimate` (method,
    window, resolution and entropy are used). Random streams: ``"percentile"`` and
    ``"basic"`` draw from one ``default_rng(seed)``; ``"smoothed"`` from the two child
    streams of ``SeedSequence(seed).spawn(2)`` (indices and subsamples; jitter). Groups
    with more than ``subsample`` values go through the subsample route of the module
    docstring. ``tick(k)`` is called after every k resamples (for a progress bar).
    """
    out: dict[object, GroupBootstrap] = {}
    if n_bootstrap <= 0:
        return out
    smoothed = ci_method == "smoothed"
    if smoothed:
        # = rng.spawn(2), written so that NumPy 1.24 (no Generator.spawn) works too.
        index_rng, noise_rng = map(np.random.default_rng, np.random.SeedSequence(seed).spawn(2))
    else:
        index_rng = noise_rng = np.random.default_rng(seed)
    for label in labels:
        e, x = estimates[label], values[label]
        n = x.size
        k = n if n <= subsample else int(subsample)
        if k < n:
            sample = x[np.sort(index_rng.choice(n, size=k, replace=False))]  # x is sorted
            m = window_length(k) if window is None else int(window)
        else:
            sample, m = x, e.window
        if smoothed:
            bandwidth = smoothing_bandwidth(sample)
            sample_world = smoothed_entropy(sample, bandwidth)
            reps = smoothed_bootstrap_entropies(
                sample, int(n_bootstrap), index_rng, noise_rng, e.method, m, e.resolution, bandwidth, tick
            )
            world = sample_world if k == n else smoothed_entropy(x, smoothing_bandwidth(x))
        else:
            sample_world = e.entropy if k == n else float(entropy_of_sorted(sample, e.method, m, e.resolution))
            reps = bootstrap_entropies(sample, int(n_bootstrap), index_rng, e.method, m, e.resolution, tick)
            world = e.entropy
        if k < n:
            # m-out-of-n: deviations shrink like 1/sqrt(size) for a root-n-consistent statistic.
            reps = world + math.sqrt(k / n) * (reps - sample_world)
        out[label] = GroupBootstrap(reps, float(world), k if k < n else None)
    return out
