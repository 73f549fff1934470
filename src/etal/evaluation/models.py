"""The downstream regressors: the one registry of their names (:data:`DOWNSTREAM_MODELS`).

Each entry builds one unfitted scikit-learn regressor for a seed. Every other layer
(experiment config, CLI help, evaluation) takes the model names from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["DOWNSTREAM_MODELS", "MODEL_NAMES", "downstream_models", "features_for_target"]

def _gradient_boosting(seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=200, learning_rate=0.05, max_depth=3, random_state=seed)


def _random_forest(seed: int) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=100, n_jobs=1, random_state=seed)


def _standardised_target(regressor: Any) -> Any:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.preprocessing import StandardScaler

    return TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler())


def _svr(seed: int) -> Any:
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("pca", PCA(n_components=0.95, svd_solver="full", random_state=seed)),
            ("svr", SVR(kernel="rbf")),
        ]
    )
    return _standardised_target(pipeline)


def _mlp(seed: int) -> Any:
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    mlp = MLPRegressor(
        hidden_layer_sizes=(64, 32), early_stopping=True, validation_fraction=0.1,
        n_iter_no_change=10, max_iter=300, random_state=seed,
    )  # fmt: skip
    return _standardised_target(Pipeline([("scale", StandardScaler()), ("mlp", mlp)]))


def _adaboost(seed: int) -> Any:
    from sklearn.ensemble import AdaBoostRegressor
    from sklearn.tree import DecisionTreeRegressor

    return AdaBoostRegressor(
        estimator=DecisionTreeRegressor(max_depth=4, random_state=seed), n_estimators=50, random_state=seed
    )


#: The downstream regressors, in the order the paper lists them: name -> builder(seed)
#: returning an unfitted, seeded regressor. The one home of the downstream model names.
DOWNSTREAM_MODELS: dict[str, Callable[[int], Any]] = {
    "gradient_boosting": _gradient_boosting,
    "random_forest": _random_forest,
    "svr": _svr,
    "mlp": _mlp,
    "adaboost": _adaboost,
}
#: The names of :data:`DOWNSTREAM_MODELS`, in order.
MODEL_NAMES: tuple[str, ...] = tuple(DOWNSTREAM_MODELS)


def downstream_models(seed: int, names: Sequence[str] | None = None) -> dict[str, Any]:
    """The downstream regressors (all, or ``names``), unfitted, each seeded with ``seed``.

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
    seed = int(seed)
    return {name: DOWNSTREAM_MODELS[name](seed) for name in (MODEL_NAMES if names is None else names)}


def features_for_target(features: Sequence[str], target: str) -> list[str]:
    """The features used to predict ``target``: ``features`` without ``target`` itself.

    A target that is also listed as a feature would be predicted from itself (leakage,
    R² = 1 for free), so it is dropped for that target only.
    """
    return [f for f in features if f != target]
