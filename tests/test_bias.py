"""The bias report against SciPy, hand-built frames and an independent bootstrap."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

import etal.bias.bootstrap as bias_module
from etal.bias import CI_METHODS, REFERENCE_COLUMNS, TABLE_COLUMNS, bias_report
from etal.bias.scores import dataset_resolution
from etal.datasets import load_dataset
from etal.entropy import estimate_entropy
from etal.errors import InputError, TiedValuesError

TARGET = "formation_energy_per_atom"


@pytest.fixture(scope="module")
def oqmd8() -> pd.DataFrame:
    return load_dataset("oqmd8")


@pytest.fixture(scope="module")
def oqmd8_report(oqmd8):
    return bias_report(oqmd8, n_bootstrap=200, seed=0)


def family_frame(seed: int = 1) -> pd.DataFrame:
    """Another grouping and target: 'family' and 'bandgap' (eV)."""
    rng = np.random.default_rng(seed)
    parts = {
        "oxide": rng.normal(3.0, 1.0, 60),
        "nitride": rng.normal(2.0, 0.3, 40),
        "carbide": rng.uniform(0.0, 4.0, 30),
        "sulfide": np.array([1.0, 2.0, 3.0]),  # too few for an estimate
        "boride": np.full(8, 0.5),  # constant
    }
    return pd.DataFrame(
        {
            "family": np.concatenate([[k] * len(v) for k, v in parts.items()]),
            "bandgap": np.concatenate(list(parts.values())),
            "density": rng.uniform(2, 8, sum(len(v) for v in parts.values())),
        }
    )


# ------------------------------------------------------------------ oqmd8 vs SciPy


def test_oqmd8_entropies_equal_scipy(oqmd8, oqmd8_report) -> None:
    table = oqmd8_report.table
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert sorted(table["group"]) == sorted(oqmd8["crystal_system"].unique())
    assert len(table) == 7
    # No group of OQMD-8 has a zero windowed spacing (its few tied values are far enough
    # apart), so every estimate must equal SciPy's, which would be -inf otherwise.
    assert table["floored"].tolist() == [0] * 7
    assert table.set_index("group")["ties"].to_dict() == {
        "cubic": 3, "hexagonal": 3, "tetragonal": 1, "monoclinic": 0,
        "orthorhombic": 0, "triclinic": 0, "trigonal": 0,
    }  # fmt: skip
    for row in table.itertuples():
        values = oqmd8.loc[oqmd8["crystal_system"] == row.group, TARGET].to_numpy()
        assert row.n == len(values)
        assert row.status == "ok"
        assert abs(row.entropy - st.differential_entropy(values)) < 1e-10
        assert row.target_min == values.min() and row.target_max == values.max()
        assert row.target_median == pytest.approx(np.median(values))


def test_oqmd8_statuses_ranks_and_scores(oqmd8_report) -> None:
    table = oqmd8_report.table.set_index("group")
    # triclinic has exactly 5 rows: the smallest sample with an estimate (van Es, m=2).
    assert table.loc["triclinic", "n"] == 5
    assert table.loc["triclinic", "status"] == "ok"
    assert table.loc["triclinic", "method"] == "van es"
    assert table.loc["triclinic", "window"] == 2
    assert table.loc["cubic", "method"] == "ebrahimi"
    h = oqmd8_report.table["entropy"].to_numpy()
    assert np.all(np.diff(h) >= 0)  # sorted ascending
    assert oqmd8_report.table["rank"].tolist() == list(range(1, 8))
    s = oqmd8_report.scores
    assert s["entropy_gap"] == pytest.approx(h.max() - h.min(), abs=1e-12)
    assert s["entropy_min"] == h.min() and s["entropy_max"] == h.max()
    assert s["entropy_std"] == pytest.approx(np.std(h, ddof=0))
    assert s["most_underrepresented"] == "monoclinic"
    assert s["most_diverse"] == "cubic"
    assert s["n_groups"] == s["n_groups_ok"] == 7
    assert s["n_labelled"] == 2953
    assert s["note"] is None
    assert s["ci_method"] == "smoothed" and oqmd8_report.settings["ci_method"] == "smoothed"
    # The 5-row triclinic group is so noisy that the gap's pivotal interval reaches far
    # below the observed gap (it corrects the upward bias of max - min of noisy values).
    assert 0 <= s["entropy_gap_ci_low"] < s["entropy_gap"] - 0.5
    assert s["entropy_gap"] <= s["entropy_gap_ci_high"]
    triclinic = table.loc["triclinic"]
    assert triclinic["ci_high"] - triclinic["ci_low"] > 1.0  # n=5: wide
    assert (table["ci_high"] - table["ci_low"]).drop("triclinic").max() < 0.4


def test_dataset_input_matches_frame_input(oqmd8, oqmd8_report) -> None:
    from etal.data import load_data

    dataset = load_data("oqmd8")
    report = bias_report(dataset, n_bootstrap=200, seed=0)
    pd.testing.assert_frame_equal(report.table, oqmd8_report.table)
    assert report.group == "crystal_system" and report.target == TARGET


def test_tied_values_are_floored_where_scipy_gives_minus_inf() -> None:
    tied = np.r_[np.zeros(7), np.arange(1.0, 7.0)]  # n=13, m=4: zero windowed spacings
    smooth = np.random.default_rng(3).normal(size=30)
    frame = pd.DataFrame({"g": ["tied"] * 13 + ["smooth"] * 30, "y": np.r_[tied, smooth]})
    report = bias_report(frame, "g", "y", n_bootstrap=0)
    table = report.table.set_index("group")
    with np.errstate(divide="ignore"):
        assert np.isneginf(st.differential_entropy(tied))
    assert table.loc["tied", "status"] == "ok"
    assert table.loc["tied", "floored"] > 0 and table.loc["tied", "ties"] == 6
    assert np.isfinite(table.loc["tied", "entropy"])
    # By hand: Ebrahimi (n=13, m=4) with the zero spacings set to the resolution.
    n, m = 13, 4
    padded = np.r_[[tied[0]] * m, tied, [tied[-1]] * m]
    spacing = padded[2 * m :] - padded[: -2 * m]
    assert (spacing == 0).sum() == table.loc["tied", "floored"] == 3
    # Zero spacings are floored at the DATASET's resolution (smallest positive gap of the
    # whole target column), not the group's own (1.0): every group on one footing.
    r = dataset_resolution(frame["y"])
    assert r < 1.0
    spacing[spacing == 0] = r
    i = np.arange(1, n + 1)
    c = np.where(i <= m, 1 + (i - 1) / m, np.where(i >= n - m + 1, 1 + (n - i) / m, 2.0))
    by_hand = np.mean(np.log(n * spacing / (c * m)))
    assert table.loc["tied", "entropy"] == pytest.approx(by_hand, abs=1e-12)
    assert table.loc["smooth", "entropy"] == pytest.approx(st.differential_entropy(smooth), abs=1e-10)
    assert "floored" in report.scores["note"] and "tied" in report.scores["note"]
    with pytest.raises(TiedValuesError, match="group 'tied' of column 'g'"):
        bias_report(frame, "g", "y", ties="error", n_bootstrap=0)


# ------------------------------------------------------------------ other groupings


def test_other_grouping_statuses_and_gap() -> None:
    frame = family_frame()
    report = bias_report(frame, "family", "bandgap", n_bootstrap=300, seed=1)
    table = report.table.set_index("group")
    assert table.loc["sulfide", "status"] == "too_few"
    assert math.isnan(table.loc["sulfide", "entropy"]) and table.loc["sulfide", "rank"] is pd.NA
    # The constant group (8 x 0.5) is the least diverse group there is: its spacings are
    # all floored at the dataset's resolution r, so by hand its entropy is
    # mean(log(n r / (c m))) with Ebrahimi's c (n=8 <= 10: van Es; computed by entropy).
    r = dataset_resolution(frame["bandgap"])
    boride = table.loc["boride"]
    assert boride["status"] == "constant" and boride["rank"] == 1
    assert boride["entropy"] == pytest.approx(estimate_entropy(np.full(8, 0.5), resolution=r).entropy)
    assert boride["entropy"] < np.log(r) + 3  # about log of the resolution: far below the rest
    assert math.isnan(boride["ci_low"])  # no interval for a group that resamples to itself
    ok = ["oxide", "nitride", "carbide"]
    assert set(table.index[table["status"] == "ok"]) == set(ok)
    # groups with an entropy first (by entropy: the constant one lowest), then the others
    assert report.table["group"].tolist()[0] == "boride"
    assert report.table["status"].tolist()[1:4] == ["ok"] * 3
    assert report.table["group"].tolist()[4:] == ["sulfide"]
    # Tie-free groups: the dataset's resolution changes nothing, still SciPy's value.
    expected = {g: st.differential_entropy(frame.loc[frame.family == g, "bandgap"]) for g in ok}
    for g in ok:
        assert table.loc[g, "entropy"] == pytest.approx(expected[g], abs=1e-10)
    s = report.scores
    h = [*expected.values(), boride["entropy"]]
    assert s["entropy_gap"] == pytest.approx(max(h) - min(h))
    assert s["entropy_deficit"] == pytest.approx(np.mean(max(h) - np.array(h)))
    assert s["most_underrepresented"] == "boride"
    assert s["n_groups"] == 5 and s["n_groups_ok"] == 4 and s["n_labelled"] == len(frame)
    assert "sulfide (n=3)" in s["note"] and "boride" in s["note"]
    assert "most under-represented: boride" in report.summary_lines()
    # Not guaranteed for the pivotal interval (it is shifted by the estimated bias), but
    # here the bias is small next to the spread, so the estimate lies inside.
    for g in ok:
        assert table.loc[g, "ci_low"] <= table.loc[g, "entropy"] <= table.loc[g, "ci_high"]
    assert s["entropy_gap_ci_low"] <= s["entropy_gap"] <= s["entropy_gap_ci_high"]
    assert s["entropy_deficit_ci_low"] <= s["entropy_deficit"] <= s["entropy_deficit_ci_high"]


def test_unlabelled_rows_are_ignored() -> None:
    frame = family_frame()
    with_pool = pd.concat(
        [frame, pd.DataFrame({"family": ["oxide"] * 5 + ["newfam"] * 3, "bandgap": np.nan})],
        ignore_index=True,
    )
    a = bias_report(frame, "family", "bandgap", n_bootstrap=50)
    b = bias_report(with_pool, "family", "bandgap", n_bootstrap=50)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert b.scores["n_labelled"] == len(frame)


def test_fewer_than_two_ok_groups_gives_nan_gap_with_note() -> None:
    frame = pd.DataFrame({"g": ["a"] * 20 + ["b"] * 3, "y": np.r_[np.linspace(0, 1, 20), 1, 2, 3]})
    report = bias_report(frame, "g", "y", n_bootstrap=20)
    s = report.scores
    assert math.isnan(s["entropy_gap"]) and math.isnan(s["entropy_gap_ci_low"])
    assert "at least 2 groups" in s["note"]
    assert s["most_underrepresented"] == "a"
    data = json.loads(report.to_json())
    assert data["scores"]["entropy_gap"] is None


def test_unit_change_shifts_entropies_and_keeps_gap() -> None:
    frame = family_frame()
    scaled = frame.assign(bandgap=frame["bandgap"] * 1000.0)  # eV -> meV
    a = bias_report(frame, "family", "bandgap", n_bootstrap=0)
    b = bias_report(scaled, "family", "bandgap", n_bootstrap=0)
    ok = a.table["status"] == "ok"
    shift = b.table["entropy"][ok] - a.table["entropy"][ok]
    assert np.allclose(shift, math.log(1000.0))
    assert b.scores["entropy_gap"] == pytest.approx(a.scores["entropy_gap"])


# ------------------------------------------------------------------ bootstrap


def naive_bootstrap(values_by_group: dict, n_bootstrap: int, seed: int) -> dict:
    """One resample at a time with the documented protocol (independent of batching)."""
    rng = np.random.default_rng(seed)
    out = {}
    r = dataset_resolution(np.concatenate(list(values_by_group.values())))
    for label in sorted(values_by_group):
        x = np.sort(values_by_group[label])
        est = estimate_entropy(x, resolution=r)  # every group on the dataset's resolution
        if est.status != "ok":
            continue
        idx = rng.integers(0, x.size, size=(n_bootstrap, x.size))
        out[label] = np.array(
            [estimate_entropy(x[row], resolution=est.resolution).entropy for row in idx]
        )
    return out


def kde_entropy_by_quadrature(x: np.ndarray, bandwidth: float) -> float:
    """-integral f log f of the Gaussian kernel density, by adaptive quadrature over the
    merged +-9 bandwidth windows of the data (independent truth for the FFT grid)."""
    from scipy.integrate import quad

    x = np.sort(np.asarray(x, dtype=float))
    norm = x.size * bandwidth * math.sqrt(2 * math.pi)

    def integrand(t: float) -> float:
        f = np.exp(-0.5 * ((t - x) / bandwidth) ** 2).sum() / norm
        return -f * math.log(f) if f > 0 else 0.0

    total, start = 0.0, 0
    for stop in [*(np.flatnonzero(np.diff(x) > 18 * bandwidth) + 1), x.size]:
        block = x[start:stop]
        lo, hi = block[0] - 9 * bandwidth, block[-1] + 9 * bandwidth
        inner = np.unique(block)[:40]  # breakpoints help quad find the bumps
        total += quad(integrand, lo, hi, points=inner, limit=400, epsabs=1e-10)[0]
        start = stop
    return total


def silverman_half(x: np.ndarray) -> float:
    """The documented jitter bandwidth: 0.5 x 0.9 min(sd, IQR/1.349) n^(-1/5)."""
    iqr = np.subtract(*np.percentile(x, [75, 25]))
    return 0.5 * 0.9 * min(np.std(x, ddof=1), iqr / 1.349) * len(x) ** -0.2


def naive_smoothed_bootstrap(values_by_group: dict, n_bootstrap: int, seed: int):
    """Smoothed replicates one at a time, and each group's KDE entropy by quadrature."""
    index_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    replicates, world = {}, {}
    r = dataset_resolution(np.concatenate(list(values_by_group.values())))
    for label in sorted(values_by_group):
        x = np.sort(values_by_group[label])
        est = estimate_entropy(x, resolution=r)  # every group on the dataset's resolution
        if est.status != "ok":
            continue
        b = silverman_half(x)
        reps = []
        for _ in range(n_bootstrap):
            idx = index_rng.integers(0, x.size, size=x.size)
            row = x[idx] + b * noise_rng.standard_normal(x.size)
            reps.append(estimate_entropy(row, resolution=est.resolution).entropy)
        replicates[label] = np.array(reps)
        world[label] = kde_entropy_by_quadrature(x, b)
    return replicates, world


def constant_rows(values_by_group: dict, n_bootstrap: int) -> list:
    """A constant group resamples to itself: its replicates are its (floored) entropy."""
    r = dataset_resolution(np.concatenate(list(values_by_group.values())))
    out = []
    for x in values_by_group.values():
        est = estimate_entropy(x, resolution=r)
        if est.status == "constant":
            out.append(np.full(n_bootstrap, est.entropy))
    return out


def with_tiny_group() -> pd.DataFrame:
    # A small group (van Es, m=2): its plain resamples often hold 3 equal values, i.e.
    # zero spacings, floored at the ORIGINAL sample's resolution.
    tiny = pd.DataFrame({"family": "tiny", "bandgap": [0.1, 0.4, 0.45, 1.3, 2.0, 2.2]})
    return pd.concat([family_frame(), tiny], ignore_index=True)


@pytest.mark.parametrize("ci_method", ["percentile", "basic"])
def test_plain_bootstrap_equals_naive_loop_and_is_chunked(monkeypatch, ci_method) -> None:
    frame = with_tiny_group()
    values = {g: part["bandgap"].to_numpy() for g, part in frame.groupby("family")}
    ref = naive_bootstrap(values, 60, seed=7)
    monkeypatch.setattr(bias_module, "_BATCH_ELEMENTS", 100)  # force many small batches
    report = bias_report(
        frame, "family", "bandgap", n_bootstrap=60, seed=7, confidence=0.9, ci_method=ci_method
    )
    table = report.table.set_index("group")
    for label, reps in ref.items():
        lo, hi = np.quantile(reps, [0.05, 0.95])
        if ci_method == "basic":
            h = table.loc[label, "entropy"]
            lo, hi = 2 * h - hi, 2 * h - lo
        assert table.loc[label, "ci_low"] == pytest.approx(lo, abs=1e-12)
        assert table.loc[label, "ci_high"] == pytest.approx(hi, abs=1e-12)
    stacked = np.vstack(list(ref.values()) + constant_rows(values, 60))
    gap = stacked.max(axis=0) - stacked.min(axis=0)
    assert np.allclose(report.gap_replicates, gap)
    q_lo, q_hi = np.quantile(gap, [0.05, 0.95])
    g = report.scores["entropy_gap"]
    expected = (q_lo, q_hi)
    if ci_method == "basic":
        expected = (max(2 * g - q_hi, 0), max(2 * g - q_lo, 0))
    assert report.scores["entropy_gap_ci_low"] == pytest.approx(expected[0], abs=1e-12)
    assert report.scores["entropy_gap_ci_high"] == pytest.approx(expected[1], abs=1e-12)


def test_smoothed_bootstrap_equals_naive_loop_and_is_chunked(monkeypatch) -> None:
    frame = with_tiny_group()
    values = {g: part["bandgap"].to_numpy() for g, part in frame.groupby("family")}
    ref, world = naive_smoothed_bootstrap(values, 40, seed=7)
    monkeypatch.setattr(bias_module, "_BATCH_ELEMENTS", 100)  # force many small batches
    report = bias_report(frame, "family", "bandgap", n_bootstrap=40, seed=7, confidence=0.9)
    assert report.scores["ci_method"] == "smoothed"
    table = report.table.set_index("group")
    for label, reps in ref.items():
        h = table.loc[label, "entropy"]
        q_lo, q_hi = np.quantile(reps, [0.05, 0.95])
        # The grid integral of the KDE entropy agrees with quadrature to ~1e-5 nats.
        assert table.loc[label, "ci_low"] == pytest.approx(h - (q_hi - world[label]), abs=1e-4)
        assert table.loc[label, "ci_high"] == pytest.approx(h - (q_lo - world[label]), abs=1e-4)
    constants = constant_rows(values, 40)
    stacked = np.vstack(list(ref.values()) + constants)
    gap = stacked.max(axis=0) - stacked.min(axis=0)
    assert np.allclose(report.gap_replicates, gap)
    w = np.array(list(world.values()) + [c[0] for c in constants])
    g, g_world = report.scores["entropy_gap"], w.max() - w.min()
    q_lo, q_hi = np.quantile(gap, [0.05, 0.95])
    s = report.scores
    assert s["entropy_gap_ci_low"] == pytest.approx(max(g - (q_hi - g_world), 0), abs=1e-4)
    assert s["entropy_gap_ci_high"] == pytest.approx(max(g - (q_lo - g_world), 0), abs=1e-4)


def test_gap_interval_is_clipped_at_zero() -> None:
    # Three groups from one distribution: true gap 0. The pivotal interval's lower end
    # falls below 0 here and is clipped; the percentile interval misses 0 entirely.
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"g": np.repeat(["a", "b", "c"], 100), "y": rng.normal(size=300)})
    smoothed = bias_report(frame, "g", "y", n_bootstrap=300, seed=0).scores
    assert smoothed["entropy_gap_ci_low"] == 0.0 < smoothed["entropy_gap_ci_high"]
    percentile = bias_report(
        frame, "g", "y", n_bootstrap=300, seed=0, ci_method="percentile"
    ).scores
    assert percentile["entropy_gap_ci_low"] > 0.0


@pytest.mark.parametrize(
    "x, bandwidth",
    [
        (np.random.default_rng(0).lognormal(0.0, 0.7, 40), 0.15),
        (np.r_[np.random.default_rng(1).normal(size=12), 80.0], 0.3),  # far outlier
        (np.r_[np.zeros(5), np.ones(4) * 0.001, np.linspace(1, 2, 6)], 0.05),  # ties
    ],
)
def test_smoothed_entropy_against_quadrature(x, bandwidth) -> None:
    x = np.sort(x)
    got = bias_module.smoothed_entropy(x, bandwidth)
    assert got == pytest.approx(kde_entropy_by_quadrature(x, bandwidth), abs=1e-4)


def test_smoothed_entropy_closed_form_for_separated_points() -> None:
    # n kernels that do not overlap: entropy = ln n + 0.5 ln(2 pi e b^2). Points that
    # fall exactly on grid nodes are the worst case of the binning correction (~5e-5).
    b = 0.8
    expected = math.log(7) + 0.5 * math.log(2 * math.pi * math.e * b**2)
    for x in (np.arange(7) * 1e4, np.arange(7) * 1e4 + np.linspace(0, 0.37, 7)):
        assert bias_module.smoothed_entropy(x, b) == pytest.approx(expected, abs=1e-4)


def test_smoothing_bandwidth_is_half_silverman() -> None:
    rng = np.random.default_rng(4)
    x = np.sort(rng.standard_t(2, 300))  # heavy tails: the IQR term is the smaller one
    assert bias_module.smoothing_bandwidth(x) == pytest.approx(silverman_half(x), rel=1e-12)
    tied = np.sort(np.r_[np.zeros(8), 1.0, 2.0])  # IQR 0: the sd alone
    expected = 0.5 * 0.9 * np.std(tied, ddof=1) * 10**-0.2
    assert bias_module.smoothing_bandwidth(tied) == pytest.approx(expected, rel=1e-12)


def test_default_interval_covers_the_true_entropy() -> None:
    # 200 independent N(0, 1) samples of n=50 as 200 groups of one report; the true
    # entropy is 0.5 ln(2 pi e). The benchmark measures ~0.91-0.92 coverage for the
    # default at n=25-100 (SE here ~2 %) and ~0.5 for the old percentile interval.
    truth = 0.5 * math.log(2 * math.pi * math.e)
    rng = np.random.default_rng(2024)
    frame = pd.DataFrame({"g": np.repeat(np.arange(200), 50), "y": rng.normal(size=200 * 50)})

    def coverage(ci_method: str) -> float:
        table = bias_report(frame, "g", "y", n_bootstrap=200, seed=1, ci_method=ci_method).table
        return float(np.mean((table["ci_low"] <= truth) & (truth <= table["ci_high"])))

    assert coverage("smoothed") >= 0.85
    assert coverage("percentile") < 0.65


def test_bootstrap_is_seeded_and_row_order_free() -> None:
    frame = family_frame()
    a = bias_report(frame, "family", "bandgap", n_bootstrap=100, seed=3)
    b = bias_report(frame.sample(frac=1.0, random_state=0), "family", "bandgap", n_bootstrap=100, seed=3)
    c = bias_report(frame, "family", "bandgap", n_bootstrap=100, seed=4)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.scores == b.scores
    assert not np.allclose(a.table["ci_low"].dropna(), c.table["ci_low"].dropna())


def test_no_bootstrap() -> None:
    report = bias_report(family_frame(), "family", "bandgap", n_bootstrap=0)
    assert report.table["ci_low"].isna().all() and report.table["ci_high"].isna().all()
    assert math.isnan(report.scores["entropy_gap_ci_low"])
    assert np.isfinite(report.scores["entropy_gap"])


# ------------------------------------------------------------------ reference


def test_reference_deficit() -> None:
    frame = family_frame()
    rng = np.random.default_rng(9)
    reference = pd.DataFrame(
        {
            "family": ["oxide"] * 80 + ["nitride"] * 80 + ["halide"] * 20,
            "bandgap": np.r_[rng.normal(3, 1, 80), rng.normal(2, 1, 80), rng.normal(5, 1, 20)],
        }
    )
    report = bias_report(frame, "family", "bandgap", n_bootstrap=0, reference=reference)
    table = report.table.set_index("group")
    assert list(report.table.columns) == list(TABLE_COLUMNS) + list(REFERENCE_COLUMNS)
    for g in ("oxide", "nitride"):
        h_ref = st.differential_entropy(reference.loc[reference.family == g, "bandgap"])
        h = st.differential_entropy(frame.loc[frame.family == g, "bandgap"])
        assert table.loc[g, "reference_n"] == 80
        assert table.loc[g, "reference_entropy"] == pytest.approx(h_ref, abs=1e-10)
        assert table.loc[g, "entropy_deficit"] == pytest.approx(h_ref - h, abs=1e-10)
    assert table.loc["carbide", "reference_n"] == 0
    assert math.isnan(table.loc["carbide", "entropy_deficit"])
    # present only in the reference: listed with n=0 and named in the note
    assert table.loc["halide", "n"] == 0 and table.loc["halide", "status"] == "too_few"
    assert "halide" in report.scores["note"]
    assert report.scores["most_depleted_vs_reference"] == "nitride"
    assert report.scores["n_groups"] == 5  # groups of the data, not of the reference


def test_reference_with_other_column_names() -> None:
    frame = family_frame()
    reference = frame.rename(columns={"family": "fam", "bandgap": "gap"})
    report = bias_report(
        frame, "family", "bandgap", n_bootstrap=0, reference=reference,
        reference_group_col="fam", reference_target_col="gap",
    )
    ok = report.table["status"] == "ok"
    assert np.allclose(report.table.loc[ok, "entropy_deficit"], 0.0)
    with pytest.raises(InputError, match="'family'.*reference"):
        bias_report(frame, "family", "bandgap", n_bootstrap=0, reference=reference)


# ------------------------------------------------------------------ bad input


def test_missing_column_names_it() -> None:
    frame = family_frame()
    with pytest.raises(InputError, match=r"group column 'famly'.*Did you mean 'family'"):
        bias_report(frame, "famly", "bandgap")
    with pytest.raises(InputError, match=r"target column 'gap'"):
        bias_report(frame, "family", "gap")
    with pytest.raises(InputError, match="no group column"):
        bias_report(frame, target_col="bandgap")
    with pytest.raises(InputError, match="DataFrame or an etal Dataset"):
        bias_report([1, 2, 3], "a", "b")


def test_bad_target_values_name_rows() -> None:
    frame = family_frame()
    bad = frame.astype({"bandgap": object})
    bad.loc[4, "bandgap"] = "n/a"
    # Validated by etal.data: rows are 1-based positions (frame row 4 is row 5).
    with pytest.raises(InputError, match=r"non-numeric values at <DataFrame> row 5 .*'n/a'"):
        bias_report(bad, "family", "bandgap")
    inf = frame.copy()
    inf.loc[7, "bandgap"] = np.inf
    with pytest.raises(InputError, match=r"infinite values at <DataFrame> row 8 "):
        bias_report(inf, "family", "bandgap")
    empty = frame.assign(bandgap=np.nan)
    with pytest.raises(InputError, match="no labelled rows"):
        bias_report(empty, "family", "bandgap")


def test_missing_group_label_is_an_error_naming_the_rows() -> None:
    # One rule for every entry point (etal.data): every row needs a group.
    frame = family_frame()
    frame.loc[[0, 1], "family"] = None
    with pytest.raises(InputError, match=r"group column 'family' is empty at <DataFrame> rows 1, 2"):
        bias_report(frame, "family", "bandgap", n_bootstrap=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_bootstrap": -1}, "n_bootstrap"),
        ({"confidence": 1.5}, "confidence"),
        ({"ties": "ignore"}, "ties"),
        ({"method": "kde"}, "unknown entropy method"),
        ({"window": 0}, "window"),
        ({"ci_method": "bca"}, "ci_method.*'smoothed'"),
    ],
)
def test_bad_settings(kwargs, match) -> None:
    with pytest.raises(InputError, match=match):
        bias_report(family_frame(), "family", "bandgap", **kwargs)


def test_explicit_method_and_window() -> None:
    frame = family_frame()
    report = bias_report(frame, "family", "bandgap", method="vasicek", window=3, n_bootstrap=0)
    for row in report.table[report.table.status == "ok"].itertuples():
        values = frame.loc[frame.family == row.group, "bandgap"]
        assert row.method == "vasicek" and row.window == 3
        assert row.entropy == pytest.approx(
            st.differential_entropy(values, method="vasicek", window_length=3), abs=1e-10
        )


# ------------------------------------------------------------------ output


def test_json_csv_and_figures(tmp_path, oqmd8_report) -> None:
    report = bias_report(family_frame(), "family", "bandgap", n_bootstrap=50)
    text = report.to_json()
    assert "NaN" not in text
    data = json.loads(text)
    assert data["group"] == "family" and data["target"] == "bandgap"
    assert [g["group"] for g in data["groups"]] == report.table["group"].tolist()
    boride = next(g for g in data["groups"] if g["group"] == "boride")
    assert boride["status"] == "constant" and boride["rank"] == 1 and boride["entropy"] < 0
    sulfide = next(g for g in data["groups"] if g["group"] == "sulfide")
    assert sulfide["entropy"] is None and sulfide["rank"] is None and sulfide["n"] == 3
    assert data["settings"]["n_bootstrap"] == 50 and data["settings"]["seed"] == 0
    assert data["settings"]["ci_method"] == "smoothed" and data["scores"]["ci_method"] == "smoothed"

    paths = report.save(tmp_path)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        ["bias.csv", "bias.json", "target_distribution.png", "target_distribution.svg",
         "group_entropy.png", "group_entropy.svg"]
    )  # fmt: skip
    csv = pd.read_csv(tmp_path / "bias.csv")
    assert list(csv.columns) == list(TABLE_COLUMNS)
    assert np.allclose(csv["entropy"], report.table["entropy"], equal_nan=True)
    assert json.loads((tmp_path / "bias.json").read_text())["scores"]["n_groups"] == 5
    assert (tmp_path / "group_entropy.png").read_bytes()[:4] == b"\x89PNG"

    assert "entropy_gap" in str(oqmd8_report) and "monoclinic" in str(oqmd8_report)
    assert "<table" in oqmd8_report._repr_html_()


def test_figures_follow_table_order(oqmd8_report) -> None:
    import matplotlib.pyplot as plt

    from etal.plots.bias import plot_group_entropy, plot_target_distributions

    table = oqmd8_report.table
    fig = plot_group_entropy(table)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{g} (n={n})" for g, n in zip(table["group"], table["n"])]
    assert f"{oqmd8_report.scores['entropy_gap']:.3f}" in ax.get_title()
    assert ax.get_xlabel() == "entropy (nats)"
    plt.close(fig)

    values = {"b": np.array([1.0]), "a": np.array([0.0, 1.0, 2.0, 3.0, 4.0, 4.5])}
    fig = plot_target_distributions(values, "bandgap (eV)")
    ax = fig.axes[0]
    assert [t.get_text().split("\n")[0] for t in ax.get_yticklabels()] == ["b", "a"]
    assert ax.get_xlabel() == "bandgap (eV)"
    plt.close(fig)


def test_cli_ci_method_flag(tmp_path, capsys) -> None:
    from etal.cli import bias as cli_bias
    from etal.cli import main

    assert cli_bias.CI_METHODS == CI_METHODS
    frame = family_frame()
    path = tmp_path / "fam.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "out"
    argv = ["bias", str(path), "--group-col", "family", "--target-col", "bandgap",
            "--bootstrap", "40", "--seed", "3", "--out", str(out)]  # fmt: skip
    assert main([*argv, "--ci-method", "percentile"]) == 0
    saved = json.loads((out / "bias.json").read_text())
    assert saved["settings"]["ci_method"] == "percentile"
    direct = bias_report(frame, "family", "bandgap", n_bootstrap=40, seed=3, ci_method="percentile")
    ci = {g["group"]: g["ci_low"] for g in saved["groups"] if g["ci_low"] is not None}
    expected = direct.table.dropna(subset=["ci_low"]).set_index("group")["ci_low"].to_dict()
    assert ci == pytest.approx(expected, abs=1e-12)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--ci-method", "bca"])
    assert exc.value.code == 2
    assert "--ci-method" in capsys.readouterr().err
