"""The paper's experiment end to end: one biased split, every strategy, downstream models, report.

:func:`run_experiment` reproduces the retrospective experiment of Zhang et al. (2023)
(method doc §5) on any fully labelled table:

1. **Split** (:func:`etal.split.biased_split`): a random test set, a labelled set biased
   on purpose by depletion rules, and a pool whose labels are held back.
2. **Runs**: every strategy (``etal``, ``random``, ``balanced``, ``uncertainty``) starts from
   the *same* labelled set and pool, with the *same* budget and labels revealed by the
   *same* label table (one :class:`~etal.oracles.LookupOracle` per run, so its counter
   belongs to that run). The loop receives the pool **without** its target column.
3. **Bias trajectory**: the entropy (nats) of every group after every acquisition, in long
   format (``bias_trajectory.csv``), and its scalar summaries (``bias_summary.csv``).
   Headline: the **mean entropy deficit** D (``entropy_deficit``; nats, lower = fairer)
   per run at the start and after the budget, the area under its curve and the picks
   needed to reach random's final D on the same split (``quality.csv``), and the
   registry's default strategy minus every other one, paired by split seed with a
   t-interval (``quality_paired.csv``; :mod:`.deficit`). Second headline: the **depleted groups** (those the split's rules depleted): their
   lowest and mean entropy at the start and at the end of every run
   (``depleted_groups.csv``), ET-AL vs random paired by seed at the last iteration every
   run reached. ``entropy_gap`` can be pinned by a group the split left alone; this
   score measures what ET-AL is meant to do, raise the depleted groups.
4. **Downstream**: every model is trained on each strategy's final labelled set (initial
   labelled rows + acquired rows) and scored on the test set over R model seeds
   (``downstream.csv``); ET-AL vs random paired by seed (``paired_comparison.csv``). By
   default (``[downstream] equal_acquisitions``) every strategy is cut to the fewest
   acquisitions any run made on the split, so that an ET-AL run that stopped early is
   compared with "the same number of random picks", as in the paper.
5. **Figures and manifest**; :func:`etal.report.write_experiment_report` then renders
   one self-contained ``report.html`` from the result (the report is a floor above).

Seeds -- what varies with what
------------------------------
* **One split** (``[split] seed``, the default): the loop seed ``s`` of each run seed in
  ``[run] seeds`` drives the random choices of ``random`` and ``balanced``. ``etal`` (with
  the quadrature estimator) and ``uncertainty`` make no random choice given the split, so
  they run **once**, with the first run seed -- unless a group with pool candidates has
  fewer than 2 labelled rows (then their first picks there are seeded random draws) or
  ``etal`` uses the Monte Carlo estimator; then they run once per seed too.
* **Several splits** (``[split] seeds = [...]``): one split per seed ``s``, every strategy
  runs once on it with loop seed ``s``. ``[run] seeds`` must then be left out.
* The ``seed`` column of every table is the run's seed: the loop seed (one split) or the
  split seed, which is then also the loop seed (several splits).
* **Downstream pairing**: model seed number ``r`` (the r-th of ``[downstream] seeds``)
  uses run ``r mod n`` of each strategy, ``n`` being that strategy's number of runs
  (sorted by seed): random run seeds cycle, a deterministic strategy's single run is used
  for every model seed. With several splits, model seed ``r`` uses split ``r mod n`` and
  its test set for every strategy, so pairs are always scored on the same test set.

Stops: ET-AL stops early by its stop rules (method doc §4). A run that stopped keeps its
final state: its trajectory simply ends there (never extended), ``runs.csv`` and the
report say where and why.

Everything is written atomically as each stage finishes: the trajectories after every
run, the downstream table after the fits, then figures, manifest and report, so a crash
in a later stage never loses an earlier one.

Modules: :mod:`.config` (settings and their validation), :mod:`.plan` (which runs),
:mod:`.execute` (running them: :func:`run_experiment`), :mod:`.deficit` (the D
scores), :mod:`.depleted` (the depleted-group score), :mod:`.outputs` (tables, writer, :class:`ExperimentResult`),
:mod:`.summary` (results in plain language). Figures: :mod:`etal.plots.experiment`.
"""

from __future__ import annotations

from .config import (
    DEFAULT_OUT,
    DEFAULT_RUN_SEEDS,
    DEFAULT_STRATEGY,
    DEMO_OUT,
    STRATEGY_NAMES,
    DataConfig,
    DownstreamConfig,
    ExperimentConfig,
    RunConfig,
    SplitConfig,
    demo_config,
    parse_seeds,
)
from .execute import ProgressCallback, execute_run, run_experiment
from .outputs import (
    DEPLETED_COLUMNS,
    QUALITY_COLUMNS,
    QUALITY_PAIRED_COLUMNS,
    RUNS_COLUMNS,
    TRAJECTORY_COLUMNS,
    ExperimentResult,
)
from .plan import RunSpec, plan_runs

__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_RUN_SEEDS",
    "DEFAULT_STRATEGY",
    "DEMO_OUT",
    "DEPLETED_COLUMNS",
    "QUALITY_COLUMNS",
    "QUALITY_PAIRED_COLUMNS",
    "RUNS_COLUMNS",
    "STRATEGY_NAMES",
    "TRAJECTORY_COLUMNS",
    "DataConfig",
    "DownstreamConfig",
    "ExperimentConfig",
    "ExperimentResult",
    "ProgressCallback",
    "RunConfig",
    "RunSpec",
    "SplitConfig",
    "demo_config",
    "execute_run",
    "parse_seeds",
    "plan_runs",
    "run_experiment",
]
