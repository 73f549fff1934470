"""The paper's experiment (etal.experiment): config files, run plan, outputs, seeds, stops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from scipy.integrate import trapezoid

from etal.errors import InputError
from etal.evaluation import DOWNSTREAM_COLUMNS, evaluate_downstream
from etal.experiment import (
    DEPLETED_COLUMNS,
    RUNS_COLUMNS,
    TRAJECTORY_COLUMNS,
    DataConfig,
    DownstreamConfig,
    ExperimentConfig,
    RunConfig,
    RunSpec,
    SplitConfig,
    demo_config,
    parse_seeds,
    plan_runs,
    run_experiment,
)
from etal.report import write_experiment_report


def run_and_report(*args, **kwargs):
    """run_experiment, then the report (floor 9) rendered from its result, as the CLI does."""
    result = run_experiment(*args, **kwargs)
    write_experiment_report(result)
    return result


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "configs"
GROUP, TARGET, ID = "crystal_system", "formation_energy_per_atom", "id"


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def subset() -> pd.DataFrame:
    """A third of OQMD-8 per crystal system (~980 rows): fast, still biased by the paper's rules."""
    from etal.datasets import load_dataset

    frame = load_dataset("oqmd8")
    return frame.groupby(GROUP, group_keys=False).sample(frac=1 / 3, random_state=0).reset_index(drop=True)


def small_config(**run) -> ExperimentConfig:
    return ExperimentConfig(
        split=SplitConfig(pool_size=150, seed=0),
        run=RunConfig(**{"strategies": ["etal", "random"], "budget": 5, "seeds": 2, "n_jobs": 1, **run}),
        downstream=DownstreamConfig(
            models=["gradient_boosting"], targets=[TARGET, "volume_per_atom"], seeds=3, n_jobs=1
        ),
    )


# ------------------------------------------------------------------------ config files


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


FULL = """
title = "test"
[data]
source = "table.csv"
group_col = "family"
target_col = "gap"
id_col = "mat_id"
feature_cols = ["f*", "natoms"]
[split]
test_fraction = 0.25
pool_size = 300
rules = { A = "target > 0", B = "target < -1 or target > 2" }
seed = 4
[run]
strategies = ["random", "etal"]
budget = 40
batch_size = 2
estimator = "mc"
n_samples = 200
patience = "none"
seeds = [3, 5]
n_jobs = 2
[downstream]
enabled = true
targets = ["gap", "volume"]
features = "f1,f2"
models = ["svr", "mlp"]
seeds = 7
n_jobs = 1
strategies = ["etal"]
per_group = false
"""


def test_config_file_with_every_key_parses_and_round_trips(tmp_path):
    path = write(tmp_path, FULL)
    cfg = ExperimentConfig.from_toml(path)
    assert cfg.data == DataConfig("table.csv", "family", "gap", "mat_id", ["f*", "natoms"])
    assert cfg.split.rules == {"A": "target > 0", "B": "target < -1 or target > 2"}
    assert (cfg.split.test_fraction, cfg.split.pool_size, cfg.split.seed) == (0.25, 300, 4)
    assert cfg.run.patience == "off" and cfg.run.estimator == "mc" and cfg.run.seeds == [3, 5]
    assert cfg.run_seeds() == [3, 5] and cfg.split_seeds() == [4]
    assert cfg.downstream.features == ["f1", "f2"]  # a comma-separated string is accepted
    assert cfg.downstream_seeds() == list(range(7))
    # a relative source is relative to the config file's folder
    assert Path(cfg.source()) == tmp_path.resolve() / "table.csv"
    again = ExperimentConfig.from_toml(write(tmp_path, cfg.to_toml(), "again.toml"))
    assert again == cfg


def test_empty_config_gives_the_defaults(tmp_path):
    cfg = ExperimentConfig.from_toml(write(tmp_path, ""))
    assert cfg == ExperimentConfig()
    assert cfg.source() == "oqmd8" and cfg.run_seeds() == [0, 1, 2, 3, 4] and cfg.downstream_seeds() == list(range(30))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[run]\nbudgte = 10\n", ["unknown key 'budgte' in [run]", "Did you mean 'budget'", "strategies, budget, batch_size"]),
        ("[runs]\nbudget = 10\n", ["unknown top-level key 'runs'", "data, downstream, run, split"]),
        ("[downstream]\nr = 5\n", ["unknown key 'r' in [downstream]", "enabled, targets, features, models, seeds"]),
    ],
)
def test_unknown_keys_name_the_file_and_list_the_valid_ones(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        ExperimentConfig.from_toml(path)
    message = str(err.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[run]\nbudget = "ten"\n', "[run] budget must be a whole number >= 1, got 'ten' (str)"),
        ("[run]\nbudget = 0\n", "[run] budget must be a whole number >= 1, got 0 (int)"),
        ("[run]\nbudget = true\n", "[run] budget must be a whole number >= 1, got True (bool)"),
        ("[split]\ntest_fraction = 1.5\n", "[split] test_fraction must be a number in [0, 1)"),
        ('[run]\nstrategies = ["etal", "greedy"]\n', "unknown name(s) ['greedy']"),
        ('[downstream]\nmodels = ["xgboost"]\n', "unknown name(s) ['xgboost']"),
        ("[run]\nseeds = [1, 1]\n", "[run] seeds must be a count >= 1"),
        ('[split]\nrules = { tetragonal = "energy >> 0" }\n', "bad condition for group 'tetragonal'"),
        ('[run]\nestimator = "exact"\n', "[run] estimator must be one of 'quadrature', 'mc'"),
        ("[data]\nsource = 3\n", "[data] source must be a non-empty string, got 3 (int)"),
        ("run = 5\n", "[run] must be a table"),
    ],
)
def test_bad_values_name_file_section_key_and_value(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        ExperimentConfig.from_toml(path)
    assert str(err.value).startswith(str(path))
    assert expected in str(err.value)


def test_invalid_toml_missing_file_and_conflicting_seeds(tmp_path):
    path = write(tmp_path, "[run\nbudget = 1\n")
    with pytest.raises(InputError, match=r"exp\.toml: invalid TOML"):
        ExperimentConfig.from_toml(path)
    with pytest.raises(InputError, match="does not exist"):
        ExperimentConfig.from_toml(tmp_path / "nope.toml")
    both = write(tmp_path, "[split]\nseeds = [0, 1]\n[run]\nseeds = 3\n")
    with pytest.raises(InputError, match=r"\[split\] seeds and \[run\] seeds are both set"):
        ExperimentConfig.from_toml(both)
    not_run = write(tmp_path, '[run]\nstrategies = ["etal"]\n[downstream]\nstrategies = ["random"]\n')
    with pytest.raises(InputError, match=r"\[downstream\] strategies \['random'\] are not run"):
        ExperimentConfig.from_toml(not_run)


def test_validate_checks_configs_built_in_python():
    cfg = ExperimentConfig(run=RunConfig(budget=-1))
    with pytest.raises(InputError, match=r"\[run\] budget must be a whole number >= 1, got -1"):
        cfg.validate()


def test_parse_seeds():
    assert parse_seeds("5") == 5
    assert parse_seeds("0,3,7") == [0, 3, 7]
    for bad in ("0", "x", "1,1", "-1,2"):
        with pytest.raises(InputError):
            parse_seeds(bad)


def test_demo_compares_the_registry_default_with_random_and_uncertainty_over_three_splits():
    import inspect

    import etal.strategies
    from etal.experiment import DEFAULT_STRATEGY

    registry_default = getattr(etal.strategies, "DEFAULT_STRATEGY", None) or (
        inspect.signature(etal.strategies.make_strategy).parameters["name_or_obj"].default
    )
    assert DEFAULT_STRATEGY == registry_default
    config = demo_config()
    assert config.run.strategies == [DEFAULT_STRATEGY, "random", "uncertainty"]
    assert len(config.split_seeds()) >= 3 and config.run.seeds is None  # one run per strategy and split
    quick = demo_config(quick=True)
    assert quick.run.strategies[0] == DEFAULT_STRATEGY and len(quick.split_seeds()) >= 2


def test_example_configs_parse_and_the_demo_file_matches_the_demo_defaults():
    files = sorted(p.name for p in EXAMPLES.glob("*.toml"))
    assert {"oqmd8-demo.toml", "oqmd8-paper.toml", "seeds5.toml"} <= set(files)
    configs = {name: ExperimentConfig.from_toml(EXAMPLES / name) for name in files}
    assert configs["oqmd8-demo.toml"] == demo_config()
    paper = configs["oqmd8-paper.toml"]
    assert paper.downstream_seeds() == list(range(30)) and len(paper.run_seeds()) >= 5
    seeds5 = configs["seeds5.toml"]
    assert len(seeds5.split_seeds()) >= 5 and {"etal", "random"} <= set(seeds5.run.strategies)


# ------------------------------------------------------------------------ run plan


def test_plan_runs_deterministic_strategies_once_random_ones_per_seed(subset):
    from etal.split import biased_split

    split = biased_split(subset, group_col=GROUP, target_col=TARGET, pool_size=150, seed=0)
    cfg = ExperimentConfig(run=RunConfig(seeds=[4, 2, 9]))
    specs = plan_runs(cfg, {0: split}, GROUP)
    by = {}
    for s in specs:
        by.setdefault(s.strategy, []).append(s.seed)
    assert by == {"etal-deficit": [4], "etal": [4], "etal-paper": [4, 2, 9], "random": [4, 2, 9],
                  "balanced": [4, 2, 9], "uncertainty": [4]}
    assert all(s.split_seed == 0 and s.loop_seed == s.seed for s in specs)
    # Monte Carlo draws make ET-AL stochastic: then it runs per seed
    mc = ExperimentConfig(run=RunConfig(seeds=2, estimator="mc"))
    assert [s.seed for s in plan_runs(mc, {0: split}, GROUP) if s.strategy == "etal"] == [0, 1]
    # a group with candidates but < 2 labelled rows gets seeded random picks: per seed too
    assert (split.pool[GROUP] == "tetragonal").any()
    thin = split.labelled[split.labelled[GROUP] != "tetragonal"]
    thin = pd.concat([thin, split.labelled[split.labelled[GROUP] == "tetragonal"].head(1)])
    thin_split = type(split)(**{**split.__dict__, "labelled": thin})
    plan = plan_runs(ExperimentConfig(run=RunConfig(seeds=2)), {0: thin_split}, GROUP)
    assert [s.seed for s in plan if s.strategy in ("etal", "uncertainty")] == [0, 1, 0, 1]


def test_plan_runs_several_splits_every_strategy_once_per_split():
    cfg = ExperimentConfig(split=SplitConfig(seeds=[7, 8]), run=RunConfig(strategies=["etal", "random"]))
    specs = plan_runs(cfg, {7: None, 8: None}, GROUP)
    assert specs == [RunSpec("etal", 7, 7, 7), RunSpec("etal", 8, 8, 8), RunSpec("random", 7, 7, 7), RunSpec("random", 8, 8, 8)]


def test_etal_quadrature_makes_no_random_choice_given_the_split(subset):
    """The premise of running ET-AL once per split: its picks do not depend on the loop seed."""
    from etal.engine import ETAL
    from etal.oracles import LookupOracle
    from etal.split import biased_split

    split = biased_split(subset, group_col=GROUP, target_col=TARGET, pool_size=150, seed=0)
    features = [c for c in subset.columns if c.startswith("frac_")] + ["volume_per_atom", "natoms"]
    picks = []
    for seed in (0, 123):
        loop = ETAL(group_col=GROUP, target_col=TARGET, feature_cols=features, budget=6, seed=seed, progress=False)
        oracle = LookupOracle(split.pool[[ID, TARGET]], target_col=TARGET)
        picks.append(loop.run(split.labelled, split.pool.drop(columns=[TARGET]), oracle).selected)
    assert picks[0] == picks[1] and len(picks[0]) == 6


# ------------------------------------------------------------------------ a tiny experiment


@pytest.fixture(scope="module")
def tiny(subset, tmp_path_factory):
    """etal vs random, budget 5, 2 loop seeds, 1 model x 2 targets x 3 model seeds.

    ETAL.run is wrapped to record the tables the loop receives, and every oracle call is
    counted, to check that no pool label reaches the loop.
    """
    import etal.engine
    import etal.oracles

    seen_pools, revealed = [], []
    run, call = etal.engine.ETAL.run, etal.oracles.LookupOracle.__call__

    def spy_run(self, labelled=None, pool=None, oracle=None, budget=None):
        seen_pools.append((self.strategy_name, list(pool.columns), pool[ID].tolist()))
        return run(self, labelled, pool, oracle, budget)

    def spy_call(self, rows):
        values = call(self, rows)
        revealed.append(len(values))
        return values

    out = tmp_path_factory.mktemp("tiny") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(etal.engine.ETAL, "run", spy_run)
        mp.setattr(etal.oracles.LookupOracle, "__call__", spy_call)
        result = run_and_report(small_config(), out, data=subset, progress=False)
    return result, out, seen_pools, revealed


def test_tiny_experiment_writes_every_file_with_the_specified_columns(tiny):
    result, out, _, _ = tiny
    for name in (
        "config.toml", "split_summary.csv", "runs.csv", "acquisitions.csv", "bias_trajectory.csv",
        "bias_summary.csv", "quality.csv", "quality_paired.csv", "depleted_groups.csv", "downstream.csv",
        "paired_comparison.csv", "manifest.json", "report.html", "split/labelled.csv", "split/pool.csv", "split/test.csv",
    ):  # fmt: skip
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not (out / "gap_reduction_rate.csv").exists()  # the gap-drop slope is retired
    for stem in ("entropy_deficit", "entropy_evolution", "entropy_gap", "distributions", "r2_boxplots"):
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:2000]
    trajectory = pd.read_csv(out / "bias_trajectory.csv")
    downstream = pd.read_csv(out / "downstream.csv")
    runs = pd.read_csv(out / "runs.csv")
    assert list(trajectory.columns) == list(TRAJECTORY_COLUMNS) == ["strategy", "seed", "iteration", "group", "entropy"]
    assert list(downstream.columns) == list(DOWNSTREAM_COLUMNS) == ["strategy", "model", "target", "seed", "scope", "r2", "mae"]
    assert list(runs.columns) == list(RUNS_COLUMNS)
    # runs: etal once (deterministic), random with loop seeds 0 and 1
    assert list(zip(runs["strategy"], runs["seed"])) == [("etal", 0), ("random", 0), ("random", 1)]
    # one trajectory row per run x (acquisitions + 1) x group
    n_groups = trajectory["group"].nunique()
    assert n_groups == 7
    assert len(trajectory) == sum((n + 1) * n_groups for n in runs["n_acquired"])
    for (_, seed), block in trajectory.groupby(["strategy", "seed"]):
        assert sorted(block["iteration"].unique()) == list(range(6))
    # downstream: strategies x models x targets x seeds, scope "all" present for each
    whole = downstream[downstream["scope"] == "all"]
    assert len(whole) == 2 * 1 * 2 * 3
    assert set(whole["target"]) == {"formation_energy_per_atom", "volume_per_atom"}
    assert set(downstream["scope"]) - {"all"} <= set(trajectory["group"])
    assert len(set(downstream["scope"])) > 2  # per-group scores too
    paired = pd.read_csv(out / "paired_comparison.csv")
    assert set(paired["metric"]) == {"r2", "mae"} and (paired["a"] == "etal").all() and (paired["b"] == "random").all()
    assert (paired["n_pairs"] == 3).all()
    # D per acquisition and per run: independent recomputation from the written trajectory
    from etal.bias.scores import entropy_deficit
    from etal.evaluation import SUMMARY_COLUMNS
    from etal.experiment import QUALITY_COLUMNS

    summary = pd.read_csv(out / "bias_summary.csv")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    quality = pd.read_csv(out / "quality.csv")
    assert list(quality.columns) == list(QUALITY_COLUMNS)
    assert len(quality) == len(runs)
    for (strategy, seed), block in trajectory.groupby(["strategy", "seed"]):
        wide = block.pivot(index="iteration", columns="group", values="entropy")
        d = np.array([entropy_deficit(row) for row in wide.to_numpy()])
        got = summary[(summary["strategy"] == strategy) & (summary["seed"] == seed)].sort_values("iteration")
        np.testing.assert_allclose(got["entropy_deficit"].to_numpy(), d)
        row = quality[(quality["strategy"] == strategy) & (quality["seed"] == seed)].iloc[0]
        assert row["D_start"] == pytest.approx(d[0]) and row["final_D"] == pytest.approx(d[-1])
        assert row["auc_D"] == pytest.approx(trapezoid(d))
    # random ran twice on the one split: the reference is the mean of its two final Ds
    finals = quality.set_index(["strategy", "seed"])["final_D"]
    ref = (finals[("random", 0)] + finals[("random", 1)]) / 2
    etal_d = summary[summary["strategy"] == "etal"].sort_values("iteration")["entropy_deficit"].to_numpy()
    hit = np.flatnonzero(etal_d <= ref + 1e-12)
    expected = float(hit[0]) if hit.size else np.nan
    np.testing.assert_equal(quality.set_index("strategy").loc["etal", "picks_to_random"], expected)
    # one split: one pair, so no interval, and the file says why
    qp = pd.read_csv(out / "quality_paired.csv")
    assert set(qp["column"]) == {"final_D", "auc_D"} and (qp["a"] == "etal").all() and (qp["b"] == "random").all()
    assert (qp["n_pairs"] == 1).all() and qp["ci_low"].isna().all()
    assert manifest_has_deficit(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["seeds"]["runs"] == {"etal": [0], "random": [0, 1]}
    assert manifest["seeds"]["downstream_seeds"] == [0, 1, 2]
    assert set(manifest["runs"]) == {"etal/seed-0", "random/seed-0", "random/seed-1"}
    assert all(r["stop_reason"].startswith("budget reached") for r in manifest["runs"].values())
    assert manifest["inputs"]["data"] and "versions" in manifest and "runs" in manifest["timings"]
    # config.toml repeats the run's settings
    again = ExperimentConfig.from_toml(out / "config.toml")
    assert again.run == result.config.run and again.data.group_col == GROUP


PAPER_DEPLETED = ["orthorhombic", "tetragonal", "trigonal"]


def test_depleted_groups_table_scores_the_groups_the_split_depleted(tiny):
    """depleted_groups.csv holds, per run, the lowest / mean entropy of the paper's depleted
    groups at the start and at the end, recomputed here straight from bias_trajectory.csv."""
    result, out, _, _ = tiny
    table = pd.read_csv(out / "depleted_groups.csv")
    assert list(table.columns) == list(DEPLETED_COLUMNS) == [
        "strategy", "seed", "iteration_compared", "iteration_final",
        "depleted_entropy_min_start", "depleted_entropy_min_compared", "depleted_entropy_min_final",
        "depleted_entropy_mean_start", "depleted_entropy_mean_compared", "depleted_entropy_mean_final",
        "n_depleted_groups_start", "n_depleted_groups_final",
    ]  # fmt: skip
    assert list(zip(table["strategy"], table["seed"])) == [("etal", 0), ("random", 0), ("random", 1)]
    assert result.depleted_groups == PAPER_DEPLETED
    split_summary = pd.read_csv(out / "split_summary.csv")
    assert sorted(split_summary.loc[split_summary["depleted"] > 0, "group"]) == PAPER_DEPLETED
    trajectory = pd.read_csv(out / "bias_trajectory.csv")
    dep = trajectory[trajectory["group"].isin(PAPER_DEPLETED) & np.isfinite(trajectory["entropy"])]
    for _, row in table.iterrows():
        run = dep[(dep["strategy"] == row["strategy"]) & (dep["seed"] == row["seed"])]
        start, end = run[run["iteration"] == 0]["entropy"], run[run["iteration"] == 5]["entropy"]
        assert row["iteration_final"] == row["iteration_compared"] == 5
        assert row["depleted_entropy_min_start"] == pytest.approx(start.min(), abs=1e-12)
        assert row["depleted_entropy_mean_start"] == pytest.approx(start.mean(), abs=1e-12)
        assert row["depleted_entropy_min_final"] == pytest.approx(end.min(), abs=1e-12)
        assert row["depleted_entropy_mean_compared"] == pytest.approx(end.mean(), abs=1e-12)
        assert row["n_depleted_groups_final"] == len(end)
    # One split: etal ran once (seed 0), random twice -> one seed in common, no paired interval.
    paired = result.depleted_paired.set_index("column")
    low = paired.loc["depleted_entropy_min"]
    assert low["n_pairs"] == 1 and not low["paired"] and np.isnan(low["ci_low"])
    random_end = table.loc[table["strategy"] == "random", "depleted_entropy_min_final"].mean()
    assert low["mean_b"] == pytest.approx(random_end, abs=1e-12)
    manifest = json.loads((out / "manifest.json").read_text())["depleted_groups"]
    assert manifest["groups"] == PAPER_DEPLETED and manifest["iteration"] == 5
    assert manifest["per_strategy"]["random"]["runs"] == 2
    assert "no paired interval" in manifest["paired"][0]["note"]
    # the terminal summary and the report say it
    assert "depleted groups (orthorhombic, tetragonal, trigonal)" in result.short_summary()
    html = (out / "report.html").read_text()
    summary = html[html.index("<h2>Summary</h2>"): html.index("<h2>", html.index("<h2>Summary</h2>") + 5)]
    assert "The depleted groups (orthorhombic, tetragonal, trigonal" in summary
    assert f"with ET-AL vs {low['mean_b']:.3f} with random after 5 acquisitions" in summary
    assert "<h2>Bias: the depleted groups</h2>" in html and "depleted_groups.csv" in html


def test_strategies_share_the_split_budget_and_labels(tiny, subset):
    result, out, seen_pools, _ = tiny
    labelled = pd.read_csv(out / "split" / "labelled.csv")
    pool = pd.read_csv(out / "split" / "pool.csv")
    # every run got the same pool, and the same labelled set (same initial entropies)
    assert len({tuple(ids) for _, _, ids in seen_pools}) == 1
    assert seen_pools[0][2] == pool[ID].tolist()
    start = result.trajectory[result.trajectory["iteration"] == 0]
    per_run = start.pivot_table(index="group", columns=["strategy", "seed"], values="entropy")
    assert np.allclose(per_run.to_numpy(), per_run.iloc[:, [0]].to_numpy(), equal_nan=True)
    assert set(result.runs["budget"]) == {5} and set(result.runs["n_acquired"]) == {5}
    # acquired rows are pool rows with their true labels; the initial rows are the split's
    acquisitions = pd.read_csv(out / "acquisitions.csv")
    truth = pool.set_index(ID)[TARGET]
    assert np.allclose(acquisitions["value"], truth.loc[acquisitions["id"]].to_numpy())
    assert not set(acquisitions["id"]) & set(labelled[ID])
    assert len(labelled) + len(pool) + len(pd.read_csv(out / "split" / "test.csv")) == len(subset)


def test_pool_labels_never_reach_the_loop(tiny):
    result, _, seen_pools, revealed = tiny
    assert len(seen_pools) == 3
    for strategy, columns, _ in seen_pools:
        assert TARGET not in columns, strategy
    # each label the loop holds came through an oracle call, one per acquisition
    assert sum(revealed) == result.runs["n_acquired"].sum() == result.runs["labels_revealed"].sum() == 15


def test_downstream_pairs_model_seed_r_with_random_run_r_mod_n(tiny):
    """Model seed 2 of random must be trained on random's run seed 0 (2 mod 2 runs)."""
    result, out, _, _ = tiny
    labelled = pd.read_csv(out / "split" / "labelled.csv")
    pool = pd.read_csv(out / "split" / "pool.csv").set_index(ID)
    acquisitions = pd.read_csv(out / "acquisitions.csv")
    picked = acquisitions[(acquisitions["strategy"] == "random") & (acquisitions["seed"] == 0)]
    final = pd.concat([labelled, pool.loc[picked["id"]].reset_index()], ignore_index=True)
    features = [c for c in labelled.columns if c.startswith("frac_")] + ["volume_per_atom", "natoms"]
    expected = evaluate_downstream(
        {"random": final}, pd.read_csv(out / "split" / "test.csv"), features=features,
        targets=["formation_energy_per_atom"], models=["gradient_boosting"], seeds=[2], n_jobs=1, progress=False,
    )  # fmt: skip
    d = result.downstream
    row = d[(d["strategy"] == "random") & (d["seed"] == 2) & (d["scope"] == "all") & (d["target"] == TARGET)]
    assert row["r2"].item() == pytest.approx(expected["r2"].item(), abs=1e-9)
    # and random's seed 1 differs from seed 0's training set: different scores
    r = d[(d["strategy"] == "random") & (d["scope"] == "all") & (d["target"] == TARGET)].set_index("seed")["r2"]
    assert r[0] != r[1]


def test_report_opens_with_the_entropy_deficit_then_the_summary_and_embeds_every_figure(tiny):
    result, out, _, _ = tiny
    html = (out / "report.html").read_text()
    first_section = html.index("<h2>")
    assert html[first_section:].startswith("<h2>Bias: mean entropy deficit D</h2>\n<p>Bias is scored by the mean")
    # the D figure right after the text, then the tables; the plain summary second, without the D paragraph again
    d_section = html[first_section : html.index("<h2>", first_section + 4)]
    assert d_section.index('alt="entropy deficit"') < d_section.index("<table")
    assert html.count("Bias is scored by the mean entropy deficit D") == 1
    assert "<h2>Summary</h2>" in html and "Before acquisition, the entropy gap" in html
    assert "gap drop" not in html.lower() and "Gap reduction rate" not in html
    for stem in ("entropy deficit", "entropy evolution", "entropy gap", "distributions", "r2 boxplots"):
        assert f'alt="{stem}" src="data:image/png;base64,' in html
    assert "Where the runs stopped" in html and "used the whole budget (5 acquisitions)" in html
    assert "http://" not in html and "https://" not in html
    assert result.report_path == out / "report.html"


# ------------------------------------------------------------------------ stops, crashes, splits


def test_early_stop_keeps_the_final_state_is_reported_and_downstream_uses_equal_counts(subset, tmp_path):
    """Pool of 30, budget 40: ET-AL stops by its fairness rule, random when the pool is empty."""
    cfg = ExperimentConfig(
        split=SplitConfig(pool_size=30, rules="none", seed=1),
        run=RunConfig(strategies=["etal", "random"], budget=40, seeds=1, n_jobs=1),
        downstream=DownstreamConfig(models=["svr"], targets=[TARGET], seeds=1, n_jobs=1, per_group=False),
    )
    result = run_and_report(cfg, tmp_path, data=subset, progress=False)
    runs = result.runs.set_index("strategy")
    assert runs.loc["random", "n_acquired"] == 30 and runs.loc["random", "stop_reason"] == "pool exhausted"
    n_etal = runs.loc["etal", "n_acquired"]
    assert n_etal < 30 and runs.loc["etal", "stop_reason"].startswith("fairness")
    for strategy, run in runs.iterrows():
        assert run["stopped_early"]
        last = result.trajectory[result.trajectory["strategy"] == strategy]["iteration"].max()
        assert last == run["n_acquired"]  # not extended to the budget
    html = (tmp_path / "report.html").read_text()
    # rules = "none": nothing depleted, so the depleted-group score is skipped and said so
    assert not (tmp_path / "depleted_groups.csv").exists() and result.depleted_groups == []
    assert "no depletion rules" in html and "depleted groups: none, score skipped" in result.short_summary()
    assert json.loads((tmp_path / "manifest.json").read_text())["depleted_groups"]["groups"] == []
    assert "STOPPED EARLY after 30 of 40 acquisitions: pool exhausted" in html
    assert f"STOPPED EARLY after {n_etal} of 40 acquisitions: fairness" in html
    # downstream: random is cut to ET-AL's number of acquisitions (the paper's comparison)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seeds"]["downstream_acquisitions"] == {"1": int(n_etal)}
    assert f"plus the first {n_etal} acquisitions of each strategy" in html
    labelled = pd.read_csv(tmp_path / "split" / "labelled.csv")
    pool = pd.read_csv(tmp_path / "split" / "pool.csv").set_index(ID)
    picks = pd.read_csv(tmp_path / "acquisitions.csv").query("strategy == 'random'")["id"].head(n_etal)
    features = [c for c in labelled.columns if c.startswith("frac_")] + ["volume_per_atom", "natoms"]
    expected = evaluate_downstream(
        {"random": pd.concat([labelled, pool.loc[picks].reset_index()], ignore_index=True)},
        pd.read_csv(tmp_path / "split" / "test.csv"), features=features, targets=[TARGET], models=["svr"],
        seeds=[0], n_jobs=1, progress=False,
    )  # fmt: skip
    got = result.downstream.query("strategy == 'random'")["r2"].item()
    assert got == pytest.approx(expected["r2"].item(), abs=1e-9)


def test_downstream_disabled(subset, tmp_path):
    cfg = ExperimentConfig(
        split=SplitConfig(pool_size=150),
        run=RunConfig(strategies=["random", "balanced"], budget=3, seeds=1, n_jobs=1),
        downstream=DownstreamConfig(enabled=False),
    )
    run_and_report(cfg, tmp_path, data=subset, progress=False)
    html = (tmp_path / "report.html").read_text()
    assert not (tmp_path / "downstream.csv").exists() and "No downstream comparison was run" in html


def test_a_crash_in_downstream_keeps_the_trajectories(subset, tmp_path, monkeypatch):
    import etal.evaluation

    def boom(*args, **kwargs):
        raise RuntimeError("downstream crashed")

    monkeypatch.setattr(etal.evaluation, "evaluate_downstream", boom)
    with pytest.raises(RuntimeError, match="downstream crashed"):
        run_experiment(small_config(budget=3, seeds=1), tmp_path, data=subset, progress=False)
    trajectory = pd.read_csv(tmp_path / "bias_trajectory.csv")
    assert set(trajectory["strategy"]) == {"etal", "random"} and trajectory["iteration"].max() == 3
    assert (tmp_path / "runs.csv").is_file() and (tmp_path / "entropy_gap.png").is_file()
    assert json.loads((tmp_path / "manifest.json").read_text())["status"] == "running: downstream"


def manifest_has_deficit(out) -> bool:
    info = json.loads((out / "manifest.json").read_text())["entropy_deficit"]
    return info["strategy"] == "etal" and set(info["per_strategy"]) == {"etal", "random"}


def test_several_splits_one_run_per_strategy_and_split(subset, tmp_path):
    cfg = ExperimentConfig(
        split=SplitConfig(pool_size=150, seeds=[0, 1]),
        run=RunConfig(strategies=["etal", "random"], budget=3, n_jobs=1),
        downstream=DownstreamConfig(models=["svr"], targets=[TARGET], seeds=2, n_jobs=1, per_group=False),
    )
    result = run_experiment(cfg, tmp_path, data=subset, progress=False)
    assert list(zip(result.runs["strategy"], result.runs["seed"], result.runs["split_seed"])) == [
        ("etal", 0, 0), ("etal", 1, 1), ("random", 0, 0), ("random", 1, 1),
    ]  # fmt: skip
    for s in (0, 1):
        assert (tmp_path / "split" / f"seed-{s}" / "test.csv").is_file()
    # the two splits start from different labelled sets
    start = result.trajectory[(result.trajectory["iteration"] == 0) & (result.trajectory["strategy"] == "etal")]
    by_seed = start.pivot_table(index="group", columns="seed", values="entropy")
    assert not np.allclose(by_seed[0], by_seed[1], equal_nan=True)
    # model seed r is scored on split r's test set, paired across strategies: svr ignores its
    # seed, so equal final sets would give equal scores; the two splits give different ones
    assert result.paired["n_pairs"].eq(2).all()
    r2 = result.downstream[result.downstream["strategy"] == "etal"].set_index("seed")["r2"]
    assert r2[0] != r2[1]
    # D: ET-AL minus random paired by split seed, recomputed from the per-run table
    q = result.quality.set_index(["strategy", "split_seed"])["final_D"]
    diffs = np.array([q[("etal", s)] - q[("random", s)] for s in (0, 1)])
    row = result.quality_paired.set_index("column").loc["final_D"]
    assert row["n_pairs"] == 2 and row["mean_diff"] == pytest.approx(diffs.mean())
    if np.ptp(diffs) > 0:
        low, high = scipy.stats.t.interval(0.95, 1, loc=diffs.mean(), scale=scipy.stats.sem(diffs))
        assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert "paired by split seed over 2 seeds" in result.summary_text.split("\n\n")[0]
    # depleted groups: ET-AL and random share both split seeds -> paired, 2 pairs
    assert result.depleted_paired["paired"].all() and (result.depleted_paired["n_pairs"] == 2).all()
    assert np.isfinite(result.depleted_paired[["ci_low", "ci_high"]].to_numpy()).all()
    assert "Paired by seed, ET-AL minus random (lowest entropy of the depleted groups)" in result.summary_text


def test_batches_count_acquisitions_not_loop_iterations(subset, tmp_path):
    """With batch_size 3 and budget 7 the trajectory is recorded at 0, 3, 6 and 7 acquisitions."""
    cfg = ExperimentConfig(
        split=SplitConfig(pool_size=150),
        run=RunConfig(strategies=["random"], budget=7, batch_size=3, seeds=1, n_jobs=1),
        downstream=DownstreamConfig(enabled=False),
    )
    result = run_experiment(cfg, tmp_path, data=subset, progress=False)
    assert sorted(result.trajectory["iteration"].unique()) == [0, 3, 6, 7]
    assert result.runs["n_acquired"].item() == 7 and not result.runs["stopped_early"].item()


# ------------------------------------------------------------------------ progress, report floor


def test_progress_goes_to_the_callers_callback_and_the_library_draws_no_bar(subset, tmp_path, capfd):
    cfg = ExperimentConfig(
        split=SplitConfig(pool_size=120, seed=0),
        run=RunConfig(strategies=["etal", "random"], budget=3, seeds=2, n_jobs=1),
        downstream=DownstreamConfig(models=["svr"], targets=[TARGET], seeds=2, n_jobs=1, per_group=False),
    )
    events = []
    result = run_experiment(cfg, tmp_path, data=subset, progress=lambda *e: events.append(e))
    captured = capfd.readouterr()
    assert captured.err == "" and "it/s" not in captured.out  # no tqdm output from the library
    runs = [e for e in events if e[0] == "runs"]
    fits = [e for e in events if e[0] == "downstream"]
    n_runs = len(result.runs)
    assert [(d, t) for _, d, t, _ in runs] == [(i, n_runs) for i in range(1, n_runs + 1)]
    finished = {detail for *_, detail in runs}
    assert finished == {f"{r.strategy} seed {r.seed}" for r in result.runs.itertuples()}
    n_fits = 2 * 1 * 1 * 2  # strategies x models x targets x model seeds
    assert [(d, t) for _, d, t, _ in fits] == [(i, n_fits) for i in range(1, n_fits + 1)]
    with pytest.raises(InputError, match="progress must be a callable"):
        run_experiment(cfg, tmp_path / "again", data=subset, progress="yes")


def test_the_report_is_rendered_from_the_result_and_recorded_in_the_manifest(subset, tmp_path):
    cfg = small_config(budget=3, seeds=1)
    cfg.downstream.enabled = False
    result = run_experiment(cfg, tmp_path, data=subset)
    assert not (tmp_path / "report.html").exists() and result.report_path is None
    before = json.loads((tmp_path / "manifest.json").read_text())
    assert before["status"] == "finished" and "report.html" not in before["outputs"]
    path = write_experiment_report(result)
    assert path == tmp_path / "report.html" == result.report_path and path in result.files
    after = json.loads((tmp_path / "manifest.json").read_text())
    assert "report.html" in after["outputs"] and after["timings"]["report"] >= 0
    assert set(before["outputs"]) < set(after["outputs"]) and after["runs"] == before["runs"]
    html = path.read_text()
    assert result.summary_text.split("\n\n")[0].split(";")[0] in html.replace("&#x27;", "'")
