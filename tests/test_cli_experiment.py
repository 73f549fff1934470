"""`etal experiment` and `etal demo` on the command line."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from etal.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("entropy deficit", "entropy evolution", "entropy gap", "distributions", "r2 boxplots")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """A third of OQMD-8 per crystal system as a CSV file with the dataset's column names."""
    from etal.datasets import load_dataset

    frame = load_dataset("oqmd8")
    frame = frame.groupby("crystal_system", group_keys=False).sample(frac=1 / 3, random_state=1)
    path = tmp_path_factory.mktemp("data") / "oqmd_third.csv"
    frame.to_csv(path, index=False)
    return path


CONFIG = """
title = "CLI test"
[data]
group_col = "crystal_system"
target_col = "formation_energy_per_atom"
id_col = "id"
feature_cols = ["frac_*", "volume_per_atom", "natoms"]
[split]
pool_size = 150
[run]
strategies = ["etal", "random", "balanced"]
budget = 6
seeds = 2
[downstream]
models = ["gradient_boosting", "svr"]
targets = ["formation_energy_per_atom"]
seeds = 2
"""


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.external = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append((attrs.get("alt"), attrs.get("src", "")))
        for key in ("src", "href"):
            if attrs.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(attrs[key])


@pytest.fixture(scope="module")
def cli_run(table, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "small.toml"
    config.write_text(CONFIG)
    out = folder / "out"
    # --budget and --strategies override the file; --n-jobs 2 runs the runs in parallel
    argv = [
        "experiment", str(table), "--config", str(config), "--out", str(out), "--budget", "4",
        "--strategies", "etal,random", "--n-jobs", "2", "--no-progress",
    ]  # fmt: skip
    return main(argv), out


def test_cli_experiment_writes_a_self_contained_report_with_every_figure(cli_run, capsys):
    code, out = cli_run
    assert code == 0
    parser = _Images()
    parser.feed((out / "report.html").read_text())
    assert parser.external == []
    alts = [alt for alt, _ in parser.images]
    assert sorted(alts) == sorted(FIGURES)
    for alt, src in parser.images:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix), alt
        data = base64.b64decode(src[len(prefix):])
        assert data[:8] == PNG_MAGIC and data == (out / f"{alt.replace(' ', '_')}.png").read_bytes()


def test_cli_values_override_the_config_file(cli_run):
    code, out = cli_run
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["strategy"]) == {"etal", "random"}  # --strategies, not the file's three
    assert set(runs["n_acquired"]) == {4} and set(runs["budget"]) == {4}  # --budget 4, not 6
    assert sorted(runs.loc[runs["strategy"] == "random", "seed"]) == [0, 1]  # the file's seeds = 2
    downstream = pd.read_csv(out / "downstream.csv")
    assert set(downstream["model"]) == {"gradient_boosting", "svr"} and set(downstream["seed"]) == {0, 1}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "etal experiment" and manifest["arguments"]["budget"] == 4
    assert manifest["arguments"]["config"]["run"]["budget"] == 4
    assert manifest["inputs"]["data"]


def test_parallel_runs_match_a_sequential_api_run(cli_run, table, tmp_path):
    """--n-jobs 2 (parallel runs) gives the same trajectories as one process."""
    from etal.experiment import ExperimentConfig, run_experiment

    code, out = cli_run
    config = ExperimentConfig.from_toml(out / "config.toml")
    config.run.n_jobs = config.downstream.n_jobs = 1
    config.downstream.enabled = False
    result = run_experiment(config, tmp_path, progress=False)
    parallel = pd.read_csv(out / "bias_trajectory.csv")
    pd.testing.assert_frame_equal(result.trajectory.reset_index(drop=True), parallel, check_exact=False, rtol=1e-12)


def test_cli_prints_a_summary_ending_with_the_report_path(table, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(CONFIG.replace('strategies = ["etal", "random", "balanced"]', 'strategies = ["random", "balanced"]'))
    code = main(["experiment", str(table), "--config", str(config), "--out", str(tmp_path / "o"),
                 "--no-downstream", "--seeds", "0,5", "--n-jobs", "1", "--no-progress"])  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"report: {tmp_path / 'o' / 'report.html'}"
    assert any(line.strip().startswith("random") and "2 run(s)" in line for line in lines)
    runs = pd.read_csv(tmp_path / "o" / "runs.csv")
    assert sorted(runs.loc[runs["strategy"] == "random", "seed"]) == [0, 5]


@pytest.mark.parametrize(
    "text, argv_extra, expected",
    [
        ("[run]\nbudget = 'x'\n", [], "[run] budget must be a whole number >= 1"),
        ("[run]\nbudgte = 3\n", [], "unknown key 'budgte' in [run]"),
        ("", ["--seeds", "2", "--split-seeds", "2"], "not both"),
        ("", ["--pool-file", "x.csv"], "--pool-file does not apply"),
    ],
)
def test_cli_errors_are_one_line_naming_the_file(tmp_path, capsys, text, argv_extra, expected):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    code = main(["experiment", "--config", str(config), "--out", str(tmp_path / "o"), *argv_extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("etal experiment: error:") and expected in err
    if text:
        assert str(config) in err


def test_demo_quick_ends_by_printing_the_report_path(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"report: {out / 'report.html'}"
    assert (out / "report.html").is_file()
    # D leads: the default strategy's advantage over random, paired by split seed, with an interval
    from etal.experiment import DEFAULT_STRATEGY

    assert printed[1].startswith("bias: mean entropy deficit D")
    advantage = next(line for line in printed if line.strip().startswith(f"{DEFAULT_STRATEGY} minus random:"))
    assert "95% t-interval" in advantage and "paired by split seed over 2 seeds" in advantage
    downstream = pd.read_csv(out / "downstream.csv")
    # the embedded dataset's two targets by default
    assert set(downstream["target"]) == {"formation_energy_per_atom", "volume_per_atom"}
    assert json.loads((out / "manifest.json").read_text())["command"] == "etal demo"
