"""The experiment's settings: the TOML schema, its validation, and the one home of its defaults.

Defaults are taken from where they are defined: the split's from the signature of
:func:`etal.split.biased_split`, the strategy names from the strategy registry
(:data:`etal.strategies.STRATEGIES`) and its default (:data:`DEFAULT_STRATEGY`), the downstream model names from
:data:`etal.evaluation.DOWNSTREAM_MODELS`, ET-AL's patience from :class:`etal.engine.ETAL`.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import strategies as _registry
from ..acquisition import ESTIMATORS
from ..errors import InputError
from ..params import check_bool, check_float, check_int, default_of
from ..evaluation import MODEL_NAMES
from ..engine.loop import DEFAULT_BUDGET, ETAL, OFF
from ..split import biased_split, parse_condition
from ..strategies import STRATEGIES

__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_RUN_SEEDS",
    "DEFAULT_STRATEGY",
    "DEMO_OUT",
    "STRATEGY_NAMES",
    "DataConfig",
    "DownstreamConfig",
    "ExperimentConfig",
    "RunConfig",
    "SplitConfig",
    "demo_config",
    "parse_seeds",
]


_default_of = default_of


_SPLIT_DEFAULTS = {k: _default_of(biased_split, k) for k in ("test_fraction", "pool_size", "seed")}

#: Default output folders of ``etal experiment`` and ``etal demo``.
DEFAULT_OUT = "etal-out/experiment"
DEMO_OUT = "etal-out/demo"
#: The strategies an experiment can compare: the names of the strategy registry.
STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)
#: The registry's default strategy (:data:`etal.strategies.DEFAULT_STRATEGY`); the experiment
#: compares it with the others.
DEFAULT_STRATEGY: str = _registry.DEFAULT_STRATEGY
#: Split seeds of ``etal demo``: enough for a paired t-interval across splits.
DEMO_SPLIT_SEEDS: tuple[int, ...] = (0, 1, 2)
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

    test_fraction: float = _SPLIT_DEFAULTS["test_fraction"]
    pool_size: int = _SPLIT_DEFAULTS["pool_size"]
    rules: str | dict[str, str] = "paper"
    seed: int = _SPLIT_DEFAULTS["seed"]
    seeds: list[int] | None = None


@dataclass
class RunConfig:
    """``[run]``: the strategies and the loop settings shared by all of them.

    ``budget``: acquisitions per run. ``patience``: ET-AL's exclusion rule (method doc §4;
    ``"off"`` disables it; ``None``, the default, keeps the strategy's own default). The experiment does not set
    patience or the fairness stop for the baselines: they keep their strategy's own
    defaults, as in ``etal run`` and in Python.
    ``seeds``: a count ``k`` (seeds ``0..k-1``) or a list of loop seeds (one split only;
    default :data:`DEFAULT_RUN_SEEDS`). ``n_jobs``: runs in parallel (joblib; -1 = all
    cores); each run uses one BLAS thread.
    """

    strategies: list[str] = field(default_factory=lambda: list(STRATEGY_NAMES))
    budget: int = DEFAULT_BUDGET
    batch_size: int = 1
    estimator: str = "quadrature"
    n_samples: int = 1000
    patience: int | str | None = _default_of(ETAL, "patience")
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
    models: list[str] = field(default_factory=lambda: list(MODEL_NAMES))
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
            raise InputError(f"config file {path} does not exist; check its path") from None
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
                if v is not None:
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
        from ..datasets import list_datasets

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


def _ok(check: Callable[..., Any], value: Any, **limits: Any) -> bool:
    """Does ``value`` pass an :mod:`etal.params` check (the one home of the logic)? The
    schema keeps its TOML wording ("a whole number", "true or false") for the message."""
    try:
        check("value", value, **limits)
    except InputError:
        return False
    return True


def _is_int(value: Any) -> bool:
    return _ok(check_int, value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("must be a non-empty string")
    return value.strip()


def _int_at_least(low: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if not _ok(check_int, value, low=low):
            raise _Bad(f"must be a whole number >= {low}")
        return int(value)

    return check


def _n_jobs(value: Any) -> int:
    if not _is_int(value) or value == 0:
        raise _Bad("must be a whole number of parallel workers (>= 1, or -1 for all cores)")
    return int(value)


def _fraction(value: Any) -> float:
    if not _ok(check_float, value, low=0, high=1, high_open=True):
        raise _Bad("must be a number in [0, 1)")
    return float(value)


def _bool(value: Any) -> bool:
    if not _ok(check_bool, value):
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
    if not isinstance(value, list) or not value or not all(_ok(check_int, v, low=0) for v in value):
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


def _patience(value: Any) -> int | str:
    if value is False or (isinstance(value, str) and value.strip().lower() in ("none", "off")):
        return OFF
    if not _ok(check_int, value, low=1):
        raise _Bad('must be a whole number >= 1, or "none" to disable the exclusion rule')
    return int(value)


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
        "estimator": _choice(ESTIMATORS),
        "n_samples": _int_at_least(1),
        "patience": _patience,
        "seeds": _seeds,
        "n_jobs": _n_jobs,
    },
    "downstream": {
        "enabled": _bool,
        "targets": _name_list(),
        "features": _name_list(allow_string=True),
        "models": _name_list(MODEL_NAMES),
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


def demo_strategies() -> list[str]:
    """The demo's strategies: the registry's default, random and uncertainty sampling (in that order)."""
    return list(dict.fromkeys([DEFAULT_STRATEGY, "random", "uncertainty"]))


def demo_config(quick: bool = False) -> ExperimentConfig:
    """The settings of ``etal demo`` (a fresh copy; ``examples/configs/oqmd8-demo.toml`` is the same).

    Full demo (about a minute on 2 cores, measured; docs/experiment.md): embedded OQMD-8,
    the paper's biased split (30 % test, pool of 1,000 with the depleted crystal systems)
    repeated over the split seeds :data:`DEMO_SPLIT_SEEDS`; the default strategy
    (:data:`DEFAULT_STRATEGY`), random and uncertainty sampling run once on each split
    with a budget of 100 acquisitions, so that the default's mean entropy deficit D can be
    compared with the others' paired by split seed, with a t-interval; all five
    downstream models for both OQMD-8 targets with R = 3 model seeds (model seed r trains
    on split r's runs and is scored on its test set).
    ``quick=True`` is a reduced demo for tests (budget 10, the default vs random on 2
    splits, 2 models, R = 2): well under 30 s.
    """
    if quick:
        return ExperimentConfig(
            data=DataConfig(source="oqmd8"),
            split=SplitConfig(seeds=list(DEMO_SPLIT_SEEDS[:2])),
            run=RunConfig(strategies=demo_strategies()[:2], budget=10),
            downstream=DownstreamConfig(models=["gradient_boosting", "random_forest"], seeds=2),
            title="ET-AL quick demo on OQMD-8",
        )
    return ExperimentConfig(
        data=DataConfig(source="oqmd8"),
        split=SplitConfig(seeds=list(DEMO_SPLIT_SEEDS)),
        run=RunConfig(strategies=demo_strategies(), budget=100),
        downstream=DownstreamConfig(seeds=3),
        title="ET-AL demo on OQMD-8: bias (mean entropy deficit D) vs random and uncertainty sampling",
    )
