"""Downstream evaluation of an acquisition strategy and summaries of its bias trajectory.

This is the paper's downstream check (method notes, section 5): train regression models
on each strategy's final labelled set (initial labelled rows + acquired rows), score them
on a common held-out test set over many seeds, and compare strategies *paired by seed*.
It also turns the per-iteration, per-group entropies an active-learning run records into
scalar bias scores (``entropy_gap``, ``entropy_min``, ``entropy_std``), into rates
("how fast does the gap fall per acquisition?") and into scores over a chosen set of
groups (``depleted_entropy_min``/``_mean``: did a strategy raise the groups a biased split
depleted?), compared between two strategies paired by seed.

Everything here works on plain tables; nothing depends on how the tables were produced.

Units: entropies and gaps are in nats; ``mae`` is in the target's own unit (e.g. eV/atom
for ``formation_energy_per_atom``, GPa for moduli); ``r2`` is dimensionless.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "DOWNSTREAM_COLUMNS",
    "GROUP_SCORE_COLUMNS",
    "MIN_TRAINING_ROWS",
    "MODEL_NAMES",
    "downstream_models",
    "evaluate_downstream",
    "features_for_target",
    "gap_reduction_rate",
    "group_score_trajectory",
    "paired_comparison",
    "paired_final_difference",
    "summarise_bias_trajectory",
]

#: Downstream regressors, in the order the paper lists them.
MODEL_NAMES: tuple[str, ...] = ("gradient_boosting", "random_forest", "svr", "mlp", "adaboost")
#: Columns of the table :func:`evaluate_downstream` returns, in order.
DOWNSTREAM_COLUMNS: tuple[str, ...] = ("strategy", "model", "target", "seed", "scope", "r2", "mae")
#: Fewest training rows (after dropping NaN targets) a model is fitted on. The MLP holds
#: out 10 % of its rows for early stopping and needs at least 2 of them to score.
MIN_TRAINING_ROWS: int = 20
#: Fewest test rows for a score (R² needs at least 2 values).
MIN_TEST_ROWS: int = 2

# Metric direction: for these metrics a larger value is better.
_HIGHER_IS_BETTER = {"r2": True, "mae": False}


# --------------------------------------------------------------------------- models


def downstream_models(seed: int) -> dict[str, Any]:
    """The five downstream regressors, unfitted, each seeded with ``seed``.

    Settings are modest so that one fit on ~2,000 rows x 10 features takes well under a
    second on one core (measured on OQMD-8, 2,000 rows x 10 features: gradient boosting
    0.3 s, random forest 0.6 s, SVR 0.4 s, MLP 0.5 s, AdaBoost 0.3 s):

    * ``gradient_boosting``: ``GradientBoostingRegressor(n_estimators=200,
      learning_rate=0.05, max_depth=3)``;
    * ``random_forest``: ``RandomForestRegressor(n_estimators=100, n_jobs=1)`` (the
      parallelism is across fits, not inside one);
    * ``svr``: ``StandardScaler -> PCA(n_components=0.95) -> SVR(kernel="rbf")`` with
      scikit-learn-default ``C=1, epsilon=0.1, gamma="scale"``; PCA keeps the fewest components
      that explain 95 % of the variance (at least 1, at most d);
    * ``mlp``: ``StandardScaler -> MLPRegressor(hidden_layer_sizes=(64, 32),
      early_stopping=True, validation_fraction=0.1, n_iter_no_change=10, max_iter=300)``;
    * ``adaboost``: ``AdaBoostRegressor(DecisionTreeRegressor(max_depth=4),
      n_estimators=50)``.

    ``svr`` and ``mlp`` are wrapped in a ``TransformedTargetRegressor`` that standardises
    the target, because ``epsilon`` and the MLP's initialisation assume a target of order
    1 whatever its unit (eV/atom or GPa). Tree models are scale-free and need no scaling.
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.decomposition import PCA
    from sklearn.ensemble import AdaBoostRegressor, GradientBoostingRegressor, RandomForestRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor

    seed = int(seed)
    svr = Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=0.95, svd_solver="full", random_state=seed)),
            ("svr", SVR(kernel="rbf")),
        ]
    )
    mlp = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "mlp",
                MLPRegressor(
                    hidden_layer_sizes=(64, 32),
                    early_stopping=True,
                    validation_fraction=0.1,
                    n_iter_no_change=10,
                    max_iter=300,
                    random_state=seed,
                ),
            ),
        ]
    )
    return {
        "gradient_boosting": GradientBoostingRegressor(
            n_estimators=200, learning_rate=0.05, max_depth=3, random_state=seed
        ),
        "random_forest": RandomForestRegressor(n_estimators=100, n_jobs=1, random_state=seed),
        "svr": TransformedTargetRegressor(regressor=svr, transformer=StandardScaler()),
        "mlp": TransformedTargetRegressor(regressor=mlp, transformer=StandardScaler()),
        "adaboost": AdaBoostRegressor(
            estimator=DecisionTreeRegressor(max_depth=4, random_state=seed),
            n_estimators=50,
            random_state=seed,
        ),
    }


def features_for_target(features: Sequence[str], target: str) -> list[str]:
    """The features used to predict ``target``: ``features`` without ``target`` itself.

    A target that is also listed as a feature would be predicted from itself (leakage,
    R² = 1 for free), so it is dropped for that target only.
    """
    return [f for f in features if f != target]


# --------------------------------------------------------------------------- checks


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{where} has no column(s) {missing}; available columns: {list(frame.columns)}. "
            "Pass the right names (features=, targets=, group_col=)."
        )


def _rows_preview(index: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(map(str, index[:limit]))
    return shown + (f", ... ({len(index)} rows)" if len(index) > limit else "")


def _numeric_matrix(frame: pd.DataFrame, columns: Sequence[str], where: str) -> np.ndarray:
    """Feature columns as a float matrix; non-numeric or non-finite values are an error."""
    for col in columns:
        if not (pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col])):
            raise InputError(
                f"{where}: feature column {col!r} is not numeric (dtype {frame[col].dtype}); "
                "encode it as numbers or leave it out of features="
            )
    matrix = frame[list(columns)].to_numpy(dtype=float)
    bad = ~np.isfinite(matrix)
    if bad.any():
        rows = frame.index[bad.any(axis=1)]
        cols = [c for c, b in zip(columns, bad.any(axis=0)) if b]
        raise InputError(
            f"{where}: feature column(s) {cols} have missing or infinite values in rows "
            f"{_rows_preview(rows)}; impute or drop those rows before evaluation"
        )
    return matrix


def _numeric_target(frame: pd.DataFrame, target: str, where: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(frame[target]):
        raise InputError(f"{where}: target column {target!r} is not numeric (dtype {frame[target].dtype})")
    values = frame[target].to_numpy(dtype=float)
    if np.isinf(values).any():
        rows = frame.index[np.isinf(values)]
        raise InputError(f"{where}: target column {target!r} is infinite in rows {_rows_preview(rows)}")
    return values


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise InputError(f"seeds must be a positive count or a list of seeds, got {seeds}")
        return list(range(int(seeds)))
    out = [int(s) for s in seeds]
    if not out:
        raise InputError("seeds is an empty list; give at least one seed")
    if len(set(out)) != len(out):
        raise InputError(f"seeds contains duplicates: {out}")
    return out


# --------------------------------------------------------------------------- downstream


def _fit_and_score(
    model_name: str,
    seed: int,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    scopes: list[tuple[str, np.ndarray]],
) -> list[tuple[str, float, float]]:
    """Fit one model and return ``(scope, r2, mae)`` for each test scope.

    Runs in a joblib worker. BLAS is limited to one thread so that results do not depend
    on how many workers share the machine (thread count changes the order of floating
    point sums inside matrix products).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import mean_absolute_error, r2_score
    from threadpoolctl import threadpool_limits

    model = downstream_models(seed)[model_name]
    with threadpool_limits(limits=1), warnings.catch_warnings():
        # The models have a fixed training budget by design (max_iter, n_estimators);
        # hitting it is part of the model definition, not an error.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
        predicted = model.predict(x_test)
    out = []
    for scope, mask in scopes:
        out.append(
            (
                scope,
                float(r2_score(y_test[mask], predicted[mask])),
                float(mean_absolute_error(y_test[mask], predicted[mask])),
            )
        )
    return out


def evaluate_downstream(
    training_sets: Mapping[str, pd.DataFrame | Mapping[int, pd.DataFrame]],
    test: pd.DataFrame,
    *,
    features: Sequence[str],
    targets: Sequence[str],
    group_col: str | None = None,
    models: Sequence[str] | None = None,
    seeds: int | Sequence[int] = 30,
    n_jobs: int = -1,
    progress: bool = True,
) -> pd.DataFrame:
    """Train every model on every strategy's final labelled set; score it on ``test``.

    Parameters
    ----------
    training_sets
        ``{strategy: frame}``: each strategy's *final* labelled set (initial labelled
        rows + the rows it acquired). A value may also be ``{seed: frame}`` when the set
        depends on the seed (e.g. random acquisition repeated per seed); it must then
        hold every requested seed.
    test
        Held-out rows shared by all strategies.
    features, targets
        Feature and target columns. A target that is also a feature is dropped from the
        features *for that target* (see :func:`features_for_target`).
    group_col
        If given, each model is also scored on the test rows of each group
        (``scope`` = the group label as a string). Groups with fewer than 2 test rows
        or a constant target there (R² undefined) are skipped and produce no row.
    models
        Subset of :data:`MODEL_NAMES` (default: all).
    seeds
        A count ``k`` (seeds ``0..k-1``) or explicit seeds. The model's ``random_state``
        is the seed, so strategies are paired by seed.
    n_jobs
        joblib workers over (strategy, seed, model, target); the result does not depend
        on it.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    DataFrame with columns ``strategy, model, target, seed, scope, r2, mae`` (``mae`` in
    the target's unit), one row per fit and scope, ``scope == "all"`` for the whole test
    set. Training rows whose target is NaN are dropped for that target; so are test rows.

    Raises
    ------
    InputError
        Unknown model; missing, non-numeric or non-finite feature columns; a training set
        with fewer than :data:`MIN_TRAINING_ROWS` rows for a target; a test set with fewer
        than 2 rows or a constant target.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    if not training_sets:
        raise InputError("training_sets is empty; pass {strategy name: final labelled set}")
    features = list(features)
    targets = list(targets)
    if not targets:
        raise InputError("targets is empty; name at least one target column")
    if len(set(targets)) != len(targets):
        raise InputError(f"targets contains duplicates: {targets}")
    model_names = list(MODEL_NAMES if models is None else models)
    unknown = [m for m in model_names if m not in MODEL_NAMES]
    if unknown or not model_names:
        raise InputError(f"unknown model(s) {unknown or model_names}; choose from {list(MODEL_NAMES)}")
    seed_list = _seed_list(seeds)

    # ---- test set: arrays per target, scopes per target
    _require_columns(test, [*features, *targets] + ([group_col] if group_col else []), "test set")
    x_test_all = _numeric_matrix(test, features, "test set")
    groups = test[group_col].astype(str).to_numpy() if group_col else None
    if groups is not None and "all" in set(groups):
        raise InputError(f"test set: column {group_col!r} has a group named 'all', which clashes with scope 'all'; rename it")
    test_data: dict[str, tuple[np.ndarray, np.ndarray, list[tuple[str, np.ndarray]]]] = {}
    for target in targets:
        cols = features_for_target(features, target)
        if not cols:
            raise InputError(f"no features left to predict {target!r} once it is removed from the features")
        y = _numeric_target(test, target, "test set")
        keep = ~np.isnan(y)
        if keep.sum() < MIN_TEST_ROWS or np.ptp(y[keep]) == 0:
            raise InputError(
                f"test set: target {target!r} has {int(keep.sum())} non-missing value(s)"
                f"{' all equal' if keep.sum() >= MIN_TEST_ROWS else ''}; R² needs at least "
                f"{MIN_TEST_ROWS} different values"
            )
        col_idx = [features.index(c) for c in cols]
        x_t = x_test_all[keep][:, col_idx]
        y_t = y[keep]
        scopes = [("all", np.ones(len(y_t), dtype=bool))]
        if groups is not None:
            g = groups[keep]
            for label in sorted(set(g)):
                mask = g == label
                # R² is undefined on < 2 rows or a constant target: skip, record nothing.
                if mask.sum() >= MIN_TEST_ROWS and np.ptp(y_t[mask]) > 0:
                    scopes.append((label, mask))
        test_data[target] = (x_t, y_t, scopes)

    # ---- training sets: arrays per (strategy, seed key, target)
    def train_arrays(frame: pd.DataFrame, where: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"{where} is a {type(frame).__name__}, expected a DataFrame")
        _require_columns(frame, [*features, *targets], where)
        x_all = _numeric_matrix(frame, features, where)
        out = {}
        for target in targets:
            y = _numeric_target(frame, target, where)
            keep = ~np.isnan(y)
            if keep.sum() < MIN_TRAINING_ROWS:
                raise InputError(
                    f"{where}: only {int(keep.sum())} rows have a value for target {target!r}; "
                    f"at least {MIN_TRAINING_ROWS} are needed to fit the downstream models"
                )
            col_idx = [features.index(c) for c in features_for_target(features, target)]
            out[target] = (x_all[keep][:, col_idx], y[keep])
        return out

    train: dict[tuple[str, int], dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for strategy, value in training_sets.items():
        strategy = str(strategy)
        if isinstance(value, Mapping):
            missing = [s for s in seed_list if s not in value]
            if missing:
                raise InputError(
                    f"training set of strategy {strategy!r} is given per seed but lacks seed(s) {missing}"
                )
            for s in seed_list:
                train[(strategy, s)] = train_arrays(value[s], f"training set {strategy!r} (seed {s})")
        else:
            arrays = train_arrays(value, f"training set {strategy!r}")
            for s in seed_list:
                train[(strategy, s)] = arrays

    tasks = [
        (strategy, model, target, seed)
        for strategy in map(str, training_sets)
        for model in model_names
        for target in targets
        for seed in seed_list
    ]
    calls = (
        delayed(_fit_and_score)(model, seed, *train[(strategy, seed)][target], *test_data[target])
        for strategy, model, target, seed in tasks
    )
    # return_as="generator" yields results in task order as they finish, so the bar moves.
    results = Parallel(n_jobs=n_jobs, return_as="generator")(calls)
    rows = []
    for (strategy, model, target, seed), scores in zip(
        tasks, tqdm(results, total=len(tasks), desc="downstream fits", disable=not progress)
    ):
        for scope, r2, mae in scores:
            rows.append((strategy, model, target, seed, scope, r2, mae))
    frame = pd.DataFrame(rows, columns=list(DOWNSTREAM_COLUMNS))
    return frame.astype({"seed": "int64", "r2": "float64", "mae": "float64"})


# --------------------------------------------------------------------------- paired stats


def _t_interval(diffs: np.ndarray, confidence: float) -> tuple[float, float]:
    """t-interval of the mean of ``diffs`` (n >= 2)."""
    from scipy import stats

    n = len(diffs)
    mean = float(diffs.mean())
    sem = float(diffs.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sem
    return mean - half, mean + half


def _paired_statistics(
    va: np.ndarray, vb: np.ndarray, *, higher: bool, confidence: float, what: str
) -> dict[str, Any]:
    """Paired statistics of ``va`` − ``vb`` (element i of each is one seed); shared by
    :func:`paired_comparison` and :func:`paired_final_difference`.

    Pairs where either value is not finite are dropped. Returns ``n_pairs, mean_a, mean_b,
    mean_diff, ci_low, ci_high, p_value`` (two-sided Wilcoxon signed-rank, SciPy
    defaults), ``p_value_t`` (paired t-test), ``a_better`` (fraction of pairs where a is
    strictly better; ``higher`` says which direction is better) and ``note`` (why a value
    is NaN; ``what`` names the values in it). Never raises on degenerate input.
    """
    from scipy import stats

    ok = np.isfinite(va) & np.isfinite(vb)
    va, vb = va[ok], vb[ok]
    d = va - vb
    n = len(d)
    row: dict[str, Any] = {
        "n_pairs": n,
        "mean_a": float(va.mean()) if n else np.nan,
        "mean_b": float(vb.mean()) if n else np.nan,
        "mean_diff": float(d.mean()) if n else np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p_value": np.nan,
        "p_value_t": np.nan,
        "a_better": float(np.mean(d > 0 if higher else d < 0)) if n else np.nan,
        "note": "",
    }
    if n == 0:
        row["note"] = f"no seed has a finite {what}"
    elif n == 1:
        row["note"] = "only 1 paired seed: no interval or test"
    elif np.all(d == 0):
        row["ci_low"] = row["ci_high"] = 0.0
        row["note"] = "all paired differences are zero: tests undefined"
    else:
        row["ci_low"], row["ci_high"] = _t_interval(d, confidence)
        with warnings.catch_warnings():
            # SciPy warns when it switches from the exact to the normal approximation
            # (zeros or ties among the differences); the p-value is still valid.
            warnings.simplefilter("ignore", UserWarning)
            row["p_value"] = float(stats.wilcoxon(va, vb).pvalue)
        if np.ptp(d) == 0:
            row["note"] = "paired differences are constant: t-test undefined"
        else:
            row["p_value_t"] = float(stats.ttest_rel(va, vb).pvalue)
    return row


def paired_comparison(
    downstream: pd.DataFrame,
    a: str = "etal",
    b: str = "random",
    *,
    metric: str = "r2",
    scope: str = "all",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Compare strategy ``a`` with ``b`` per (model, target), paired by seed.

    Returns one row per (model, target) with ``n_pairs`` (seeds with a finite score for
    both), ``mean_a``, ``mean_b``, ``mean_diff`` (a − b), ``ci_low``/``ci_high`` (t-interval
    of the mean paired difference at ``confidence``), ``p_value`` (two-sided Wilcoxon
    signed-rank test, SciPy defaults: zero differences dropped), ``p_value_t`` (paired
    t-test), ``a_better`` (fraction of seeds where ``a`` is strictly better: higher R²,
    lower MAE), ``note`` (why a value is NaN, else empty), and the inputs ``a, b, metric,
    scope, confidence``.

    Edge cases never raise: with no pair everything is NaN; with one pair there is no
    interval or test; when all differences are zero the interval is [0, 0] and both
    p-values are NaN; when the differences are constant but non-zero the t-test is NaN.
    p-values are not corrected for multiple comparisons.
    """
    _require_columns(downstream, ["strategy", "model", "target", "seed", "scope", metric], "downstream table")
    if metric not in _HIGHER_IS_BETTER:
        raise InputError(f"metric must be one of {list(_HIGHER_IS_BETTER)}, got {metric!r}")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    strategies = set(downstream["strategy"].astype(str))
    for name in (a, b):
        if name not in strategies:
            raise InputError(f"strategy {name!r} is not in the downstream table; it has {sorted(strategies)}")
    sub = downstream[(downstream["scope"].astype(str) == str(scope)) & downstream["strategy"].isin([a, b])]
    if sub.empty:
        raise InputError(f"no rows with scope {scope!r} for strategies {a!r} and {b!r}")
    keys = ["strategy", "model", "target", "seed"]
    dup = sub.duplicated(keys, keep=False)
    if dup.any():
        raise InputError(
            f"downstream table has several {metric} values for the same (strategy, model, target, seed, "
            f"scope) in rows {_rows_preview(sub.index[dup])}; evaluate each combination once"
        )
    wide = sub.pivot_table(index=["model", "target", "seed"], columns="strategy", values=metric, aggfunc="first")
    higher = _HIGHER_IS_BETTER[metric]
    rows = []
    for (model, target), block in wide.groupby(level=["model", "target"], sort=True):
        va = block[a].to_numpy(dtype=float) if a in block else np.full(len(block), np.nan)
        vb = block[b].to_numpy(dtype=float) if b in block else np.full(len(block), np.nan)
        row: dict[str, Any] = {"model": model, "target": target}
        row.update(_paired_statistics(va, vb, higher=higher, confidence=confidence, what=f"{metric} for both {a!r} and {b!r}"))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["a"], out["b"], out["metric"], out["scope"], out["confidence"] = a, b, metric, str(scope), confidence
    return out


# --------------------------------------------------------------------------- bias trajectory

_TRAJECTORY_COLUMNS = ("strategy", "seed", "iteration", "group", "entropy")


def _check_trajectory(trajectory: pd.DataFrame) -> None:
    """Columns, numeric entropy and one entropy per (strategy, seed, iteration, group)."""
    _require_columns(trajectory, list(_TRAJECTORY_COLUMNS), "trajectory table")
    if not pd.api.types.is_numeric_dtype(trajectory["entropy"]):
        raise InputError(f"trajectory table: column 'entropy' is not numeric (dtype {trajectory['entropy'].dtype})")
    dup = trajectory.duplicated(["strategy", "seed", "iteration", "group"], keep=False)
    if dup.any():
        raise InputError(
            "trajectory table has several entropies for the same (strategy, seed, iteration, group) "
            f"in rows {_rows_preview(trajectory.index[dup])}"
        )


def summarise_bias_trajectory(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Scalar bias scores per (strategy, seed, iteration) from per-group entropies.

    ``trajectory`` is long format with columns ``strategy, seed, iteration, group,
    entropy`` (nats; ``iteration`` = acquisitions made so far, 0 = the initial set).
    Groups whose entropy is not finite (NaN: too few values; −inf: constant values) are
    left out. Returns ``strategy, seed, iteration, entropy_gap`` (max − min over the
    finite groups), ``entropy_min``, ``entropy_std`` (population standard deviation,
    ddof=0, across groups) and ``n_groups`` (finite groups counted). With fewer than two
    finite groups the gap and std are NaN (there is no spread to measure); ``n_groups``
    says so.
    """
    _check_trajectory(trajectory)
    keys = ["strategy", "seed", "iteration"]
    entropy = trajectory["entropy"].to_numpy(dtype=float)
    finite = trajectory.loc[np.isfinite(entropy), [*keys, "entropy"]]
    grouped = finite.groupby(keys, sort=True)["entropy"]
    stats_ = pd.DataFrame(
        {
            "entropy_max": grouped.max(),
            "entropy_min": grouped.min(),
            "entropy_std": grouped.std(ddof=0),
            "n_groups": grouped.size(),
        }
    )
    all_keys = trajectory[keys].drop_duplicates().set_index(keys).sort_index().index
    stats_ = stats_.reindex(all_keys)
    stats_["n_groups"] = stats_["n_groups"].fillna(0).astype("int64")
    spread_ok = stats_["n_groups"] >= 2
    stats_["entropy_gap"] = (stats_["entropy_max"] - stats_["entropy_min"]).where(spread_ok)
    stats_["entropy_std"] = stats_["entropy_std"].where(spread_ok)
    out = stats_.reset_index()[[*keys, "entropy_gap", "entropy_min", "entropy_std", "n_groups"]]
    return out.astype({"entropy_gap": "float64", "entropy_min": "float64", "entropy_std": "float64"})


def gap_reduction_rate(
    trajectory_summary: pd.DataFrame,
    strategies: Sequence[str] = ("etal", "random"),
    upto: int | None = None,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """How fast each strategy lowers ``entropy_gap`` per acquisition, across seeds.

    For every seed of a strategy, over iterations ``first..upto`` with a finite gap:

    * ``slope``: least-squares slope of gap vs iteration (nats per acquisition);
      ``gap_drop_per_acquisition`` = −slope (positive = the gap falls);
    * ``gap_area``: area under the gap curve (trapezoid rule, nats x acquisitions);
      smaller = less bias on average over the run.

    The mean over seeds and a t-interval across seeds (``confidence``) are returned per
    strategy with ``n_seeds``, ``first_iteration``, ``last_iteration``, ``gap_start`` and
    ``gap_end`` (means over seeds) and a ``note``. ``upto=None`` uses the last iteration
    that every seed of every listed strategy reached, so that rates and areas are
    compared over the same range (ET-AL may stop early by its stop rules).
    """
    from scipy import stats
    from scipy.integrate import trapezoid

    _require_columns(trajectory_summary, ["strategy", "seed", "iteration", "entropy_gap"], "trajectory summary")
    strategies = [str(s) for s in strategies]
    available = sorted(set(trajectory_summary["strategy"].astype(str)))
    missing = [s for s in strategies if s not in available]
    if missing:
        raise InputError(f"strategy(ies) {missing} not in the trajectory summary; it has {available}")
    sub = trajectory_summary[trajectory_summary["strategy"].astype(str).isin(strategies)]
    if upto is None:
        upto = int(sub.groupby(["strategy", "seed"])["iteration"].max().min())
    rows = []
    for strategy in strategies:
        block = sub[(sub["strategy"].astype(str) == strategy) & (sub["iteration"] <= upto)]
        per_seed = []
        short = []
        for seed, run in block.groupby("seed", sort=True):
            run = run.sort_values("iteration")
            x = run["iteration"].to_numpy(dtype=float)
            y = run["entropy_gap"].to_numpy(dtype=float)
            ok = np.isfinite(y)
            x, y = x[ok], y[ok]
            if len(x) < 2:
                short.append(seed)
                continue
            per_seed.append((stats.linregress(x, y).slope, trapezoid(y, x), y[0], y[-1], x[0], x[-1]))
        notes = []
        if short:
            notes.append(f"seed(s) {short} have fewer than 2 finite gaps up to iteration {upto}: left out")
        row: dict[str, Any] = {"strategy": strategy, "n_seeds": len(per_seed)}
        if per_seed:
            arr = np.array(per_seed, dtype=float)
            drops, areas = -arr[:, 0], arr[:, 1]
            if len(set(arr[:, 5])) > 1 or len(set(arr[:, 4])) > 1:
                notes.append("seeds cover different iteration ranges")
            row.update(
                first_iteration=int(arr[:, 4].min()),
                last_iteration=int(arr[:, 5].max()),
                gap_start=float(arr[:, 2].mean()),
                gap_end=float(arr[:, 3].mean()),
                gap_drop_per_acquisition=float(drops.mean()),
                gap_area=float(areas.mean()),
            )
            if len(per_seed) >= 2:
                row["drop_ci_low"], row["drop_ci_high"] = _t_interval(drops, confidence)
                row["area_ci_low"], row["area_ci_high"] = _t_interval(areas, confidence)
            else:
                notes.append("one seed: no interval")
        else:
            notes.append("no seed with at least 2 finite gaps")
        row["note"] = "; ".join(notes)
        rows.append(row)
    columns = [
        "strategy", "n_seeds", "first_iteration", "last_iteration", "gap_start", "gap_end",
        "gap_drop_per_acquisition", "drop_ci_low", "drop_ci_high", "gap_area", "area_ci_low",
        "area_ci_high", "note",
    ]
    out = pd.DataFrame(rows).reindex(columns=columns)
    out["confidence"] = confidence
    out["upto"] = upto
    return out


# --------------------------------------------------------------------------- chosen groups

#: Columns of :func:`group_score_trajectory`, in order.
GROUP_SCORE_COLUMNS: tuple[str, ...] = (
    "strategy", "seed", "iteration", "depleted_entropy_min", "depleted_entropy_mean", "n_depleted_groups",
)  # fmt: skip


def group_score_trajectory(trajectory: pd.DataFrame, groups: Sequence[Any]) -> pd.DataFrame:
    """Bias scores over chosen groups (in an experiment: the groups the split depleted).

    ``trajectory`` is long format (``strategy, seed, iteration, group, entropy``; nats), as
    for :func:`summarise_bias_trajectory`; ``groups`` are group labels (compared as text).
    Returns one row per (strategy, seed, iteration) of the trajectory with

    * ``depleted_entropy_min``: the lowest entropy (nats) among ``groups`` whose entropy is
      finite at that iteration: the least diverse of them;
    * ``depleted_entropy_mean``: their mean entropy (nats);
    * ``n_depleted_groups``: how many of ``groups`` had a finite entropy (NaN = fewer than
      5 values, −inf = constant values; both left out, as in ``entropy_gap``).

    Both scores are NaN where none of ``groups`` has a finite entropy. Note that a group
    that becomes estimable during a run enters the min and the mean from then on, so the
    scores can move although no finite entropy did; ``n_depleted_groups`` shows when.

    Unlike ``entropy_gap`` (max − min over *all* groups), these scores are not pinned by a
    group the split left alone (e.g. a small group whose pool cannot raise it): they
    measure whether a strategy raised the groups that were depleted on purpose.

    Raises
    ------
    InputError
        ``groups`` empty, or naming groups absent from the trajectory; the trajectory's
        own problems as in :func:`summarise_bias_trajectory`.
    """
    _check_trajectory(trajectory)
    chosen = list(dict.fromkeys(str(g) for g in groups))
    if not chosen:
        raise InputError(
            "groups is empty: name at least one group to score (in an experiment, the split's depleted "
            "groups; with no depletion rules there is nothing to score)"
        )
    labels = trajectory["group"].astype(str)
    present = set(labels)
    missing = [g for g in chosen if g not in present]
    if missing:
        raise InputError(
            f"group(s) {missing} are not in the trajectory table; its groups are {sorted(present)}"
        )
    keys = ["strategy", "seed", "iteration"]
    entropy = trajectory["entropy"].to_numpy(dtype=float)
    keep = labels.isin(chosen).to_numpy() & np.isfinite(entropy)
    grouped = trajectory.loc[keep, [*keys, "entropy"]].groupby(keys, sort=True)["entropy"]
    scores = pd.DataFrame(
        {
            "depleted_entropy_min": grouped.min(),
            "depleted_entropy_mean": grouped.mean(),
            "n_depleted_groups": grouped.size(),
        }
    )
    all_keys = trajectory[keys].drop_duplicates().set_index(keys).sort_index().index
    scores = scores.reindex(all_keys)
    scores["n_depleted_groups"] = scores["n_depleted_groups"].fillna(0).astype("int64")
    out = scores.reset_index()[list(GROUP_SCORE_COLUMNS)]
    return out.astype({"depleted_entropy_min": "float64", "depleted_entropy_mean": "float64"})


def paired_final_difference(
    scores: pd.DataFrame,
    column: str,
    a: str = "etal",
    b: str = "random",
    confidence: float = 0.95,
) -> dict[str, Any]:
    """``a`` − ``b`` in a per-run score at the last iteration every run reached, paired by seed.

    ``scores`` has columns ``strategy, seed, iteration`` and ``column`` (e.g. the output
    of :func:`group_score_trajectory`, column ``depleted_entropy_min``; larger = better).
    The runs are compared at ``iteration`` = the last iteration that every run of ``a``
    and ``b`` reached (a run that stopped early is never extended; the others are read
    there), each run's value being the one recorded at the latest iteration ≤ that point.

    Runs are paired by seed. With at least 2 pairs (finite values for both), the result
    holds the mean paired difference with a t-interval at ``confidence``, the two-sided
    Wilcoxon signed-rank p-value and the paired t-test p-value, exactly as
    :func:`paired_comparison` computes them for R². With fewer pairs (e.g. a
    deterministic ``a`` run once against 5 seeds of ``b``) there is no paired interval:
    ``mean_a`` and ``mean_b`` are means over *all* finite runs of each, ``mean_diff`` their
    difference, the interval and p-values NaN, and ``note`` says so.

    Returns a dict: ``column, a, b, iteration, n_a, n_b`` (runs with a finite value),
    ``n_pairs, paired`` (True when the statistics are paired), ``mean_a, mean_b,
    mean_diff, ci_low, ci_high, p_value, p_value_t, a_better`` (fraction of pairs where
    ``a`` is higher), ``confidence, note``. Values are in the score's unit (nats for
    entropies).
    """
    _require_columns(scores, ["strategy", "seed", "iteration", column], "score table")
    if not pd.api.types.is_numeric_dtype(scores[column]):
        raise InputError(f"score table: column {column!r} is not numeric (dtype {scores[column].dtype})")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if a == b:
        raise InputError(f"a and b are the same strategy {a!r}; compare two different strategies")
    strategy = scores["strategy"].astype(str)
    available = sorted(set(strategy))
    for name in (a, b):
        if name not in available:
            raise InputError(f"strategy {name!r} is not in the score table; it has {available}")
    sub = scores[strategy.isin([a, b])].assign(strategy=strategy)
    dup = sub.duplicated(["strategy", "seed", "iteration"], keep=False)
    if dup.any():
        raise InputError(
            f"score table has several rows for the same (strategy, seed, iteration) in rows {_rows_preview(sub.index[dup])}"
        )
    last = sub.groupby(["strategy", "seed"])["iteration"].max()
    at = int(last.min())
    notes = []
    if last.nunique() > 1:
        ends = {s: _span_text(last[s]) for s in (a, b)}
        notes.append(
            f"runs reached different iterations ({a}: {ends[a]}, {b}: {ends[b]}); compared at {at}, the last "
            "iteration every run reached"
        )
    # Each run's value at the latest recorded iteration <= at (exactly at for batch size 1).
    upto = sub[sub["iteration"] <= at].sort_values("iteration", kind="stable")
    # drop_duplicates, not groupby().last(): last() would skip a NaN and read an older value.
    final = upto.drop_duplicates(["strategy", "seed"], keep="last").set_index(["strategy", "seed"])[column]
    values = {s: final.xs(s, level="strategy").astype(float) for s in (a, b)}
    finite = {s: v[np.isfinite(v.to_numpy())] for s, v in values.items()}
    common = sorted(set(finite[a].index) & set(finite[b].index))
    out: dict[str, Any] = {
        "column": column, "a": a, "b": b, "iteration": at,
        "n_a": len(finite[a]), "n_b": len(finite[b]), "n_pairs": len(common), "paired": len(common) >= 2,
    }  # fmt: skip
    if len(common) >= 2:
        stats_ = _paired_statistics(
            finite[a].loc[common].to_numpy(), finite[b].loc[common].to_numpy(),
            higher=True, confidence=confidence, what=f"{column} for both {a!r} and {b!r}",
        )  # fmt: skip
        unpaired = (len(finite[a]) - len(common)) + (len(finite[b]) - len(common))
        if unpaired:
            notes.append(f"{unpaired} run(s) without a partner seed left out")
        notes.append(stats_.pop("note"))
    else:
        mean_a = float(finite[a].mean()) if len(finite[a]) else np.nan
        mean_b = float(finite[b].mean()) if len(finite[b]) else np.nan
        stats_ = {
            "mean_a": mean_a, "mean_b": mean_b, "mean_diff": mean_a - mean_b,
            "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "p_value_t": np.nan, "a_better": np.nan,
        }  # fmt: skip
        notes.append(
            f"{a} has {len(finite[a])} run(s) (seeds {_seeds_text(finite[a].index)}) and {b} {len(finite[b])} "
            f"(seeds {_seeds_text(finite[b].index)}) with a finite {column}; {len(common)} seed(s) in common, fewer "
            f"than 2, so no paired interval or test: means over all runs of each"
        )
    stats_.pop("n_pairs", None)
    out.update(stats_)
    out["confidence"] = confidence
    out["note"] = "; ".join(n for n in notes if n)
    return out


def _span_text(values: Any) -> str:
    arr = np.atleast_1d(np.asarray(values))
    lo, hi = int(arr.min()), int(arr.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _seeds_text(seeds: Sequence[Any]) -> str:
    seeds = [int(s) for s in seeds]
    return ", ".join(map(str, seeds)) if seeds else "none"
