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


def test_plain_summary_gap_rates_sentence() -> None:
    snap = bias_snapshot({"a": 0.0, "b": 1.0})
    paired = pd.DataFrame([paired_row("gb", 0.0, -0.01, 0.01, 0.9)])
    rates = pd.DataFrame({"strategy": ["etal", "random"], "n_seeds": [3, 3],
                          "gap_drop_per_acquisition": [0.002, 0.0021], "drop_ci_low": [0.001, 0.0015],
                          "drop_ci_high": [0.003, 0.0027], "confidence": [0.95, 0.95], "upto": [100, 100]})
    text = plain_summary(snap, {"etal": snap}, paired, rates)
    assert "over the first 100 acquisitions" in text
    assert "does not show that ET-AL lowers the gap faster" in text
    with pytest.raises(InputError, match="bias_before"):
        plain_summary({"gap": 1}, {}, paired, None)
