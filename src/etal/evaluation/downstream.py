"""Train the downstream models on each strategy's final labelled set and score them on a test set."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._checks import _numeric_matrix, _numeric_target, _require_columns, _seed_list
from .models import MODEL_NAMES, downstream_models, features_for_target

__all__ = ["DOWNSTREAM_COLUMNS", "MIN_TEST_ROWS", "MIN_TRAINING_ROWS", "evaluate_downstream", "fit_and_score"]

#: Columns of the table :func:`evaluate_downstream` returns, in order.
DOWNSTREAM_COLUMNS: tuple[str, ...] = ("strategy", "model", "target", "seed", "scope", "r2", "mae")
#: Fewest training rows (after dropping NaN targets) a model is fitted on. The MLP holds
#: out 10 % of its rows for early stopping and needs at least 2 of them to score.
MIN_TRAINING_ROWS: int = 20
#: Fewest test rows for a score (R² needs at least 2 values).
MIN_TEST_ROWS: int = 2


def fit_and_score(
    model_name: str,
    seed: int,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    scopes: list[tuple[str, np.ndarray]],
) -> list[tuple[str, float, float]]:
    """Fit one model and return ``(scope, r2, mae)`` for each test scope (``mae`` in the
    target's unit).

    One downstream task: runs in a joblib worker or as a Dask task. BLAS is limited to one thread so that results do not depend
    on how many workers share the machine (thread count changes the order of floating
    point sums inside matrix products).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import mean_absolute_error, r2_score
    from threadpoolctl import threadpool_limits

    model = downstream_models(seed, [model_name])[model_name]
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
    progress: Callable[[int, int], None] | bool | None = None,
    client: Any = None,
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
        Called as ``progress(done, total)`` after each fit (the caller draws any bar;
        the library draws none). ``True``/``False`` from older code mean no callback.
    client
        A ``distributed.Client``: every fit is a Dask task (retried if its worker dies;
        ``n_jobs`` unused), the table equals the local one. None: joblib here, no Dask.

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
    report = progress if callable(progress) else None
    arguments = [(model, seed, *train[(strategy, seed)][target], *test_data[target])
                 for strategy, model, target, seed in tasks]
    if client is not None:
        from ..scale.grid import run_tasks

        # Results come back in task order; the shared arrays are sent to the cluster once.
        results = run_tasks(fit_and_score, arguments, client=client, progress=report,
                            labels=[f"fit-{s}-{m}-{t}-seed{r}" for s, m, t, r in tasks])
    else:
        # return_as="generator" yields results in task order as they finish, so progress moves.
        results = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(fit_and_score)(*a) for a in arguments)
    rows = []
    for done, ((strategy, model, target, seed), scores) in enumerate(zip(tasks, results), start=1):
        if report is not None and client is None:
            report(done, len(tasks))
        for scope, r2, mae in scores:
            rows.append((strategy, model, target, seed, scope, r2, mae))
    frame = pd.DataFrame(rows, columns=list(DOWNSTREAM_COLUMNS))
    return frame.astype({"seed": "int64", "r2": "float64", "mae": "float64"})


# --------------------------------------------------------------------------- paired stats
