"""issue 9 for the experiment floor: one home per default and name, layers, help text, no bars, errors."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etal.errors import InputError

SRC = Path(__file__).resolve().parents[1] / "src" / "etal"


# ------------------------------------------------------------------------ one home per default


def test_split_defaults_are_biased_splits_own():
    from etal.experiment import SplitConfig
    from etal.split import biased_split

    signature = inspect.signature(biased_split).parameters
    config = SplitConfig()
    for key in ("test_fraction", "pool_size", "seed"):
        assert getattr(config, key) == signature[key].default, key


def test_strategy_and_model_names_come_from_their_registries():
    from etal.evaluation import DOWNSTREAM_MODELS, MODEL_NAMES
    from etal.experiment import (
        STRATEGY_NAMES,
        DownstreamConfig,
        ExperimentConfig,
        RunConfig,
    )
    from etal.strategies import STRATEGIES

    assert STRATEGY_NAMES == tuple(STRATEGIES)
    assert RunConfig().strategies == list(STRATEGIES)
    assert MODEL_NAMES == tuple(DOWNSTREAM_MODELS)
    assert DownstreamConfig().models == list(DOWNSTREAM_MODELS)
    # the config's validation accepts exactly the registered names
    for name in STRATEGIES:
        ExperimentConfig.from_dict({"run": {"strategies": [name]}})
    with pytest.raises(InputError, match="unknown name"):
        ExperimentConfig.from_dict({"run": {"strategies": ["nope"]}})
    with pytest.raises(InputError, match="unknown name"):
        ExperimentConfig.from_dict({"downstream": {"models": ["nope"]}})


def test_each_registered_downstream_model_is_built_seeded_and_fits():
    from sklearn.base import is_regressor

    from etal.evaluation import DOWNSTREAM_MODELS, downstream_models

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=60)
    for name, build in DOWNSTREAM_MODELS.items():
        model = build(3)
        assert is_regressor(model), name
        # the same seed gives the same predictions (seeding is what pairs strategies)
        p1 = model.fit(x, y).predict(x[:5])
        p2 = downstream_models(3, [name])[name].fit(x, y).predict(x[:5])
        np.testing.assert_array_equal(p1, p2)
    assert list(downstream_models(0)) == list(DOWNSTREAM_MODELS)


def test_patience_is_set_for_etal_only_baselines_keep_their_strategy_default(monkeypatch):
    """The experiment passes its patience to ET-AL and None (the strategy's default) to baselines."""
    import etal.engine
    from etal.experiment import RunConfig, RunSpec
    from etal.experiment.execute import execute_run

    seen = {}

    class Stop(Exception):
        pass

    def spy_run(self, *args, **kwargs):
        seen[self.strategy_name] = (self.patience, self.fairness_stop, self.progress)
        raise Stop

    monkeypatch.setattr(etal.engine.ETAL, "run", spy_run)
    labelled = pd.DataFrame({"id": ["a", "b"], "g": ["x", "y"], "t": [0.0, 1.0], "f": [0.0, 1.0]})
    pool = pd.DataFrame({"id": ["c"], "g": ["x"], "t": [2.0], "f": [2.0]})
    columns = {"group_col": "g", "target_col": "t", "id_col": "id", "feature_cols": ["f"]}
    for strategy in ("etal", "random", "balanced", "uncertainty"):
        with pytest.raises(Stop):
            execute_run(RunSpec(strategy, 0, 0, 0), labelled, pool, columns, RunConfig(patience=7))
    assert seen["etal"][0] == 7
    fresh = {s: etal.engine.ETAL(group_col="g", target_col="t", id_col="id", feature_cols=["f"], strategy=s, patience=None) for s in seen}
    for strategy in ("random", "balanced", "uncertainty"):
        assert seen[strategy][0] == fresh[strategy].patience  # what ETAL does with None, unchanged
        assert seen[strategy][1] == fresh[strategy].fairness_stop  # fairness stop not set either
    assert not any(progress for _, _, progress in seen.values())  # the loop draws no bar


# ------------------------------------------------------------------------ layers


def _imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (relative imports resolved inside etal)."""
    package = ["etal", *path.relative_to(SRC).with_suffix("").parts]
    if package[-1] == "__init__":
        package = package[:-1]
    else:
        package = package[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                names.add(module)
                names.update(f"{module}.{a.name}" for a in node.names)
            else:
                names.add(node.module or "")
    return names


@pytest.mark.parametrize("package", ["experiment", "evaluation"])
def test_floor_8_imports_neither_the_report_nor_the_cli(package):
    files = sorted((SRC / package).glob("*.py"))
    assert files, package
    for path in files:
        up = {m for m in _imports(path) if m.startswith(("etal.report", "etal.cli"))}
        assert not up, f"{path.relative_to(SRC)} imports {sorted(up)} (floor 9/10)"


def test_evaluation_does_not_import_experiment_and_report_only_reads_down():
    for path in sorted((SRC / "evaluation").glob("*.py")):
        assert not {m for m in _imports(path) if m.startswith("etal.experiment")}, path.name
    for path in sorted((SRC / "report").glob("*.py")):
        assert not {m for m in _imports(path) if m.startswith("etal.cli")}, path.name


def test_running_the_experiment_layer_loads_no_report_module():
    code = (
        "import sys, etal.experiment, etal.experiment.execute, etal.evaluation; "
        "print(sorted(m for m in sys.modules if m.startswith(('etal.report', 'etal.cli', 'tqdm'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["experiment", "evaluation", "report"])
def test_modules_are_short_and_say_their_job(package):
    for path in sorted((SRC / package).glob("*.py")):
        lines = path.read_text().splitlines()
        assert len(lines) <= 600, f"{path.name}: {len(lines)} lines"
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and len(doc.split()) >= 5, f"{path.name} has no docstring saying its job"


# ------------------------------------------------------------------------ one entropy_gap


def test_trajectory_summary_uses_the_one_entropy_gap_per_row():
    from etal.bias.scores import entropy_gap, lowest_entropy
    from etal.evaluation import summarise_bias_trajectory

    rng = np.random.default_rng(4)
    rows = []
    for strategy in ("etal", "random"):
        for seed in (0, 1):
            for it in range(6):
                for g in "abcd":
                    h = rng.normal(1.0, 0.7)
                    # NaN (too few values), -inf (old constant-group marker), a very low finite
                    # entropy (a constant group with the dataset resolution): only NaN/inf are left out.
                    h = {0: np.nan, 1: -np.inf, 2: -12.5}.get(int(rng.integers(0, 8)), h)
                    rows.append((strategy, seed, it, g, h))
    trajectory = pd.DataFrame(rows, columns=["strategy", "seed", "iteration", "group", "entropy"])
    summary = summarise_bias_trajectory(trajectory).set_index(["strategy", "seed", "iteration"])
    for key, block in trajectory.groupby(["strategy", "seed", "iteration"]):
        h = block["entropy"].to_numpy()
        finite = h[np.isfinite(h)]
        expected_gap = finite.max() - finite.min() if finite.size >= 2 else np.nan  # independent
        got = summary.loc[key]
        np.testing.assert_allclose(got["entropy_gap"], expected_gap)
        assert got["entropy_gap"] == pytest.approx(entropy_gap(h), nan_ok=True)
        assert got["entropy_min"] == pytest.approx(lowest_entropy(h), nan_ok=True)
        assert got["n_groups"] == finite.size
        expected_std = finite.std(ddof=0) if finite.size >= 2 else np.nan
        np.testing.assert_allclose(got["entropy_std"], expected_std)
    # a very low finite entropy (constant group) pins the gap: it is not left out
    low = trajectory[(trajectory["entropy"] == -12.5)].iloc[0]
    key = (low["strategy"], low["seed"], low["iteration"])
    assert summary.loc[key, "entropy_min"] == -12.5


def test_bias_snapshot_counts_a_constant_group_as_the_least_diverse():
    from etal.report import bias_snapshot

    snap = bias_snapshot({"a": 1.2, "b": 0.4, "const": -9.0, "small": float("nan")})
    assert snap["entropy_gap"] == pytest.approx(1.2 - (-9.0)) and snap["entropy_min"] == -9.0


# ------------------------------------------------------------------------ CLI help and errors


def _help(capsys, *argv) -> str:
    from etal.cli import main

    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_experiment_seeds_help_says_what_each_seed_controls(capsys):
    text = _help(capsys, "experiment")
    text = text[text.index("overrides (take precedence") :]  # the options, not the usage line
    seeds = text[text.index("--seeds SEEDS") : text.index("--split-seeds SEEDS")]
    split = text[text.index("--split-seeds SEEDS") : text.index("--downstream-seeds")]
    assert "LOOP seeds" in seeds and "ONE split" in seeds and "random and balanced" in seeds
    assert "Sets [run] seeds" in seeds and "SPLIT" not in seeds
    assert "SPLIT seeds" in split and "one biased split" in split and "split seed as its loop seed" in split
    assert "Sets [split] seeds" in split and "LOOP" not in split


def test_seed_flags_do_what_their_help_says(tmp_path):
    """--seeds: loop seeds on one split; --split-seeds: one split per seed (checked on the config)."""
    from etal.cli import build_parser
    from etal.cli.experiment import config_from_args

    parser = build_parser()
    loop = config_from_args(parser.parse_args(["experiment", "--seeds", "3", "--out", str(tmp_path)]))
    assert loop.split_seeds() == [0] and loop.run_seeds() == [0, 1, 2]
    split = config_from_args(parser.parse_args(["experiment", "--split-seeds", "3", "--out", str(tmp_path)]))
    assert split.split_seeds() == [0, 1, 2] and split.run_seeds() == [0, 1, 2] and split.run.seeds is None


def test_models_and_strategies_help_list_the_registries(capsys):
    from etal.evaluation import MODEL_NAMES
    from etal.strategies import STRATEGIES

    text = _help(capsys, "experiment")
    unwrapped = text.replace("- ", "-")  # argparse may wrap after the hyphen of "etal-deficit"
    assert ",".join(MODEL_NAMES) in text and ",".join(STRATEGIES) in unwrapped


def test_library_errors_name_no_command_line_flags(tmp_path):
    from etal.experiment import ExperimentConfig, parse_seeds

    messages = []
    for call in (
        lambda: ExperimentConfig.from_toml(tmp_path / "missing.toml"),
        lambda: parse_seeds("x"),
        lambda: parse_seeds("0"),
        lambda: ExperimentConfig.from_dict({"run": {"seeds": 2}, "split": {"seeds": [0, 1]}}),
        lambda: ExperimentConfig.from_dict({"run": {"n_jobs": 0}}),
    ):
        with pytest.raises(InputError) as info:
            call()
        messages.append(str(info.value))
    for message in messages:
        assert " --" not in message and not message.startswith("--"), message
    assert "missing.toml" in messages[0]


def test_cli_still_names_the_flag_for_a_bad_seed_value(capsys):
    from etal.cli import main

    with pytest.raises(SystemExit):
        main(["experiment", "--seeds", "x"])
    assert "--seeds" in capsys.readouterr().err


def test_cli_adds_the_flag_to_a_config_file_error(tmp_path, capsys):
    from etal.cli import main

    missing = tmp_path / "nope.toml"
    assert main(["experiment", "--config", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--config" in err and "nope.toml" in err and "does not exist" in err
