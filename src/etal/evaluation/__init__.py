"""Downstream evaluation of an acquisition strategy and summaries of its bias trajectory.

This is the paper's downstream check (method notes, section 5): train regression models
on each strategy's final labelled set (initial labelled rows + acquired rows), score them
on a common held-out test set over many seeds, and compare strategies *paired by seed*.
It also turns the per-iteration, per-group entropies an active-learning run records into
scalar bias scores (the mean entropy deficit ``entropy_deficit`` = D, the headline;
``entropy_gap``, ``entropy_min``, ``entropy_std``), D curves into per-run quality metrics
(final D, area under the D curve, picks to reach random's final D, share of the
clairvoyant bound; :mod:`.quality`, also the home of the quality benchmark's CSV schemas)
and into scores over a chosen set of groups (``depleted_entropy_min``/``_mean``: did a strategy raise the groups a biased split
depleted?), compared between two strategies paired by seed.

Everything here works on plain tables; nothing depends on how the tables were produced.

Modules: :mod:`.models` (the registry of downstream regressors, :data:`DOWNSTREAM_MODELS`),
:mod:`.downstream` (fit and score), :mod:`.statistics` (paired comparisons),
:mod:`.trajectory` (bias scores from per-group entropies), :mod:`.quality` (D curves
and per-run quality metrics).

Units: entropies and gaps are in nats; ``mae`` is in the target's own unit (e.g. eV/atom
for ``formation_energy_per_atom``, GPa for moduli); ``r2`` is dimensionless.
"""

from .downstream import (
    DOWNSTREAM_COLUMNS,
    MIN_TEST_ROWS,
    MIN_TRAINING_ROWS,
    evaluate_downstream,
    fit_and_score,
)
from .models import (
    DOWNSTREAM_MODELS,
    MODEL_NAMES,
    downstream_models,
    features_for_target,
)
from .quality import (
    BENCHMARK_CURVE_COLUMNS,
    BENCHMARK_CURVES_CSV,
    BENCHMARK_RUN_COLUMNS,
    BENCHMARK_RUNS_CSV,
    RUN_METRIC_COLUMNS,
    run_metrics,
)
from .statistics import paired_by_split, paired_comparison, paired_final_difference
from .trajectory import (
    GROUP_SCORE_COLUMNS,
    SUMMARY_COLUMNS,
    group_score_trajectory,
    summarise_bias_trajectory,
)

__all__ = [
    "BENCHMARK_CURVES_CSV",
    "BENCHMARK_CURVE_COLUMNS",
    "BENCHMARK_RUNS_CSV",
    "BENCHMARK_RUN_COLUMNS",
    "DOWNSTREAM_COLUMNS",
    "DOWNSTREAM_MODELS",
    "GROUP_SCORE_COLUMNS",
    "MIN_TEST_ROWS",
    "MIN_TRAINING_ROWS",
    "MODEL_NAMES",
    "RUN_METRIC_COLUMNS",
    "SUMMARY_COLUMNS",
    "downstream_models",
    "evaluate_downstream",
    "features_for_target",
    "fit_and_score",
    "group_score_trajectory",
    "paired_by_split",
    "paired_comparison",
    "paired_final_difference",
    "run_metrics",
    "summarise_bias_trajectory",
]
