"""Experiment figures, the self-contained HTML report and its plain-language summary."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import matplotlib.figure
import numpy as np
import pandas as pd
import pytest

from etal.errors import InputError
from etal.evaluation import summarise_bias_trajectory
from etal.plots import save_figure
from etal.plots.experiment import (
    plot_distributions_before_after,
    plot_entropy_evolution_per_group,
    plot_gap_trajectories,
    plot_r2_boxplots,
)
from etal.report import ReportSection, bias_snapshot, build_report, plain_summary

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trajectory() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for strategy, rate in (("etal", 0.05), ("random", 0.01)):
        for seed in range(3):
            for it in range(21):
                for k, group in enumerate(["cubic", "tetragonal", "trigonal"]):
                    h = -1.0 + k + (1.0 - k) * (1 - np.exp(-rate * it)) + rng.normal(0, 0.02)
                    if group == "trigonal" and it < 3:
                        h = -np.inf  # constant values early on: not drawn, not counted
                    rows.append((strategy, seed, it, group, h))
    return pd.DataFrame(rows, columns=["strategy", "seed", "iteration", "group", "entropy"])


@pytest.fixture(scope="module")
def downstream() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for strategy, shift in (("etal", 0.01), ("random", 0.0)):
        for model in ("gradient_boosting", "svr"):
            for target in ("bulk_modulus", "shear_modulus"):
                for seed in range(5):
                    rows.append((strategy, model, target, seed, "all", 0.8 + shift + rng.normal(0, 0.01), 10.0))
    return pd.DataFrame(rows, columns=["strategy", "model", "target", "seed", "scope", "r2", "mae"])


@pytest.fixture(scope="module")
def figure_paths(tmp_path_factory, trajectory, downstream) -> list:
    out = tmp_path_factory.mktemp("figures")
    rng = np.random.default_rng(2)
    before = pd.DataFrame({"crystal_system": ["cubic"] * 20 + ["tetragonal"] * 3 + ["triclinic"],
                           "energy": np.r_[rng.normal(0, 1, 20), [0.1, 0.1, 0.1], [0.0]]})
    after = pd.concat([before, pd.DataFrame({"crystal_system": ["tetragonal"] * 10,
                                             "energy": rng.normal(0, 1, 10)})])
    figures = {
        "entropy_per_group": plot_entropy_evolution_per_group(trajectory, "etal"),
        "gap_trajectories": plot_gap_trajectories(summarise_bias_trajectory(trajectory)),
        "r2_boxplots": plot_r2_boxplots(downstream),
        "distributions": plot_distributions_before_after(before, after, "crystal_system", "energy"),
    }
    paths = []
    for stem, fig in figures.items():
        assert isinstance(fig, matplotlib.figure.Figure)
        paths.extend(save_figure(fig, out, stem))
    return paths


def test_figures_are_written_as_png(figure_paths) -> None:
    pngs = [p for p in figure_paths if p.suffix == ".png"]
    assert len(pngs) == 4
    for path in pngs:
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_errors_name_the_problem(trajectory, downstream) -> None:
    with pytest.raises(InputError, match="'greedy'"):
        plot_entropy_evolution_per_group(trajectory, "greedy")
    with pytest.raises(InputError, match="no seed 9"):
        plot_entropy_evolution_per_group(trajectory, "etal", seed=9)
    with pytest.raises(InputError, match="scope 'all'"):
        plot_r2_boxplots(downstream, strategies=("greedy",))


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_is_one_self_contained_file(tmp_path, figure_paths) -> None:
    out = tmp_path / "report"
    svg = next(p for p in figure_paths if p.suffix == ".svg")
    figures = [p for p in figure_paths if p.suffix == ".png"] + [svg]
    evil = "<script>alert('x')</script> & <b>bold</b>"
    table = pd.DataFrame({"model": [evil], "r2": [0.123456]})
    path = build_report(
        out,
        title=f"Run {evil}",
        summary={"dataset": evil, "seeds": 5},
        sections=[ReportSection("Figures " + evil, text=f"First {evil}\n\nSecond", figures=figures, tables=[("cap " + evil, table)])],
    )
    assert path == out / "report.html"
    assert [p.name for p in out.iterdir()] == ["report.html"]  # no temp files or side files
    text = path.read_text(encoding="utf-8")
    lowered = text.lower()
    for external in ("src=http", 'src="http', "src='http", "<link", "<script", "@import", "url("):
        assert external not in lowered
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in text
    assert "<b>bold</b>" not in text
    assert "0.1235" in text  # table numbers formatted

    parser = _Collector()
    parser.feed(text)
    images = [attrs["src"] for tag, attrs in parser.tags if tag == "img"]
    assert len(images) == len(figures)
    for src, fig_path in zip(images, figures):
        header, _, payload = src.partition(",")
        assert header.startswith("data:image/") and header.endswith(";base64")
        data = base64.b64decode(payload, validate=True)
        assert data == fig_path.read_bytes()
    assert base64.b64decode(images[0].partition(",")[2])[:8] == PNG_MAGIC
    assert [tag for tag, _ in parser.tags].count("p") >= 2  # blank line -> two paragraphs


def test_report_rejects_missing_or_odd_figures(tmp_path) -> None:
    with pytest.raises(InputError, match="cannot read figure"):
        build_report(tmp_path, title="t", summary={}, sections=[ReportSection("s", figures=[tmp_path / "nope.png"])])
    (tmp_path / "fig.gif").write_bytes(b"GIF89a")
    with pytest.raises(InputError, match="unsupported"):
        build_report(tmp_path, title="t", summary={}, sections=[ReportSection("s", figures=[tmp_path / "fig.gif"])])


def paired_row(model: str, mean_diff: float, low: float, high: float, p: float) -> dict:
    return {"model": model, "target": "bulk_modulus", "n_pairs": 30, "mean_a": 0.8 + mean_diff, "mean_b": 0.8,
            "mean_diff": mean_diff, "ci_low": low, "ci_high": high, "p_value": p, "p_value_t": p,
            "a_better": 0.5, "note": "", "a": "etal", "b": "random", "metric": "r2", "scope": "all",
            "confidence": 0.95}


def test_plain_summary_bias_and_honest_verdict() -> None:
    before = bias_snapshot({"cubic": 1.0, "tetragonal": -0.5, "trigonal": float("nan")})
    assert before["entropy_gap"] == pytest.approx(1.5)
    after = {
        "etal": bias_snapshot({"cubic": 1.0, "tetragonal": 0.25, "trigonal": 0.5}),
        "random": bias_snapshot({"cubic": 1.1, "tetragonal": -0.5, "trigonal": float("nan")}),
    }
    paired = pd.DataFrame([paired_row("gradient_boosting", 0.004, -0.002, 0.010, 0.21)])
    text = plain_summary(before, after, paired, None)
    assert "was 1.500 nats" in text
    assert "After ET-AL, the gap is 0.750 nats (-0.750 nats, -50%)" in text
    assert "tetragonal (+0.750 nats)" in text
    assert "now have an entropy: trigonal" in text
    assert "After random, the gap is 1.600 nats" in text and "No group gained" not in text
    assert "difference +0.004 (CI -0.002 to +0.010, p = 0.210, 30 seeds)" in text
    assert "did NOT beat random" in text

    better = pd.DataFrame([paired_row("gradient_boosting", 0.02, 0.01, 0.03, 0.001),
                           paired_row("svr", -0.02, -0.03, -0.01, 0.002)])
    text = plain_summary(before, after, better, None)
    assert "did NOT beat" not in text
    assert "ET-AL was better in 1 of 2" in text and "random was better in 1 (svr / bulk_modulus)" in text


def quality_info(pairs: int, ci: tuple[float, float]) -> dict:
    per = {
        "etal": {"runs": pairs, "splits": pairs, "D_start": 0.9, "final_D": 0.5, "auc_D": 60.0,
                 "picks_to_random_median": 40.0, "never_reached_random": 1},
        "random": {"runs": pairs, "splits": pairs, "D_start": 0.9, "final_D": 0.6, "auc_D": 70.0,
                   "picks_to_random_median": 100.0, "never_reached_random": 0},
    }  # fmt: skip
    paired = [{"column": "final_D", "a": "etal", "b": "random", "n_pairs": pairs, "mean_diff": -0.1,
               "ci_low": ci[0], "ci_high": ci[1], "note": ""}]  # fmt: skip
    return {"strategy": "etal", "budget": 100, "confidence": 0.95, "per_strategy": per, "paired": paired}


def test_plain_summary_leads_with_the_entropy_deficit() -> None:
    snap = bias_snapshot({"a": 0.0, "b": 1.0, "c": 0.4})
    assert snap["entropy_deficit"] == pytest.approx((1.0 + 0.0 + 0.6) / 3)
    paired = pd.DataFrame([paired_row("gb", 0.0, -0.01, 0.01, 0.9)])
    text = plain_summary(snap, {"etal": snap}, paired, quality_info(3, (-0.15, -0.05)))
    first = text.split("\n\n")[0]
    assert first.startswith("Bias is scored by the mean entropy deficit D")
    assert "D of the initial labelled set was 0.900 nats; after 100 acquisitions: ET-AL 0.500; random 0.600" in first
    assert "ET-AL minus random: -0.100 nats (95% t-interval -0.150 to -0.050, paired by split seed over 3 seeds)" in first
    assert "less bias with ET-AL (the interval excludes zero)" in first
    assert "ET-AL 40 (never in 1 of 3 runs)" in first
    unclear = plain_summary(snap, {"etal": snap}, paired, quality_info(3, (-0.2, 0.1)))
    assert "the difference is not clear (the interval includes zero)" in unclear
    one = plain_summary(snap, {"etal": snap}, paired, quality_info(1, (float("nan"), float("nan"))))
    assert "too few for an interval" in one
    assert "gap drop" not in text and "per acquisition (positive" not in text  # the retired slope
    with pytest.raises(InputError, match="bias_before"):
        plain_summary({"gap": 1}, {}, paired, None)


def test_deficit_plot_pads_stopped_runs_and_draws_a_band(trajectory) -> None:
    from etal.plots.experiment import plot_deficit_trajectories

    summary = summarise_bias_trajectory(trajectory)
    # Seed 2 of etal stopped after 10 acquisitions: it keeps its last D in the mean.
    summary = summary[~((summary["strategy"] == "etal") & (summary["seed"] == 2) & (summary["iteration"] > 10))]
    fig = plot_deficit_trajectories(summary)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    etal = lines["ET-AL (mean of 3 seeds)"]
    wide = summary[summary["strategy"] == "etal"].pivot(index="iteration", columns="seed", values="entropy_deficit")
    expected = wide.reindex(range(21)).ffill().mean(axis=1).to_numpy()
    np.testing.assert_allclose(etal.get_ydata(), expected)
    assert len(ax.collections) == 2  # one band per strategy
    assert "band: 10th–90th percentile over seeds" in ax.get_title()
    with pytest.raises(InputError, match="entropy_deficit"):
        plot_deficit_trajectories(summary.drop(columns="entropy_deficit"))


# --------------------------------------------------------------------------- benchmark report


def fabricated_benchmark(folder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two datasets x 3 split seeds x (etal, random, oracle): lines of known slopes."""
    from etal.evaluation import quality as q

    curves = []
    for dataset in ("oqmd8", "synthetic skew"):
        for seed in range(3):
            for strategy, slope in (("etal", -0.004), ("random", -0.002), ("oracle", -0.006)):
                t = np.arange(51)
                curves.append(pd.DataFrame({"dataset": dataset, "split_seed": seed, "strategy": strategy,
                                            "acquisition": t, "entropy_deficit": 1.0 + 0.1 * seed + slope * t}))
    curves = pd.concat(curves, ignore_index=True)[list(q.BENCHMARK_CURVE_COLUMNS)]
    runs = q.run_metrics(curves)[list(q.BENCHMARK_RUN_COLUMNS)]
    folder.mkdir(parents=True, exist_ok=True)
    runs.to_csv(folder / q.BENCHMARK_RUNS_CSV, index=False)
    curves.to_csv(folder / q.BENCHMARK_CURVES_CSV, index=False)
    return runs, curves


def test_benchmark_report_renders_a_table_and_a_figure_per_dataset(tmp_path) -> None:
    from etal.report.benchmark import (
        benchmark_sections,
        benchmark_table,
        write_benchmark_report,
    )

    runs, _ = fabricated_benchmark(tmp_path / "bench")
    sections = benchmark_sections(tmp_path / "bench")
    assert [s.title for s in sections] == ["Quality benchmark: oqmd8", "Quality benchmark: synthetic skew"]
    for section in sections:
        assert len(section.figures) == 1 and section.figures[0].read_bytes()[:8] == PNG_MAGIC
        (_, table), = section.tables
        assert list(table["strategy"]) == ["etal", "random", "oracle"]  # by area; the bound last
    table = benchmark_table(runs[runs["dataset"] == "oqmd8"]).set_index("strategy")
    # Means over the 3 seeds of closed forms: D_0 = 1 + 0.1 s, final = D_0 + 50 slope.
    assert table.loc["etal", "final_D"] == pytest.approx(1.1 - 0.2)
    assert table.loc["etal", "final_D_sd"] == pytest.approx(0.1)
    assert table.loc["etal", "auc_D"] == pytest.approx(50 * 1.1 - 0.004 * 50**2 / 2)
    assert table.loc["etal", "picks_to_random_median"] == 25.0  # -0.004 t <= -0.1
    assert table.loc["etal", "share_of_bound"] == pytest.approx(4 / 6)
    assert table.loc["etal", "n_seeds"] == 3 and table.loc["etal", "never_reached_random"] == 0
    path = write_benchmark_report(tmp_path / "bench")
    html = path.read_text(encoding="utf-8")
    assert html.count("<img") == 2 and "synthetic skew: per strategy, means over split seeds" in html
    assert (tmp_path / "bench" / "figures" / "benchmark_D_synthetic-skew.png").is_file()


def test_benchmark_report_names_the_file_and_column(tmp_path) -> None:
    from etal.evaluation import quality as q
    from etal.report.benchmark import read_benchmark_result

    folder = tmp_path / "bench"
    with pytest.raises(InputError, match=q.BENCHMARK_RUNS_CSV):
        read_benchmark_result(folder)
    runs, curves = fabricated_benchmark(folder)
    runs.drop(columns="auc_D").to_csv(folder / q.BENCHMARK_RUNS_CSV, index=False)
    with pytest.raises(InputError, match=r"quality_runs.csv has no column\(s\) \['auc_D'\]"):
        read_benchmark_result(folder)
    runs.to_csv(folder / q.BENCHMARK_RUNS_CSV, index=False)
    bad = curves.astype({"entropy_deficit": object})
    bad.loc[3, "entropy_deficit"] = "high"
    bad.to_csv(folder / q.BENCHMARK_CURVES_CSV, index=False)
    with pytest.raises(InputError, match="'entropy_deficit' is not numeric .*line 5"):
        read_benchmark_result(folder)
    pd.concat([curves, curves.iloc[:1]]).to_csv(folder / q.BENCHMARK_CURVES_CSV, index=False)
    with pytest.raises(InputError, match="several rows"):
        read_benchmark_result(folder)
