"""Benchmark metrics (etal.evaluation.quality) and E[D'] (etal.acquisition) against closed forms and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etal.acquisition import expected_deficit_after
from etal.evaluation.quality import (
    area_under_curve,
    deficit_curve,
    pad_curve,
    picks_to_reach,
    score_curves,
    share_of_bound,
)
from etal.benchmark.oracle import deficit_after


def test_score_curves_closed_form():
    # h = (1, 2, 4): D = ((4-1) + (4-2) + 0) / 3 = 5/3, gap 3, min 1; a NaN group is left out
    table = np.array([[1.0, 2.0, 4.0], [1.0, np.nan, 4.0]])
    s = score_curves(table)
    assert s.entropy_deficit.tolist() == pytest.approx([5 / 3, 1.5])
    assert s.entropy_gap.tolist() == pytest.approx([3.0, 3.0])
    assert s.entropy_min.tolist() == pytest.approx([1.0, 1.0])
    assert deficit_curve(table, budget=3).tolist() == pytest.approx([5 / 3, 1.5, 1.5, 1.5])


def test_area_of_a_line_is_its_integral():
    # the trapezoid rule is exact for a linear curve: D(t) = 2 - t/10 on t = 0..10 -> 15
    c = 2.0 - np.arange(11) / 10
    assert area_under_curve(c) == pytest.approx(15.0)
    assert area_under_curve([3.0]) == 0.0


@given(st.lists(st.floats(-5, 5), min_size=2, max_size=40))
def test_area_matches_numpy_trapezoid(values):
    assert area_under_curve(values) == pytest.approx(np.trapezoid(values), abs=1e-9)


@given(st.lists(st.floats(0, 3), min_size=1, max_size=30), st.floats(0, 3))
@settings(max_examples=200)
def test_picks_to_reach_is_the_first_hit(values, ref):
    brute = next((float(t) for t, v in enumerate(values) if v <= ref + 1e-12), math.nan)  # same tolerance
    got = picks_to_reach(values, ref)
    assert (math.isnan(got) and math.isnan(brute)) or got == brute


def test_share_of_bound_closed_form():
    assert share_of_bound(1.0, 0.6, 0.5) == pytest.approx(0.8)
    assert share_of_bound(1.0, 1.1, 0.5) == pytest.approx(-0.2)
    assert share_of_bound(1.0, 0.6, 1.0) != share_of_bound(1.0, 0.6, 1.0)  # NaN: no reduction to share


def test_pad_curve_keeps_the_last_value():
    assert pad_curve([3.0, 2.0], 4).tolist() == [3.0, 2.0, 2.0, 2.0, 2.0]
    assert pad_curve([3.0, 2.0, 1.0, 0.5], 2).tolist() == [3.0, 2.0, 1.0]
    with pytest.raises(ValueError):
        pad_curve([], 3)


@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6), st.floats(-3, 3))
def test_deficit_after_matches_the_definition(others, new):
    # D = mean over groups of (max h - h_g), written out by hand
    h = np.array(others + [new])
    expected = float(np.mean(h.max() - h))
    assert deficit_after(np.array(others), np.array([new]))[0] == pytest.approx(expected, abs=1e-12)


def test_expected_deficit_after_matches_monte_carlo():
    # E[D'] for h' ~ N(m, s^2) in closed form vs 400k draws of the definition
    rng = np.random.default_rng(1)
    others = np.array([0.5, 1.2, 1.0])
    for m, s in [(0.8, 0.3), (1.15, 0.2), (1.5, 0.05), (0.2, 1.0)]:
        draws = m + s * rng.standard_normal(400_000)
        h = np.column_stack([np.tile(others, (draws.size, 1)), draws])
        mc = float(np.mean(h.max(axis=1) - h.mean(axis=1)))
        assert expected_deficit_after(others, np.array([m]), np.array([s]))[0] == pytest.approx(mc, abs=3e-3)
    # std 0: exactly the definition
    assert expected_deficit_after(others, np.array([0.7]), np.array([0.0]))[0] == pytest.approx(
        deficit_after(others, np.array([0.7]))[0]
    )
