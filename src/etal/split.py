"""Biased labelled / pool / test splits for retrospective ET-AL experiments.

The paper's experiment (method doc §5) holds out a random test set, then *biases* the
labelled set on purpose: every row of a group that matches a depletion rule (e.g. all
unstable tetragonal compounds, ``"target > 0"``) is moved to the unlabelled pool, and the
pool is topped up at random. ET-AL then has to find the missing rows again.

Depletion rules are small conditions on the target, parsed here by a tiny recursive-descent
parser (never ``eval``)::

    condition := disjunct ("or" disjunct)*
    disjunct  := clause ("and" clause)*
    clause    := "target" OP NUMBER | NUMBER OP "target" | "(" condition ")"
    OP        := "<" | "<=" | ">" | ">=" | "==" | "!="

``target`` may also be written as the target column's name. ``and`` binds tighter than
``or``, as in Python.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .materials.structures import CRYSTAL_SYSTEMS
from .params import check_float, check_int

__all__ = [
    "CRYSTAL_SYSTEMS",
    "PAPER_RULES",
    "Condition",
    "Split",
    "biased_split",
    "default_rules",
    "parse_condition",
    "parse_rule_spec",
    "parse_rule_specs",
]

# A grouping whose labels are all crystal systems gets the paper's rules. The list has one
# home, next to the space-group numbers that define the systems (re-exported here).

#: The paper's depletion (§5): all unstable tetragonal, all stable orthorhombic and all
#: unstable trigonal compounds go to the pool (target = formation energy, eV/atom).
PAPER_RULES: dict[str, str] = {
    "tetragonal": "target > 0",
    "orthorhombic": "target < 0",
    "trigonal": "target > 0",
}

# ---------------------------------------------------------------------------------------
# Condition parser
# ---------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<op><=|>=|==|!=|<|>)
      | (?P<paren>[()])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\-]*)
    )""",
    re.VERBOSE,
)

_COMPARE = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class Condition:
    """A parsed depletion condition on the target values.

    ``tree`` is ``("cmp", op, threshold)``, ``("and", a, b)`` or ``("or", a, b)``.
    Call it on an array of target values to get a boolean mask (NaN never matches).
    """

    text: str
    tree: tuple

    def __call__(self, values) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        return _evaluate(self.tree, x)

    def __str__(self) -> str:
        return self.text


def _evaluate(node: tuple, x: np.ndarray) -> np.ndarray:
    kind = node[0]
    if kind == "cmp":
        with np.errstate(invalid="ignore"):
            return _COMPARE[node[1]](x, node[2]) & np.isfinite(x)
    left, right = _evaluate(node[1], x), _evaluate(node[2], x)
    return (left & right) if kind == "and" else (left | right)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise InputError(
                f"cannot parse depletion condition {text!r} at {text[pos:]!r}; write e.g. "
                "'target > 0' or 'target <= -0.5 or target > 1'"
            )
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def parse_condition(text: str, target_names: tuple[str, ...] = ("target",)) -> Condition:
    """Parse a depletion condition such as ``"target > 0"`` or ``"target < -1 or target > 0.5"``.

    ``target_names`` are the words accepted for the target (``"target"`` and, usually, the
    target column's name). Raises :class:`InputError` on anything else; never evaluates code.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"a depletion condition must be a non-empty string, got {text!r}")
    names = {n.lower() for n in target_names} | {"target"}
    tokens = _tokenize(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def fail(what: str):
        rest = " ".join(t[1] for t in tokens[pos:]) or "end of text"
        raise InputError(
            f"cannot parse depletion condition {text!r}: expected {what} at {rest!r}. "
            "Write e.g. 'target > 0', 'target <= -0.5', 'target < 0 and target > -1'"
        )

    def take(kind: str, what: str) -> str:
        nonlocal pos
        tok = peek()
        if tok is None or tok[0] != kind:
            fail(what)
        pos += 1
        return tok[1]

    def is_target(tok) -> bool:
        return tok is not None and tok[0] == "word" and tok[1].lower() in names

    def number(s: str) -> float:
        value = float(s)
        if not math.isfinite(value):  # e.g. 1e400 overflows to inf
            fail("a finite number")
        return value

    def clause() -> tuple:
        nonlocal pos
        tok = peek()
        if tok == ("paren", "("):
            pos += 1
            node = disjunction()
            take("paren", "')'")
            return node
        if is_target(tok):
            pos += 1
            op = take("op", "a comparison (<, <=, >, >=, ==, !=)")
            return ("cmp", op, number(take("number", "a number")))
        if tok is not None and tok[0] == "number":
            pos += 1
            value = number(tok[1])
            op = take("op", "a comparison (<, <=, >, >=, ==, !=)")
            if not is_target(peek()):
                fail("'target'")
            pos += 1
            return ("cmp", _MIRROR[op], value)
        fail("'target', a number or '('")
        raise AssertionError  # unreachable

    def is_word(word: str) -> bool:
        tok = peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() == word

    def conjunction() -> tuple:
        nonlocal pos
        node = clause()
        while is_word("and"):
            pos += 1
            node = ("and", node, clause())
        return node

    def disjunction() -> tuple:
        nonlocal pos
        node = conjunction()
        while is_word("or"):
            pos += 1
            node = ("or", node, conjunction())
        return node

    tree = disjunction()
    if pos != len(tokens):
        fail("'and', 'or' or the end")
    return Condition(text.strip(), tree)


def parse_rule_spec(spec: str) -> tuple[str, str]:
    """Split a CLI rule ``"GROUP: CONDITION"`` into ``(group, condition)``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise InputError(
            f"depletion rule {spec!r} must look like 'GROUP: CONDITION', "
            "e.g. 'tetragonal: target > 0'"
        )
    # Conditions never contain ":", so the last colon separates the group (which may).
    group, condition = spec.rsplit(":", 1)
    group, condition = group.strip(), condition.strip()
    if not group or not condition:
        raise InputError(
            f"depletion rule {spec!r} needs both a group and a condition, "
            "e.g. 'tetragonal: target > 0'"
        )
    parse_condition(condition)  # fail early, with the rule's text in the message
    return group, condition


def parse_rule_specs(specs) -> dict[str, str]:
    """Turn repeated CLI rules into a mapping; rules for the same group are joined by ``or``."""
    rules: dict[str, str] = {}
    for spec in specs or ():
        group, condition = parse_rule_spec(spec)
        rules[group] = f"({rules[group]}) or ({condition})" if group in rules else condition
    return rules


def default_rules(groups) -> dict[str, str]:
    """The paper's rules if every group is a crystal system, else no rules."""
    labels = {str(g).strip().lower() for g in groups}
    if labels and labels <= set(CRYSTAL_SYSTEMS):
        present = {str(g).strip().lower(): g for g in groups}
        return {present[g]: c for g, c in PAPER_RULES.items() if g in present}
    return {}


def _resolve_group(name: str, groups: list) -> Any:
    for g in groups:
        if str(g) == name:
            return g
    folded = [g for g in groups if str(g).lower() == str(name).lower()]
    if len(folded) == 1:
        return folded[0]
    raise InputError(
        f"depletion rule names group {name!r}, which is not in the data; groups are: "
        + ", ".join(repr(str(g)) for g in groups)
    )


# ---------------------------------------------------------------------------------------
# The split
# ---------------------------------------------------------------------------------------


@dataclass
class Split:
    """A labelled / pool / test split. ``pool`` keeps its (held-back) labels.

    ``rules`` maps each depleted group to its condition; ``notes`` says when the split
    could not do exactly what was asked (e.g. more depleted rows than ``pool_size``).
    """

    labelled: pd.DataFrame
    pool: pd.DataFrame
    test: pd.DataFrame
    rules: dict[str, str]
    seed: int
    group_col: str
    target_col: str
    test_fraction: float = 0.3
    pool_size: int = 1000
    depleted: dict = field(default_factory=dict)  # group -> rows moved by its rule
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Per-group counts: labelled, pool, depleted (moved by a rule), test, total, rule."""
        groups = pd.unique(
            pd.concat(
                [self.labelled[self.group_col], self.pool[self.group_col], self.test[self.group_col]]
            )
        )
        rows = []
        for g in sorted(groups, key=str):
            n_lab = int((self.labelled[self.group_col] == g).sum())
            n_pool = int((self.pool[self.group_col] == g).sum())
            n_test = int((self.test[self.group_col] == g).sum())
            rows.append(
                {
                    "group": g,
                    "labelled": n_lab,
                    "pool": n_pool,
                    "depleted": int(self.depleted.get(g, 0)),
                    "test": n_test,
                    "total": n_lab + n_pool + n_test,
                    "rule": self.rules.get(g, ""),
                }
            )
        return pd.DataFrame(rows, columns=["group", "labelled", "pool", "depleted", "test", "total", "rule"])

    def save(self, out_dir: str | os.PathLike) -> list[Path]:
        """Write ``labelled.csv``, ``pool.csv``, ``test.csv``, ``split_summary.csv`` and ``split.json``."""
        from .provenance import atomic_write_json, atomic_write_text

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in (
            ("labelled", self.labelled),
            ("pool", self.pool),
            ("test", self.test),
            ("split_summary", self.summary()),
        ):
            paths.append(atomic_write_text(out / f"{name}.csv", frame.to_csv(index=False)))
        paths.append(
            atomic_write_json(
                out / "split.json",
                {
                    "seed": self.seed,
                    "test_fraction": self.test_fraction,
                    "pool_size": self.pool_size,
                    "group_col": self.group_col,
                    "target_col": self.target_col,
                    "rules": {str(k): v for k, v in self.rules.items()},
                    "notes": self.notes,
                },
            )
        )
        return paths

    def __repr__(self) -> str:
        return (
            f"Split(labelled={len(self.labelled)}, pool={len(self.pool)}, test={len(self.test)}, "
            f"rules={self.rules!r}, seed={self.seed})"
        )


def _frame_and_columns(data, group_col, target_col) -> tuple[pd.DataFrame, str, str, np.ndarray]:
    """(frame, group_col, target_col, target as float64). A plain DataFrame is checked by
    :func:`etal.data.validate.validate_table` (the one home of the checks: columns present,
    target numeric and finite, groups present, ids unique) but split as given, so its
    rows, group labels and columns stay the caller's."""
    if hasattr(data, "frame") and hasattr(data, "group_col"):  # etal.data.Dataset: validated
        frame = data.frame
        group_col = group_col or data.group_col
        target_col = target_col or data.target_col
        if target_col in frame.columns and group_col in frame.columns:
            return frame, group_col, target_col, frame[target_col].to_numpy(dtype=float)
        source = data.source
    elif isinstance(data, pd.DataFrame):
        frame = data
        meta = frame.attrs.get("etal", {}) if isinstance(frame.attrs, dict) else {}
        group_col = group_col or meta.get("group")
        target_col = target_col or meta.get("target")
        source = "<DataFrame>"
    else:
        raise InputError(
            f"biased_split needs a Dataset or a pandas DataFrame, got {type(data).__name__}"
        )
    from .data.validate import validate_table

    clean = validate_table(frame, source=source, group_col=group_col, target_col=target_col, feature_cols=[])
    return frame, clean.group_col, clean.target_col, clean.frame[clean.target_col].to_numpy(dtype=float)


def biased_split(
    data,
    *,
    group_col: str | None = None,
    target_col: str | None = None,
    rules: Mapping[str, str] | None = None,
    test_fraction: float = 0.3,
    pool_size: int = 1000,
    seed: int = 0,
) -> Split:
    """Split fully labelled data into a biased labelled set, a pool and a random test set.

    1. A random ``test_fraction`` of all rows becomes the test set.
    2. From the rest, every row of a group matching that group's rule goes to the pool.
    3. The pool is filled at random up to ``pool_size`` rows (if the depleted rows alone
       exceed ``pool_size``, all are kept and a note is recorded).
    4. Everything else is the labelled set.

    ``rules`` maps a group to a condition (see :func:`parse_condition`); ``None`` means
    :data:`PAPER_RULES` when the groups are crystal systems, else no rules; ``{}`` means
    no rules. Deterministic for a given ``seed``. Row order inside each part follows the
    input order. The pool keeps its labels: hand them to an oracle, not to the loop.
    """
    test_fraction = check_float("test_fraction", test_fraction, low=0, high=1, high_open=True)
    pool_size = check_int("pool_size", pool_size, low=0)
    frame, group_col, target_col, target = _frame_and_columns(data, group_col, target_col)
    # The one check of the split's own: no pool rows (validation allows them elsewhere).
    missing = np.flatnonzero(np.isnan(target))
    if missing.size:
        raise InputError(
            f"biased_split needs every row labelled, but target column {target_col!r} is "
            f"empty in {missing.size} row(s) (e.g. rows {missing[:5].tolist()}); "
            "drop them, or run ET-AL on the table's own labelled set and pool instead"
        )
    group_values = frame[group_col].to_numpy()
    groups = sorted(pd.unique(group_values), key=str)

    if rules is None:
        rules = default_rules(groups)
    resolved: dict[Any, str] = {}
    conditions = {}
    for name, text in dict(rules).items():
        g = _resolve_group(str(name), groups)
        resolved[g] = str(text).strip()
        conditions[g] = parse_condition(text, (target_col,))

    n = len(frame)
    rng = np.random.default_rng(seed)
    n_test = int(round(float(test_fraction) * n))
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.permutation(n)[:n_test]] = True

    depleted = np.zeros(n, dtype=bool)
    depleted_counts = {}
    for g, cond in conditions.items():
        moved = (~is_test) & (group_values == g) & cond(target)
        depleted |= moved
        depleted_counts[g] = int(moved.sum())

    notes = []
    in_pool = depleted.copy()
    n_depleted = int(depleted.sum())
    if n_depleted > pool_size:
        notes.append(
            f"the depletion rules moved {n_depleted} rows to the pool, more than "
            f"pool_size={pool_size}; all of them were kept"
        )
    else:
        candidates = np.flatnonzero(~is_test & ~depleted)
        n_fill = pool_size - n_depleted
        if n_fill > candidates.size:
            raise InputError(
                f"pool_size={pool_size} leaves no labelled rows: only {candidates.size + n_depleted} "
                f"rows remain after the {n_test}-row test set; lower pool_size= or test_fraction="
            )
        in_pool[rng.choice(candidates, size=n_fill, replace=False)] = True
    is_labelled = ~is_test & ~in_pool
    if not is_labelled.any():
        raise InputError(
            "the split leaves no labelled rows; lower pool_size= or test_fraction=, or loosen "
            "the depletion rules"
        )

    def part(mask):
        return frame.loc[mask].reset_index(drop=True)

    return Split(
        labelled=part(is_labelled),
        pool=part(in_pool),
        test=part(is_test),
        rules=resolved,
        seed=int(seed),
        group_col=group_col,
        target_col=target_col,
        test_fraction=float(test_fraction),
        pool_size=pool_size,
        depleted=depleted_counts,
        notes=notes,
    )
