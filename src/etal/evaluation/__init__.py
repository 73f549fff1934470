"""Downstream evaluation of an acquisition strategy and summaries of its bias trajectory.

This is the paper's downstream check (method notes, section 5): train regression models
on each strategy's final labelled set (initial labelled rows + acquired rows), score them
on a common held-out test set over many seeds, and compare strategies *paired by seed*.
It also turns the per-iteration, per-group entropies an active-learning run records into
scalar bias scores (``entropy_gap``, ``entropy_min``, ``entropy_std``), into rates
("how fast does the gap fall per acquisition?") and into scores over a chosen set of
groups (``depleted_entropy_min``/``_mean``: did a strategy raise the groups a biased split
depleted?), compared between two strategies paired by seed.

Everything here works on plain tables; nothing depends on how the tables were produced.

Modules: :mod:`.models` (the registry of downstream regressors, :data:`DOWNSTREAM_MODELS`),
:mod:`.downstream` (fit and score), :mod:`.statistics` (paired comparisons),
:mod:`.trajectory` (bias scores and rates from per-group entropies).

Units: entropies and gaps are in nats; ``mae`` is in the target's own unit (e.g. eV/atom
for ``formation_energy_per_atom``, GPa for moduli); ``r2`` is dimensionless.
"""

from .downstream import (
    DOWNSTREAM_COLUMNS,
    MIN_TEST_ROWS,
    MIN_TRAINING_ROWS,
    evaluate_downstream,
)
from .models import (
    DOWNSTREAM_MODELS,
    MODEL_NAMES,
    downstream_models,
    features_for_target,
)
from .statistics import paired_comparison, paired_final_difference
from .trajectory import (
    GROUP_SCORE_COLUMNS,
    gap_reduction_rate,
    group_score_trajectory,
    summarise_bias_trajectory,
)

__all__ = [
    "DOWNSTREAM_COLUMNS",
    "DOWNSTREAM_MODELS",
    "GROUP_SCORE_COLUMNS",
    "MIN_TEST_ROWS",
    "MIN_TRAINING_ROWS",
    "MODEL_NAMES",
    "downstream_models",
    "evaluate_downstream",
    "features_for_target",
    "gap_reduction_rate",
    "group_score_trajectory",
    "paired_comparison",
    "paired_final_difference",
    "summarise_bias_trajectory",
]
