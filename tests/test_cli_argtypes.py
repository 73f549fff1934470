"""The shared argparse converters: one wording for every flag's number limits."""

from __future__ import annotations

import argparse

import pytest

from etal.cli.argtypes import fraction, int_at_least, n_jobs, patience, positive_float


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (int_at_least(1), "0", "expected a whole number >= 1, got 0"),
        (int_at_least(0), "-3", "expected a whole number >= 0, got -3"),
        (int_at_least(1), "2.5", "expected a whole number, got '2.5'"),
        (positive_float, "0", "expected a number > 0, got 0.0"),
        (positive_float, "x", "expected a number, got 'x'"),
        (fraction, "1", r"expected a fraction in \[0, 1\), got 1.0"),
        (n_jobs, "0", "expected a whole number >= 1, or -1 for all cores, got 0"),
        (patience("none"), "0", "expected a whole number >= 1, got 0"),
    ],
)
def test_refused_values_say_what_was_expected(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$"):
        parse(text)


def test_accepted_values():
    assert int_at_least(0)("0") == 0 and int_at_least(1)("7") == 7
    assert positive_float("0.05") == 0.05 and fraction("0") == 0.0 and n_jobs("-1") == -1
    assert patience("none")("OFF") == "none" and patience(None)(" none ") is None and patience(None)("3") == 3


def test_flags_use_them_in_a_parser():
    from etal.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["campaign", "suggest", "DIR", "-k", "0"])


def _choices(command: str, flag: str):
    from etal.cli import build_parser

    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    return next(a.choices for a in sub.choices[command]._actions if flag in a.option_strings)


def test_literal_name_lists_in_the_cli_match_their_one_home():
    # kept literal so that registering a command stays cheap (no SciPy import); checked here
    from etal.acquisition import ESTIMATORS
    from etal.entropy import TIES

    assert tuple(_choices("run", "--estimator")) == ESTIMATORS == tuple(_choices("experiment", "--estimator"))
    assert tuple(_choices("bias", "--ties")) == TIES


def test_bias_flag_defaults_are_bias_reports():
    # `etal bias` keeps literal defaults (registering it must not import pandas); they must
    # equal bias_report's, the one home of those defaults
    from etal.bias import bias_report
    from etal.params import default_of

    for flag, param in [("--method", "method"), ("--window", "window"), ("--ties", "ties"),
                        ("--bootstrap", "n_bootstrap"), ("--confidence", "confidence"),
                        ("--ci-method", "ci_method"), ("--seed", "seed")]:  # fmt: skip
        assert _default("bias", flag) == default_of(bias_report, param), flag


def _default(command: str, flag: str):
    from etal.cli import build_parser

    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    return next(a.default for a in sub.choices[command]._actions if flag in a.option_strings)
