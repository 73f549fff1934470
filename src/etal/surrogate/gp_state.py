"""Checkpoint state of :class:`etal.surrogate.gp.GPSurrogate`: ``state_dict`` / ``load_state_dict``.

Plain JSON-able data (floats, lists, strings) so that a checkpointed run resumes and
refits from exactly the same starting point; a mixin so the model's maths stays in
:mod:`etal.surrogate.gp`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import CheckpointError, InputError
from .base import (
    _STATE_FORMAT,
    CONSTANT_BOUNDS,
    LENGTH_SCALE_BOUNDS,
    NOISE_LEVEL_BOUNDS,
)

__all__ = ["GPStateMixin"]



class GPStateMixin:
    """``state_dict`` / ``load_state_dict`` (and the hyper-parameter check they share)."""

    @staticmethod
    def _check_hyperparameters(values: Any, where: str) -> dict:
        """Validate ``{"constant", "length_scale", "noise_level"}`` -> plain floats."""
        error = CheckpointError if where == "state" else InputError
        if not isinstance(values, dict) or not {"constant", "length_scale", "noise_level"} <= set(values):
            raise error(
                f"{where} must be a dict with keys 'constant', 'length_scale', 'noise_level'; "
                f"got {values!r}."
            )
        out: dict = {}
        for key, bounds in (
            ("constant", CONSTANT_BOUNDS),
            ("length_scale", LENGTH_SCALE_BOUNDS),
            ("noise_level", NOISE_LEVEL_BOUNDS),
        ):
            raw = values[key]
            try:
                array = np.asarray(raw, dtype=float)
            except (TypeError, ValueError):
                raise error(f"{where}[{key!r}] must be a number, got {raw!r}.") from None
            if array.ndim > (1 if key == "length_scale" else 0) or array.size == 0:
                raise error(f"{where}[{key!r}] must be a number, got {raw!r}.")
            low, high = bounds
            if not (np.all(np.isfinite(array)) and np.all(array >= low) and np.all(array <= high)):
                raise error(f"{where}[{key!r}] = {raw!r} is outside the bounds [{low:g}, {high:g}].")
            out[key] = [float(v) for v in array] if array.ndim == 1 else float(array)
        return out

    def state_dict(self) -> dict:
        """JSON-able state: configuration, hyper-parameters and a summary of the last fit.

        The training data are not included: a resumed run refits on its labelled rows,
        starting from these hyper-parameters, and gets identical results.
        """
        fit: dict | None = None
        if self.mode_ is not None:
            info = self.fit_info_
            fit = {
                "mode": self.mode_,
                "n_rows": info["n_rows"],
                "n_features": self.n_features_in_,
                "n_hyperparameter_rows": info["n_hyperparameter_rows"],
                "n_inducing": info.get("n_inducing"),
                "log_marginal_likelihood": info["log_marginal_likelihood"],
                "alpha": info["alpha"],
                "target_mean": self._y_mean,
                "target_std": self._y_std,
                "warnings": list(info["warnings"]),
            }
        return {
            "kind": "gp",
            "format": _STATE_FORMAT,
            "config": self._config(),
            "hyperparameters": self.hyperparameters or None,
            "n_features": self._known_n_features,
            "bounds": {
                "constant": list(CONSTANT_BOUNDS),
                "length_scale": list(LENGTH_SCALE_BOUNDS),
                "noise_level": list(NOISE_LEVEL_BOUNDS),
            },
            "last_fit": fit,
            "last_optimization": dict(self._last_optimization) if self._last_optimization else None,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore configuration and hyper-parameters from :meth:`state_dict`.

        The object becomes unfitted (call ``fit``); its next fit starts from the restored
        hyper-parameters, exactly as the saved object's next fit would.
        """
        if not isinstance(state, dict) or state.get("kind") != "gp":
            raise CheckpointError(
                "this surrogate state was not written by GPSurrogate.state_dict() "
                f"(kind={state.get('kind') if isinstance(state, dict) else type(state).__name__!r})."
            )
        if state.get("format") != _STATE_FORMAT:
            raise CheckpointError(
                f"surrogate state format {state.get('format')!r} is not supported "
                f"(this etal reads format {_STATE_FORMAT}); rerun from scratch."
            )
        config = state.get("config")
        if not isinstance(config, dict) or set(config) - set(self._default_config()):
            raise CheckpointError(f"surrogate state has an unusable 'config': {config!r}.")
        try:
            rebuilt = type(self)(**config)
        except InputError as exc:
            raise CheckpointError(f"surrogate state has an unusable 'config': {exc}") from None
        hyper = state.get("hyperparameters")
        n_features = state.get("n_features")
        if n_features is not None and (isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1):
            raise CheckpointError(f"surrogate state has an unusable 'n_features': {n_features!r}.")
        self.__dict__.update(rebuilt.__dict__)
        self._hyper = self._check_hyperparameters(hyper, "state") if hyper is not None else None
        self._known_n_features = n_features
        last_opt = state.get("last_optimization")
        if last_opt is not None and not (
            isinstance(last_opt, dict)
            and isinstance(last_opt.get("n_rows"), int) and not isinstance(last_opt.get("n_rows"), bool)
            and last_opt["n_rows"] >= 2 and isinstance(last_opt.get("sha256"), str)
        ):
            raise CheckpointError(f"surrogate state has an unusable 'last_optimization': {last_opt!r}.")
        self._last_optimization = dict(last_opt) if last_opt else None
        last_fit = state.get("last_fit")
        alpha = last_fit.get("alpha") if isinstance(last_fit, dict) else None
        self._last_alpha = float(alpha) if isinstance(alpha, (int, float)) and not isinstance(alpha, bool) else None
        self._reset_fit()
