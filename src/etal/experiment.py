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
   format (``bias_trajectory.csv``), its scalar summaries and the rate at which each
   strategy lowers ``entropy_gap`` per acquisition (with a t-interval across seeds).
   Second headline: the **depleted groups** (those the split's rules depleted): their
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
5. **Figures, manifest and one self-contained** ``report.html``.

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
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "DEFAULT_OUT",
    "DEMO_OUT",
    "DEPLETED_COLUMNS",
    "RUNS_COLUMNS",
    "STRATEGY_NAMES",
    "TRAJECTORY_COLUMNS",
    "DataConfig",
    "DownstreamConfig",
    "ExperimentConfig",
    "ExperimentResult",
    "RunConfig",
    "RunSpec",
    "SplitConfig",
    "demo_config",
    "parse_seeds",
    "plan_runs",
    "run_experiment",
]

#: Default output folders of ``etal experiment`` and ``etal demo``.
DEFAULT_OUT = "etal-out/experiment"
DEMO_OUT = "etal-out/demo"
#: The strategies an experiment can compare (see :mod:`etal.strategies`).
STRATEGY_NAMES: tuple[str, ...] = ("etal", "random", "balanced", "uncertainty")
#: Columns of ``bias_trajectory.csv``, in order.
TRAJECTORY_COLUMNS: tuple[str, ...] = ("strategy", "seed", "iteration", "group", "entropy")
#: Columns of ``runs.csv``, in order.
RUNS_COLUMNS: tuple[str, ...] = (
    "strategy", "seed", "split_seed", "loop_seed", "budget", "n_acquired", "stopped_early",
    "stop_reason", "labels_revealed", "gap_start", "gap_end", "seconds",
)  # fmt: skip
#: Columns of ``depleted_groups.csv``, in order: per run, the depleted groups' lowest and
#: mean entropy (nats) at the start, at ``iteration_compared`` (the last iteration every
#: run reached: what the paired comparison uses) and at the run's own end, and how many
#: depleted groups had a finite entropy at the start and at the end.
DEPLETED_COLUMNS: tuple[str, ...] = (
    "strategy", "seed", "iteration_compared", "iteration_final",
    "depleted_entropy_min_start", "depleted_entropy_min_compared", "depleted_entropy_min_final",
    "depleted_entropy_mean_start", "depleted_entropy_mean_compared", "depleted_entropy_mean_final",
    "n_depleted_groups_start", "n_depleted_groups_final",
)  # fmt: skip
_DEPLETED_SCORES = ("depleted_entropy_min", "depleted_entropy_mean")
#: Default number of run seeds when ``[run] seeds`` is not given (one split).
DEFAULT_RUN_SEEDS = 5
_EMBEDDED_DEFAULT = "oqmd8"


# =======================================================================================
# Configuration
# =======================================================================================


@dataclass
class DataConfig:
    """``[data]``: the fully labelled table and its columns.

    ``source`` is an embedded dataset name (``"oqmd8"``, the default) or a table file; a
    relative path in a config file is relative to that file's folder. Columns left out
    take the data layer's defaults (:func:`etal.data.load_data`).
    """

    source: str | None = None
    group_col: str | None = None
    target_col: str | None = None
    id_col: str | None = None
    feature_cols: list[str] | None = None


@dataclass
class SplitConfig:
    """``[split]``: the biased split (:func:`etal.split.biased_split`).

    ``rules``: ``"paper"`` (the paper's depletion when the groups are crystal systems,
    else none), ``"none"``, or a table ``{group = "condition"}`` such as
    ``{tetragonal = "target > 0"}``. ``seeds``: one split per seed (all strategies on
    each); ``None`` = the single split ``seed``.
    """

    test_fraction: float = 0.3
    pool_size: int = 1000
    rules: str | dict[str, str] = "paper"
    seed: int = 0
    seeds: list[int] | None = None


@dataclass
class RunConfig:
    """``[run]``: the strategies and the loop settings shared by all of them.

    ``budget``: acquisitions per run. ``patience``: ET-AL's exclusion rule (method doc §4;
    ``None`` disables it); the baselines run without exclusion, as in ``etal run``.
    ``seeds``: a count ``k`` (seeds ``0..k-1``) or a list of loop seeds (one split only;
    default :data:`DEFAULT_RUN_SEEDS`). ``n_jobs``: runs in parallel (joblib; -1 = all
    cores); each run uses one BLAS thread.
    """

    strategies: list[str] = field(default_factory=lambda: list(STRATEGY_NAMES))
    budget: int = 100
    batch_size: int = 1
    estimator: str = "quadrature"
    n_samples: int = 1000
    patience: int | None = 5
    seeds: int | list[int] | None = None
    n_jobs: int = -1


@dataclass
class DownstreamConfig:
    """``[downstream]``: models trained on each strategy's final labelled set.

    ``targets``: columns to predict (default: the embedded dataset's targets, e.g. both
    formation energy and volume per atom for OQMD-8; else the loop's target).
    ``features``: default the data's feature columns (a target is never its own feature).
    ``seeds``: R model seeds, a count or a list (default 30, as in the paper).
    ``strategies``: default all run strategies. ``per_group``: also score each group's
    test rows (``scope`` = the group). ``equal_acquisitions``: train every strategy on the
    initial labelled rows plus its first ``n`` acquisitions, ``n`` = the fewest that any
    evaluated run made on that split (the paper compares ET-AL's picks with "the same
    number of random picks"); when ET-AL stops early, the others are cut to its count.
    ``false``: each run's whole final set, whatever its size.
    """

    enabled: bool = True
    targets: list[str] | None = None
    features: list[str] | None = None
    models: list[str] = field(
        default_factory=lambda: ["gradient_boosting", "random_forest", "svr", "mlp", "adaboost"]
    )
    seeds: int | list[int] = 30
    n_jobs: int = -1
    strategies: list[str] | None = None
    per_group: bool = True
    equal_acquisitions: bool = True


@dataclass
class ExperimentConfig:
    """A whole experiment: ``[data]``, ``[split]``, ``[run]``, ``[downstream]`` and a ``title``.

    Build one in Python, or read a TOML file with :meth:`from_toml`; :meth:`to_toml`
    writes it back (the experiment saves its resolved config as ``config.toml``).
    ``origin`` (the file it came from) names the file in error messages; ``base_dir``
    resolves a relative ``[data] source``.
    """

    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    run: RunConfig = field(default_factory=RunConfig)
    downstream: DownstreamConfig = field(default_factory=DownstreamConfig)
    title: str | None = None
    origin: str | None = field(default=None, compare=False, repr=False)
    base_dir: str | None = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ reading

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> ExperimentConfig:
        """Read and validate a TOML config; every error names the file and the key."""
        try:
            import tomllib  # Python >= 3.11
        except ModuleNotFoundError:  # pragma: no cover - Python 3.10
            import tomli as tomllib

        path = Path(path)
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"config file {path} does not exist; check the path given to --config") from None
        except OSError as exc:
            raise InputError(f"cannot read config file {path}: {exc.strerror}") from exc
        try:
            raw = tomllib.loads(text.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: invalid TOML: {exc}") from exc
        return cls.from_dict(raw, origin=str(path), base_dir=str(path.resolve().parent))

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, origin: str | None = None, base_dir: str | None = None
    ) -> ExperimentConfig:
        """Build from nested dicts (the parsed TOML); unknown keys and bad values raise InputError."""
        where = origin or "experiment config"
        if not isinstance(raw, Mapping):
            raise InputError(f"{where}: expected a table of sections, got {type(raw).__name__}")
        top = {"title", *_SECTIONS}
        unknown = [k for k in raw if k not in top]
        if unknown:
            raise InputError(_unknown_message(where, unknown[0], None, sorted(top)))
        parts: dict[str, Any] = {}
        for section, (klass, schema) in _SECTIONS.items():
            table = raw.get(section, {})
            if not isinstance(table, Mapping):
                raise InputError(
                    f"{where}: [{section}] must be a table (a [{section}] header followed by key = value "
                    f"lines), got {type(table).__name__}"
                )
            values = {}
            for key, value in table.items():
                if key not in schema:
                    raise InputError(_unknown_message(where, key, section, list(schema)))
                try:
                    values[key] = schema[key](value)
                except _Bad as bad:
                    raise InputError(
                        f"{where}: [{section}] {key} {bad}, got {_show(value)}"
                    ) from None
            parts[section] = klass(**values)
        title = raw.get("title")
        if title is not None and not (isinstance(title, str) and title.strip()):
            raise InputError(f"{where}: title must be a non-empty string, got {_show(title)}")
        config = cls(**parts, title=title, origin=origin, base_dir=base_dir)
        config._check_consistency()
        return config

    def validate(self) -> ExperimentConfig:
        """Check a config built or changed in Python (same rules as a file); returns a normalised copy."""
        return ExperimentConfig.from_dict(self.to_dict(), origin=self.origin, base_dir=self.base_dir)

    def _check_consistency(self) -> None:
        where = self.origin or "experiment config"
        if self.split.seeds is not None and self.run.seeds is not None:
            raise InputError(
                f"{where}: [split] seeds and [run] seeds are both set. With several splits every "
                "strategy runs once per split, with the split seed as loop seed; remove [run] seeds "
                "(or remove [split] seeds to repeat the random strategies on one split)"
            )
        if self.downstream.strategies is not None:
            extra = [s for s in self.downstream.strategies if s not in self.run.strategies]
            if extra:
                raise InputError(
                    f"{where}: [downstream] strategies {extra} are not run; [run] strategies are "
                    f"{self.run.strategies}"
                )

    # ------------------------------------------------------------------ writing

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (the TOML layout); keys whose value is None are left out."""
        out: dict[str, Any] = {}
        if self.title is not None:
            out["title"] = self.title
        for section in _SECTIONS:
            values = asdict(getattr(self, section))
            table = {}
            for k, v in values.items():
                if k == "patience" and v is None:
                    table[k] = "none"  # TOML has no null
                elif v is not None:
                    table[k] = copy.deepcopy(v)
            out[section] = table
        return out

    def to_toml(self) -> str:
        """The config as TOML text that :meth:`from_toml` reads back to an equal config."""
        lines = []
        d = self.to_dict()
        if "title" in d:
            lines += [f"title = {_toml_value(d.pop('title'))}", ""]
        for section, table in d.items():
            lines.append(f"[{section}]")
            for key, value in table.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)

    # ------------------------------------------------------------------ resolved values

    def split_seeds(self) -> list[int]:
        """The split seeds: ``[split] seeds`` or ``[split.seed]``."""
        return list(self.split.seeds) if self.split.seeds is not None else [int(self.split.seed)]

    def run_seeds(self) -> list[int]:
        """The loop seeds of the stochastic strategies on one split (see the module docstring)."""
        if self.split.seeds is not None:
            return list(self.split.seeds)
        return _expand_seeds(self.run.seeds if self.run.seeds is not None else DEFAULT_RUN_SEEDS)

    def downstream_seeds(self) -> list[int]:
        """The R model seeds of the downstream fits."""
        return _expand_seeds(self.downstream.seeds)

    def source(self) -> str:
        """``[data] source`` resolved: an embedded name, or a path (relative to ``base_dir``)."""
        from .datasets import list_datasets

        source = self.data.source or _EMBEDDED_DEFAULT
        if source.strip().lower() in list_datasets():
            return source.strip().lower()
        path = Path(source).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = Path(self.base_dir) / path
        return str(path)


def _expand_seeds(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        return list(range(int(seeds)))
    return [int(s) for s in seeds]


def parse_seeds(text: str) -> int | list[int]:
    """CLI seeds: ``"5"`` = a count (seeds 0..4), ``"0,3,7"`` = these seeds."""
    text = str(text).strip()
    try:
        if "," in text:
            seeds = [int(t) for t in text.split(",") if t.strip()]
            return _check_seed_list(seeds)
        value = int(text)
    except (ValueError, _Bad) as exc:
        raise InputError(
            f"seeds must be a count (e.g. 5 for seeds 0..4) or a comma-separated list of seeds "
            f"(e.g. 0,3,7), got {text!r}" + (f": {exc}" if isinstance(exc, _Bad) else "")
        ) from None
    if value < 1:
        raise InputError(f"a seed count must be >= 1, got {value}")
    return value


# ---------------------------------------------------------------------------- checkers


class _Bad(Exception):
    """A value failed a schema check; the message says what was expected."""


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("must be a non-empty string")
    return value.strip()


def _int_at_least(low: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if not _is_int(value) or value < low:
            raise _Bad(f"must be a whole number >= {low}")
        return int(value)

    return check


def _n_jobs(value: Any) -> int:
    if not _is_int(value) or value == 0:
        raise _Bad("must be a whole number of parallel workers (>= 1, or -1 for all cores)")
    return int(value)


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise _Bad("must be a number in [0, 1)")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad("must be true or false")
    return value


def _choice(options: Sequence[str]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in options:
            raise _Bad(f"must be one of {', '.join(repr(o) for o in options)}")
        return value.strip().lower()

    return check


def _name_list(options: Sequence[str] | None = None, *, allow_string: bool = False) -> Callable[[Any], list[str]]:
    def check(value: Any) -> list[str]:
        if allow_string and isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise _Bad("must be a non-empty list of names, e.g. [\"a\", \"b\"]")
        names = [v.strip() for v in value]
        if options is not None:
            names = [n.lower() for n in names]
            bad = [n for n in names if n not in options]
            if bad:
                raise _Bad(f"has unknown name(s) {bad}; choose from {list(options)}")
        if len(set(names)) != len(names):
            raise _Bad("lists a name twice")
        return names

    return check


def _check_seed_list(value: Any) -> list[int]:
    if not isinstance(value, list) or not value or not all(_is_int(v) and v >= 0 for v in value):
        raise _Bad("must be a non-empty list of whole numbers >= 0")
    if len(set(value)) != len(value):
        raise _Bad("lists a seed twice")
    return [int(v) for v in value]


def _seeds(value: Any) -> int | list[int]:
    if _is_int(value):
        if value < 1:
            raise _Bad("must be a count >= 1 (seeds 0..count-1) or a list of seeds")
        return int(value)
    try:
        return _check_seed_list(value)
    except _Bad:
        raise _Bad("must be a count >= 1 (seeds 0..count-1) or a non-empty list of distinct seeds >= 0") from None


def _rules(value: Any) -> str | dict[str, str]:
    from .split import parse_condition

    if isinstance(value, str):
        if value.strip().lower() in ("paper", "none"):
            return value.strip().lower()
        raise _Bad('must be "paper", "none" or a table {group = "condition"}, e.g. {tetragonal = "target > 0"}')
    if not isinstance(value, Mapping):
        raise _Bad('must be "paper", "none" or a table {group = "condition"}')
    out = {}
    for group, condition in value.items():
        if not isinstance(condition, str):
            raise _Bad(f'has a non-text condition for group {group!r}; write e.g. "target > 0"')
        try:
            parse_condition(condition)
        except InputError as exc:
            raise _Bad(f"has a bad condition for group {group!r}: {exc}") from None
        out[str(group)] = condition.strip()
    return out


def _patience(value: Any) -> int | None:
    if value is False or (isinstance(value, str) and value.strip().lower() in ("none", "off")):
        return None
    if not _is_int(value) or value < 1:
        raise _Bad('must be a whole number >= 1, or "none" to disable the exclusion rule')
    return int(value)


def _model_names() -> tuple[str, ...]:
    from .evaluation import MODEL_NAMES

    return MODEL_NAMES


_SCHEMAS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "data": {
        "source": _name,
        "group_col": _name,
        "target_col": _name,
        "id_col": _name,
        "feature_cols": _name_list(allow_string=True),
    },
    "split": {
        "test_fraction": _fraction,
        "pool_size": _int_at_least(0),
        "rules": _rules,
        "seed": _int_at_least(0),
        "seeds": _check_seed_list,
    },
    "run": {
        "strategies": _name_list(STRATEGY_NAMES),
        "budget": _int_at_least(1),
        "batch_size": _int_at_least(1),
        "estimator": _choice(("quadrature", "mc")),
        "n_samples": _int_at_least(1),
        "patience": _patience,
        "seeds": _seeds,
        "n_jobs": _n_jobs,
    },
    "downstream": {
        "enabled": _bool,
        "targets": _name_list(),
        "features": _name_list(allow_string=True),
        "models": lambda v: _name_list(_model_names())(v),
        "seeds": _seeds,
        "n_jobs": _n_jobs,
        "strategies": _name_list(STRATEGY_NAMES),
        "per_group": _bool,
        "equal_acquisitions": _bool,
    },
}
_SECTIONS: dict[str, tuple[type, dict[str, Callable[[Any], Any]]]] = {
    "data": (DataConfig, _SCHEMAS["data"]),
    "split": (SplitConfig, _SCHEMAS["split"]),
    "run": (RunConfig, _SCHEMAS["run"]),
    "downstream": (DownstreamConfig, _SCHEMAS["downstream"]),
}
# Every dataclass field is a TOML key and the other way round (checked once, at import).
for _section, (_klass, _schema) in _SECTIONS.items():
    assert [f.name for f in fields(_klass)] == list(_schema), _section


def _unknown_message(where: str, key: str, section: str | None, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if section is None:
        return (
            f"{where}: unknown top-level key {key!r}.{hint} Valid: {', '.join(valid)} "
            "(sections are written [data], [split], [run], [downstream])"
        )
    return f"{where}: unknown key {key!r} in [{section}].{hint} Valid keys: {', '.join(valid)}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"cannot write the non-finite number {value} to TOML")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise InputError(f"cannot write {type(value).__name__} value {value!r} to TOML")


# =======================================================================================
# The demo's settings
# =======================================================================================


def demo_config(quick: bool = False) -> ExperimentConfig:
    """The settings of ``etal demo`` (a fresh copy; ``examples/configs/oqmd8-demo.toml`` is the same).

    Full demo (20-50 s on 2 cores, measured): embedded OQMD-8, the paper's biased split
    (30 % test, pool of 1,000 with the depleted crystal systems; split seed 0), all four
    strategies with a budget of 100 acquisitions, 5 loop seeds for ``random`` and
    ``balanced`` (``etal`` and ``uncertainty`` are deterministic given the split: one
    run each), all five downstream models for both OQMD-8 targets with R = 5 model seeds
    (model seed r uses random run r).
    ``quick=True`` is a reduced demo for tests (budget 10, ``etal`` vs ``random``, 2
    seeds, 2 models, R = 2): well under 30 s.
    """
    if quick:
        return ExperimentConfig(
            data=DataConfig(source="oqmd8"),
            split=SplitConfig(seed=0),
            run=RunConfig(strategies=["etal", "random"], budget=10, seeds=2),
            downstream=DownstreamConfig(models=["gradient_boosting", "random_forest"], seeds=2),
            title="ET-AL quick demo on OQMD-8",
        )
    return ExperimentConfig(
        data=DataConfig(source="oqmd8"),
        split=SplitConfig(seed=0),
        run=RunConfig(strategies=list(STRATEGY_NAMES), budget=100, seeds=5),
        downstream=DownstreamConfig(seeds=5),
        title="ET-AL demo on OQMD-8: bias mitigation vs random, balanced and uncertainty sampling",
    )


# =======================================================================================
# Planning the runs
# =======================================================================================


@dataclass(frozen=True)
class RunSpec:
    """One loop run: a strategy on a split with a loop seed.

    ``seed`` is the value in the tables' ``seed`` column (see the module docstring).
    """

    strategy: str
    seed: int
    split_seed: int
    loop_seed: int


def _is_deterministic(strategy: str, run: RunConfig, labelled: pd.DataFrame, pool: pd.DataFrame, group_col: str) -> bool:
    """Does the strategy make no random choice on this split (so one run per split suffices)?

    ``etal`` (quadrature) and ``uncertainty`` pick by argmax; they draw at random only in a
    group with pool candidates and fewer than MIN_GP_ROWS labelled rows (no GP yet), and
    ``etal`` with the Monte Carlo estimator draws its samples from the loop's generator.
    """
    from .strategies import MIN_GP_ROWS

    if strategy == "uncertainty" or (strategy == "etal" and run.estimator == "quadrature"):
        counts = labelled[group_col].astype(str).value_counts()
        pool_groups = set(pool[group_col].astype(str))
        return all(int(counts.get(g, 0)) >= MIN_GP_ROWS for g in pool_groups)
    return False


def plan_runs(config: ExperimentConfig, splits: Mapping[int, Any], group_col: str) -> list[RunSpec]:
    """The runs of an experiment, in report order (strategy order, then seed).

    ``splits`` maps split seed -> :class:`etal.split.Split`. See the module docstring for
    which strategy runs with which seeds.
    """
    specs = []
    if config.split.seeds is not None:
        for strategy in config.run.strategies:
            for s in config.split.seeds:
                specs.append(RunSpec(strategy, s, s, s))
        return specs
    (split_seed, split), = splits.items()
    seeds = config.run_seeds()
    for strategy in config.run.strategies:
        if _is_deterministic(strategy, config.run, split.labelled, split.pool, group_col):
            chosen = seeds[:1]
        else:
            chosen = seeds
        specs += [RunSpec(strategy, s, split_seed, s) for s in chosen]
    return specs


# =======================================================================================
# One run
# =======================================================================================


@dataclass
class _RunOutcome:
    spec: RunSpec
    result: Any  # etal.loop.RunResult
    seconds: float
    labels_revealed: int
    oracle_calls: int
    pool_columns: list[str]


def _execute_run(
    spec: RunSpec,
    labelled: pd.DataFrame,
    pool: pd.DataFrame,
    columns: dict[str, Any],
    run: RunConfig,
    progress: bool,
) -> _RunOutcome:
    """Run one strategy on one split. The loop gets the pool without its target column;
    the labels stay in the oracle. BLAS is limited to one thread: the GP matrices are small
    (threads only add overhead, 2-5x on a busy 2-core machine) and results then do not
    depend on the machine's thread count."""
    from threadpoolctl import threadpool_limits

    from .loop import ETAL
    from .oracles import LookupOracle

    target, id_col = columns["target_col"], columns["id_col"]
    oracle = LookupOracle(pool[[id_col, target]], id_col=id_col, target_col=target)
    unlabelled = pool.drop(columns=[target])
    loop = ETAL(
        group_col=columns["group_col"],
        target_col=target,
        feature_cols=columns["feature_cols"],
        id_col=id_col,
        strategy=spec.strategy,
        estimator=run.estimator,
        n_samples=run.n_samples,
        batch_size=run.batch_size,
        patience=run.patience if spec.strategy == "etal" else None,
        budget=run.budget,
        seed=spec.loop_seed,
        progress=progress,
    )
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        result = loop.run(labelled, unlabelled, oracle)
    return _RunOutcome(
        spec, result, time.perf_counter() - started, oracle.n_revealed, oracle.n_calls, list(unlabelled.columns)
    )


def _acquisitions_axis(result) -> pd.Series:
    """Number of acquisitions made by each loop iteration (equal to the iteration for batch size 1)."""
    history = result.history
    counts = history.groupby("iteration").size() if len(history) else pd.Series(dtype="int64")
    done = counts.cumsum()
    iterations = result.entropies.index.to_numpy()
    return pd.Series([int(done.get(i, 0)) if i else 0 for i in iterations], index=iterations)


def _trajectory_rows(outcome: _RunOutcome) -> pd.DataFrame:
    ent = outcome.result.entropies
    acquisitions = _acquisitions_axis(outcome.result)
    long = ent.reset_index().melt(id_vars="iteration", var_name="group", value_name="entropy")
    long["iteration"] = long["iteration"].map(acquisitions).astype("int64")
    long.insert(0, "seed", int(outcome.spec.seed))
    long.insert(0, "strategy", outcome.spec.strategy)
    long["group"] = long["group"].astype(str)
    long["entropy"] = long["entropy"].astype(float)
    return long[list(TRAJECTORY_COLUMNS)]


def _run_row(outcome: _RunOutcome, budget: int) -> dict:
    from .loop import entropy_gap

    ent = outcome.result.entropies
    n = outcome.result.n_acquired
    return {
        "strategy": outcome.spec.strategy,
        "seed": outcome.spec.seed,
        "split_seed": outcome.spec.split_seed,
        "loop_seed": outcome.spec.loop_seed,
        "budget": budget,
        "n_acquired": n,
        "stopped_early": n < budget,
        "stop_reason": outcome.result.stop_reason or "",
        "labels_revealed": outcome.labels_revealed,
        "gap_start": entropy_gap(ent.iloc[0].to_numpy()),
        "gap_end": entropy_gap(ent.iloc[-1].to_numpy()),
        "seconds": round(outcome.seconds, 3),
    }


# =======================================================================================
# The result
# =======================================================================================


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns (every table is also written to ``out_dir``).

    ``runs``: one row per run (:data:`RUNS_COLUMNS`); ``trajectory``: long
    :data:`TRAJECTORY_COLUMNS` (entropy in nats, ``iteration`` = acquisitions so far);
    ``trajectory_summary``: :func:`etal.evaluation.summarise_bias_trajectory`;
    ``gap_rates``: :func:`etal.evaluation.gap_reduction_rate` for every strategy;
    ``downstream`` / ``paired``: None when downstream was disabled (``paired`` also when
    ``etal`` or ``random`` is missing).
    ``depleted_groups``: the groups the split's rules depleted (empty: no rules, score
    skipped); ``depleted``: one row per run (:data:`DEPLETED_COLUMNS`) or None;
    ``depleted_paired``: ET-AL − random at ``iteration_compared``, one row per score
    (:func:`etal.evaluation.paired_final_difference`) or None; ``depleted_note``: why
    something is missing or how it was computed.
    """

    out_dir: Path
    config: ExperimentConfig
    runs: pd.DataFrame
    trajectory: pd.DataFrame
    trajectory_summary: pd.DataFrame
    gap_rates: pd.DataFrame
    downstream: pd.DataFrame | None
    paired: pd.DataFrame | None
    summary_text: str
    report_path: Path
    manifest_path: Path
    timings: dict[str, float]
    files: list[Path] = field(default_factory=list)
    depleted_groups: list[str] = field(default_factory=list)
    depleted: pd.DataFrame | None = None
    depleted_paired: pd.DataFrame | None = None
    depleted_note: str = ""

    def short_summary(self) -> str:
        """A few lines for a terminal: stops, gaps, gap rate and downstream differences."""
        lines = []
        for strategy, block in self.runs.groupby("strategy", sort=False):
            stops = sorted(set(block["stop_reason"]))
            lines.append(
                f"  {strategy:<12} {len(block)} run(s), acquired {_span(block['n_acquired'])}, "
                f"entropy gap {block['gap_start'].mean():.3f} -> {block['gap_end'].mean():.3f} nats; "
                f"stop: {'; '.join(stops)}"
            )
        out = ["runs (gap: max - min group entropy, mean over runs):", *lines]
        rates = self.gap_rates
        if len(rates):
            bits = []
            for _, r in rates.iterrows():
                bit = f"{r['strategy']} {r['gap_drop_per_acquisition']:+.4f}"
                if pd.notna(r.get("drop_ci_low")):
                    bit += f" [{r['drop_ci_low']:+.4f}, {r['drop_ci_high']:+.4f}]"
                bits.append(bit)
            out.append(f"gap drop per acquisition (nats, first {int(rates['upto'].iloc[0])} acquisitions): " + "; ".join(bits))
        out += self._depleted_lines()
        if self.paired is not None and len(self.paired):
            r2 = self.paired[self.paired["metric"] == "r2"]
            out.append("downstream R², ET-AL minus random (95% CI):")
            for _, r in r2.iterrows():
                out.append(
                    f"  {r['model']:<18} {r['target']:<26} {r['mean_diff']:+.4f} "
                    f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
                )
        return "\n".join(out)

    def _depleted_lines(self) -> list[str]:
        if not self.depleted_groups:
            return [f"depleted groups: none, score skipped ({self.depleted_note})"]
        table = self.depleted
        at = int(table["iteration_compared"].iloc[0])
        lines = [
            f"depleted groups ({', '.join(self.depleted_groups)}), entropy in nats, mean over runs, "
            f"start -> after {at} acquisitions:"
        ]
        means = table.groupby("strategy", sort=False)[[f"{c}_{w}" for c in _DEPLETED_SCORES for w in ("start", "compared")]].mean()
        for score, label in zip(_DEPLETED_SCORES, ("lowest", "mean")):
            start = _nats(means[f"{score}_start"].iloc[0])
            ends = ", ".join(f"{s} {_nats(v)}" for s, v in means[f"{score}_compared"].items())
            lines.append(f"  {label:<7} start {start}; {ends}")
        if self.depleted_paired is not None:
            bits = []
            for _, r in self.depleted_paired.iterrows():
                label = "lowest" if r["column"] == "depleted_entropy_min" else "mean"
                if r["paired"]:
                    p = "n/a" if not np.isfinite(r["p_value"]) else f"{r['p_value']:.3g}"
                    bits.append(
                        f"{label} {_nats(r['mean_diff'], True)} [{_nats(r['ci_low'], True)}, "
                        f"{_nats(r['ci_high'], True)}], Wilcoxon p = {p}"
                    )
                else:
                    bits.append(f"{label} {_nats(r['mean_diff'], True)} (no interval)")
            how = f"paired by seed, {int(self.depleted_paired['n_pairs'].iloc[0])} pairs, 95% CI"
            if not self.depleted_paired["paired"].iloc[0]:
                how = "means over runs; fewer than 2 seeds in common"
            lines.append(f"  ET-AL minus random ({how}): " + "; ".join(bits))
        return lines


def _span(values: pd.Series) -> str:
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _fmt(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:+.4f}"


def _nats(x: float, signed: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


# =======================================================================================
# The experiment
# =======================================================================================


class _Writer:
    """Atomic writes into the output folder, remembering what was written."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, Path] = {}

    def csv(self, name: str, frame: pd.DataFrame) -> Path:
        from .provenance import atomic_write_text

        path = atomic_write_text(self.out / name, frame.to_csv(index=False))
        self.files[name] = path
        return path

    def text(self, name: str, text: str) -> Path:
        from .provenance import atomic_write_text

        path = atomic_write_text(self.out / name, text)
        self.files[name] = path
        return path

    def figure(self, fig, stem: str) -> Path:
        from .plots import save_figure

        paths = save_figure(fig, self.out, stem)
        for p in paths:
            self.files[p.name] = p
        return paths[0]


def _load(config: ExperimentConfig, data: Any):
    from .data import load_data

    d = config.data
    source = data if data is not None else config.source()
    if hasattr(source, "frame") and hasattr(source, "group_col"):  # already a Dataset
        return source
    return load_data(source, group_col=d.group_col, target_col=d.target_col, id_col=d.id_col, feature_cols=d.feature_cols)


def _downstream_columns(config: ExperimentConfig, ds) -> tuple[list[str], list[str]]:
    """Downstream features and targets, checked against the table before the long runs."""
    from .datasets import dataset_info, list_datasets

    features = list(config.downstream.features or ds.feature_cols)
    if config.downstream.targets is not None:
        targets = list(config.downstream.targets)
    else:
        targets = [ds.target_col]
        name = str(ds.source).lower()
        if name in list_datasets():
            targets += [t for t in dataset_info(name).targets if t != ds.target_col and t in ds.frame.columns]
    where = config.origin or "experiment config"
    for role, cols in (("features", features), ("targets", targets)):
        missing = [c for c in cols if c not in ds.frame.columns]
        if missing:
            raise InputError(
                f"{where}: [downstream] {role} {missing} are not columns of {ds.source}; its columns are: "
                f"{', '.join(map(str, ds.frame.columns))}"
            )
        for c in cols:
            if not pd.api.types.is_numeric_dtype(ds.frame[c]):
                raise InputError(
                    f"{where}: [downstream] {role[:-1]} column {c!r} of {ds.source} is not numeric "
                    f"(dtype {ds.frame[c].dtype})"
                )
    return features, targets


def _split_rules(config: ExperimentConfig):
    rules = config.split.rules
    if rules == "paper":
        return None  # biased_split: the paper's rules for crystal systems, else none
    if rules == "none":
        return {}
    return dict(rules)


def _snapshot(trajectory: pd.DataFrame, strategy: str | None, at: str) -> dict[str, Any]:
    """Per-group entropy (mean over runs) and the mean per-run gap, at the start or the end."""
    from .loop import entropy_gap

    block = trajectory if strategy is None else trajectory[trajectory["strategy"] == strategy]
    rows = []
    for _, run in block.groupby(["strategy", "seed"], sort=True):
        it = run["iteration"].min() if at == "start" else run["iteration"].max()
        rows.append(run[run["iteration"] == it].set_index("group")["entropy"])
    table = pd.DataFrame(rows)
    with np.errstate(all="ignore"):
        finite = table.where(np.isfinite(table))
    entropies = {str(g): (float(finite[g].mean()) if finite[g].notna().any() else float("nan")) for g in table.columns}
    gaps = [entropy_gap(r.to_numpy(dtype=float)) for _, r in table.iterrows()]
    gaps = [g for g in gaps if math.isfinite(g)]
    finite_h = [h for h in entropies.values() if math.isfinite(h)]
    return {
        "entropies": entropies,
        "entropy_gap": float(np.mean(gaps)) if gaps else float("nan"),
        "entropy_min": min(finite_h) if finite_h else float("nan"),
    }


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

    Runs are compared at the last iteration every run of every strategy reached (as the
    gap rates are), each run read at its latest recorded iteration up to there.
    """
    from .evaluation import group_score_trajectory, paired_final_difference

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
    if "etal" in order and "random" in order:
        within = scores[scores["iteration"] <= at]
        paired = pd.DataFrame([paired_final_difference(within, score, "etal", "random") for score in _DEPLETED_SCORES])
    else:
        notes.append("etal and random are not both run: no paired comparison")
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


def run_experiment(
    config: ExperimentConfig | None = None,
    out_dir: str | os.PathLike = DEFAULT_OUT,
    *,
    data: Any = None,
    progress: bool = True,
    command: str = "etal.experiment.run_experiment",
    arguments: Mapping[str, Any] | None = None,
) -> ExperimentResult:
    """Run the paper's experiment (see the module docstring) and write everything to ``out_dir``.

    Parameters
    ----------
    config : the settings (default :class:`ExperimentConfig` defaults); validated here.
    out_dir : output folder (created).
    data : optional table overriding ``[data] source``: a DataFrame, a :class:`etal.data.Dataset`
        or a path (the ``[data]`` column settings still apply to a DataFrame or path).
    progress : tqdm bars over runs (and each run's acquisitions when runs are sequential)
        and over the downstream fits.
    command, arguments : recorded in ``manifest.json`` (the CLI passes its own).

    Files written: ``config.toml`` (resolved settings), ``split/`` (labelled, pool, test,
    summary; ``split/seed-<s>/`` per split seed with several splits), ``split_summary.csv``,
    ``runs.csv``, ``acquisitions.csv`` (every run's history), ``bias_trajectory.csv``,
    ``bias_summary.csv``, ``gap_reduction_rate.csv``, ``depleted_groups.csv`` (when the
    split depleted a group), ``downstream.csv``,
    ``paired_comparison.csv``, figures ``entropy_evolution``, ``entropy_gap``,
    ``distributions``, ``r2_boxplots`` (PNG + SVG), ``manifest.json`` and ``report.html``.
    """
    from tqdm.auto import tqdm

    from .evaluation import gap_reduction_rate, summarise_bias_trajectory
    from .split import biased_split

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    config = (config or ExperimentConfig()).validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out)

    # ---- data and split(s)
    t0 = time.perf_counter()
    ds = _load(config, data)
    features, targets = _downstream_columns(config, ds) if config.downstream.enabled else (list(ds.feature_cols), [])
    if len(ds.pool):
        raise InputError(
            f"{ds.source} has {len(ds.pool)} row(s) without a {ds.target_col!r} value; the experiment "
            "splits a fully labelled table (its pool labels are held back and revealed by an oracle). "
            "Drop the unlabelled rows, or use 'etal run' to label them"
        )
    columns = {
        "group_col": ds.group_col, "target_col": ds.target_col, "id_col": ds.id_col,
        "feature_cols": list(ds.feature_cols),
    }  # fmt: skip
    splits = {
        s: biased_split(
            ds, rules=_split_rules(config), test_fraction=config.split.test_fraction,
            pool_size=config.split.pool_size, seed=s,
        )
        for s in config.split_seeds()
    }  # fmt: skip
    several_splits = len(splits) > 1
    for s, split in splits.items():
        split.save(out / "split" / f"seed-{s}" if several_splits else out / "split")
    split_summary = pd.concat(
        [sp.summary().assign(split_seed=s) for s, sp in splits.items()], ignore_index=True
    )
    writer.csv("split_summary.csv", split_summary)
    # The resolved settings, written as config.toml: columns filled in, the source made
    # absolute, so that 'etal experiment --config OUT/config.toml' repeats the run.
    resolved = config.to_dict()
    if data is None:
        source = config.source()
        resolved["data"]["source"] = source if not Path(source).exists() else str(Path(source).resolve())
    else:
        resolved["data"]["source"] = f"<{type(data).__name__} given in Python: {ds.source}>"
    resolved["data"].update(
        group_col=ds.group_col, target_col=ds.target_col, id_col=ds.id_col, feature_cols=list(ds.feature_cols)
    )
    writer.text("config.toml", ExperimentConfig.from_dict(resolved).to_toml())
    timings["data_and_split"] = time.perf_counter() - t0

    specs = plan_runs(config, splits, ds.group_col)
    seeds_info = {
        "split_seeds": config.split_seeds(),
        "run_seeds": config.run_seeds(),
        "downstream_seeds": config.downstream_seeds() if config.downstream.enabled else [],
        "runs": {s: sorted({sp.seed for sp in specs if sp.strategy == s}) for s in config.run.strategies},
        "mode": "several splits" if several_splits else "one split",
        "pairing": (
            "downstream model seed number r uses run r mod n of each strategy (n = its number of runs, "
            "sorted by seed)" + ("; with several splits, split r mod n and its test set" if several_splits else "")
        ),
    }
    manifest_base = dict(
        command=command,
        arguments={**dict(arguments or {}), "config": resolved},
        inputs={"data": ds.sha256},
    )
    _write_manifest(out, manifest_base, {"status": "running: loop runs", "seeds": seeds_info, "timings": timings})

    # ---- runs (trajectories written after each one)
    t0 = time.perf_counter()
    outcomes: dict[RunSpec, _RunOutcome] = {}
    order = {s: i for i, s in enumerate(specs)}

    def record(outcome: _RunOutcome) -> None:
        outcomes[outcome.spec] = outcome
        done = sorted(outcomes.values(), key=lambda o: order[o.spec])
        writer.csv("bias_trajectory.csv", pd.concat([_trajectory_rows(o) for o in done], ignore_index=True))
        writer.csv("runs.csv", pd.DataFrame([_run_row(o, config.run.budget) for o in done], columns=list(RUNS_COLUMNS)))
        history = []
        for o in done:
            h = o.result.history.copy()
            h.insert(0, "seed", o.spec.seed)
            h = h.drop(columns=["strategy"]).assign(strategy=o.spec.strategy, split_seed=o.spec.split_seed)
            history.append(h[["strategy", "seed", "split_seed", *[c for c in h.columns if c not in ("strategy", "seed", "split_seed")]]])
        writer.csv("acquisitions.csv", pd.concat(history, ignore_index=True))

    n_jobs = _effective_jobs(config.run.n_jobs, len(specs))
    bar = tqdm(total=len(specs), desc="experiment runs (strategy x seed)", unit="run", disable=not progress)
    # Expensive strategies first, so parallel workers finish together.
    cost = {"etal": 0, "uncertainty": 1, "balanced": 2, "random": 3}
    todo = sorted(specs, key=lambda s: (cost.get(s.strategy, 9), order[s]))

    def run_args(sp: RunSpec) -> tuple:
        return sp, splits[sp.split_seed].labelled, splits[sp.split_seed].pool, columns, config.run

    if n_jobs == 1:
        for sp in todo:
            bar.set_postfix(strategy=sp.strategy, seed=sp.seed, refresh=True)
            record(_execute_run(*run_args(sp), progress=progress))
            bar.update(1)
    else:
        from joblib import Parallel, delayed

        import joblib

        # Results in completion order (joblib >= 1.4); joblib 1.3 only has task order.
        unordered = tuple(int(v) for v in joblib.__version__.split(".")[:2]) >= (1, 4)
        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered" if unordered else "generator")(
            delayed(_execute_run)(*run_args(sp), progress=False) for sp in todo
        )
        for outcome in results:
            record(outcome)
            bar.set_postfix(strategy=outcome.spec.strategy, seed=outcome.spec.seed, refresh=False)
            bar.update(1)
    bar.close()
    timings["runs"] = time.perf_counter() - t0

    done = [outcomes[s] for s in specs]
    trajectory = pd.concat([_trajectory_rows(o) for o in done], ignore_index=True)
    runs = pd.DataFrame([_run_row(o, config.run.budget) for o in done], columns=list(RUNS_COLUMNS))
    summary = summarise_bias_trajectory(trajectory)
    writer.csv("bias_summary.csv", summary)
    gap_rates = gap_reduction_rate(summary, strategies=config.run.strategies)
    writer.csv("gap_reduction_rate.csv", gap_rates)
    depleted_groups, depleted_rules, depleted_note = _depleted_groups(splits)
    depleted = depleted_paired = None
    depleted_info: dict[str, Any] = {"groups": [], "note": depleted_note}
    if depleted_groups:
        depleted, depleted_paired, depleted_info = _depleted_scores(
            trajectory, depleted_groups, depleted_rules, config.run.strategies, depleted_note
        )
        writer.csv("depleted_groups.csv", depleted)
    stops = {f"{o.spec.strategy}/seed-{o.spec.seed}": {
        "n_acquired": o.result.n_acquired, "stop_reason": o.result.stop_reason,
        "labels_revealed": o.labels_revealed, "seconds": round(o.seconds, 3)} for o in done}  # fmt: skip
    _write_manifest(
        out, manifest_base,
        {"status": "running: downstream", "seeds": seeds_info, "runs": stops, "depleted_groups": depleted_info,
         "timings": timings},
    )  # fmt: skip

    # ---- bias figures (before downstream, so a downstream crash keeps them)
    t0 = time.perf_counter()
    focus = "etal" if "etal" in config.run.strategies else config.run.strategies[0]
    figures = _bias_figures(writer, trajectory, summary, done, splits, focus, ds)
    timings["bias_figures"] = time.perf_counter() - t0

    # ---- downstream
    downstream = paired = None
    used: dict[int, int] = {}
    if config.downstream.enabled:
        t0 = time.perf_counter()
        downstream, used = _downstream(config, done, splits, features, targets, ds.group_col, progress)
        seeds_info["downstream_acquisitions"] = used
        writer.csv("downstream.csv", downstream)
        present = set(downstream["strategy"])
        if {"etal", "random"} <= present:
            from .evaluation import paired_comparison

            paired = pd.concat(
                [paired_comparison(downstream, "etal", "random", metric=m) for m in ("r2", "mae")],
                ignore_index=True,
            )
            writer.csv("paired_comparison.csv", paired)
        timings["downstream"] = time.perf_counter() - t0
        _write_manifest(
            out, manifest_base,
            {"status": "running: report", "seeds": seeds_info, "runs": stops, "depleted_groups": depleted_info,
             "timings": timings},
        )  # fmt: skip
        from .plots.experiment import plot_r2_boxplots

        shown = [s for s in ("etal", "random") if s in present] or sorted(present)
        figures["r2_boxplots"] = writer.figure(plot_r2_boxplots(downstream, shown), "r2_boxplots")

    # ---- report and manifest
    t0 = time.perf_counter()
    from .report import plain_summary

    before = _snapshot(trajectory, None, "start")
    after = {s: _snapshot(trajectory, s, "end") for s in config.run.strategies}
    text = plain_summary(
        before, after, paired[paired["metric"] == "r2"] if paired is not None else None, gap_rates,
        depleted=depleted_info,
    )
    text += "\n\n" + _stop_text(runs, config.run.budget)
    if downstream is not None:
        text += "\n\n" + _training_text(config, used)
    if len(done) > len(config.run.strategies):
        text += (
            "\n\nWhere a strategy has several runs, the entropies and gaps above are means over its runs "
            "(see 'Seeds' below for what varies between runs)."
        )
    report_path = _report(
        writer, config, ds, splits, runs, trajectory, summary, gap_rates, downstream, paired, figures,
        text, seeds_info, depleted, depleted_paired, depleted_info,
    )
    timings["report"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    manifest_path = _write_manifest(
        out, manifest_base,
        {"status": "finished", "seeds": seeds_info, "runs": stops, "depleted_groups": depleted_info,
         "timings": {k: round(v, 3) for k, v in timings.items()}, "outputs": sorted(writer.files)},
    )  # fmt: skip
    return ExperimentResult(
        out_dir=out, config=config, runs=runs, trajectory=trajectory, trajectory_summary=summary,
        gap_rates=gap_rates, downstream=downstream, paired=paired, summary_text=text,
        report_path=report_path, manifest_path=manifest_path, timings=timings,
        files=sorted(writer.files.values()), depleted_groups=list(depleted_groups), depleted=depleted,
        depleted_paired=depleted_paired, depleted_note=depleted_info["note"],
    )  # fmt: skip


def _effective_jobs(n_jobs: int, n_tasks: int) -> int:
    if n_tasks <= 1:
        return 1
    cores = os.cpu_count() or 1
    workers = cores if n_jobs < 0 else n_jobs
    if n_jobs < -1:
        workers = max(1, cores + 1 + n_jobs)  # joblib's convention: -2 = all cores but one
    return max(1, min(workers, n_tasks))


def _write_manifest(out: Path, base: dict, extra: dict) -> Path:
    from .provenance import write_manifest

    return write_manifest(out, **base, seed=None, extra=extra)


def _downstream(config, done, splits, features, targets, group_col, progress) -> tuple[pd.DataFrame, dict[int, int]]:
    """Fit every model on each strategy's final labelled set; seeds paired as documented.

    Returns the table and, with ``equal_acquisitions``, the number of acquisitions each
    training set used per split seed.
    """
    from .evaluation import DOWNSTREAM_COLUMNS, evaluate_downstream

    wanted = config.downstream.strategies or config.run.strategies
    by_strategy: dict[str, list[_RunOutcome]] = {}
    for o in done:
        if o.spec.strategy in wanted:
            by_strategy.setdefault(o.spec.strategy, []).append(o)
    for runs in by_strategy.values():
        runs.sort(key=lambda o: o.spec.seed)
    model_seeds = config.downstream_seeds()
    split_seeds = config.split_seeds()
    frames = []
    used: dict[int, int] = {}
    for split_seed in split_seeds:
        # Model seed number r uses run r mod n; with several splits every strategy has one
        # run per split (sorted like split_seeds), so r picks the same split for all.
        positions = [
            i for i in range(len(model_seeds)) if len(split_seeds) == 1 or split_seeds[i % len(split_seeds)] == split_seed
        ]
        if not positions:
            continue
        chosen = {s: {model_seeds[i]: runs[i % len(runs)] for i in positions} for s, runs in by_strategy.items()}
        n_used = None
        if config.downstream.equal_acquisitions:
            n_used = min(o.result.n_acquired for per in chosen.values() for o in per.values())
            used[split_seed] = n_used
        training = {
            s: {seed: _training_set(o.result, n_used) for seed, o in per.items()} for s, per in chosen.items()
        }
        frames.append(
            evaluate_downstream(
                training, splits[split_seed].test, features=features, targets=targets,
                group_col=group_col if config.downstream.per_group else None,
                models=config.downstream.models, seeds=[model_seeds[i] for i in positions],
                n_jobs=config.downstream.n_jobs, progress=progress,
            )
        )  # fmt: skip
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(DOWNSTREAM_COLUMNS))
    table = table.sort_values(["strategy", "model", "target", "seed", "scope"], kind="stable").reset_index(drop=True)
    return table, used


def _training_set(result, n_acquisitions: int | None) -> pd.DataFrame:
    """Initial labelled rows plus the first ``n_acquisitions`` acquired rows (all if None).

    ``labelled_final`` lists the initial rows (``acquired_at == 0``) and then the acquired
    rows in acquisition order.
    """
    final = result.labelled_final
    if n_acquisitions is None:
        return final
    n_initial = int((final["acquired_at"] == 0).sum())
    return final.iloc[: n_initial + int(n_acquisitions)]


def _bias_figures(writer, trajectory, summary, done, splits, focus, ds) -> dict[str, Path]:
    from .plots.experiment import (
        plot_distributions_before_after,
        plot_entropy_evolution_per_group,
        plot_gap_trajectories,
    )

    figures = {}
    figures["entropy_evolution"] = writer.figure(plot_entropy_evolution_per_group(trajectory, focus), "entropy_evolution")
    figures["entropy_gap"] = writer.figure(plot_gap_trajectories(summary), "entropy_gap")
    first = min((o for o in done if o.spec.strategy == focus), key=lambda o: o.spec.seed)
    before = splits[first.spec.split_seed].labelled
    after = first.result.labelled_final
    fig = plot_distributions_before_after(before, after, ds.group_col, ds.target_col)
    fig.axes[0].set_title(
        f"{ds.target_col} per {ds.group_col}: initial labelled set vs after {focus} (seed {first.spec.seed})"
    )
    figures["distributions"] = writer.figure(fig, "distributions")
    return figures


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
            "\n\nConsequence: for a strategy with one run there is no interval across seeds on its gap rate; "
            "repeat the experiment over several splits ([split] seeds = [...]) to get one."
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


def _report(writer, config, ds, splits, runs, trajectory, summary, gap_rates, downstream, paired, figures,
            text, seeds_info, depleted, depleted_paired, depleted_info) -> Path:  # fmt: skip
    from .report import ReportSection, build_report

    out = writer.out
    sections = [ReportSection("Summary", text=text)]
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
    rate_cols = [
        "strategy", "n_seeds", "first_iteration", "last_iteration", "gap_start", "gap_end",
        "gap_drop_per_acquisition", "drop_ci_low", "drop_ci_high", "gap_area", "area_ci_low", "area_ci_high", "note",
    ]  # fmt: skip
    upto = int(gap_rates["upto"].iloc[0]) if len(gap_rates) else 0
    sections.append(
        ReportSection(
            "Bias: entropy gap vs acquisitions, all strategies",
            text=(
                "The entropy gap (highest minus lowest group entropy, nats) after each acquisition. Rates are "
                f"least-squares slopes of the gap over the first {upto} acquisitions (the range every run reached, "
                "so strategies are compared over the same range), negated: positive = the gap falls. Intervals "
                "are 95 % t-intervals across seeds (none with a single run). gap_area is the area under the gap "
                "curve (smaller = less bias over the run)."
            ),
            figures=[figures["entropy_gap"]],
            tables=[("Gap reduction rate per acquisition (nats per acquisition)", gap_rates[rate_cols])],
        )
    )
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
    files = ", ".join(sorted(n for n in writer.files if not n.endswith((".png", ".svg")))) + ", manifest.json"
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
    title = config.title or "ET-AL experiment"
    return build_report(out, title=title, summary=facts, sections=sections)


def _depleted_section(depleted, depleted_paired, info) -> Any:
    from .report import ReportSection

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
    groups = sorted(trajectory["group"].unique())
    start = _snapshot(trajectory, None, "start")["entropies"]
    table = {"initial": [start.get(g, np.nan) for g in groups]}
    for strategy in dict.fromkeys(trajectory["strategy"]):
        end = _snapshot(trajectory, strategy, "end")["entropies"]
        table[f"after {strategy}"] = [end.get(g, np.nan) for g in groups]
    frame = pd.DataFrame(table, index=pd.Index(groups, name="group"))
    return frame
