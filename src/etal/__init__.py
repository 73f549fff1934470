"""etal: measure and mitigate bias in scientific datasets with entropy-targeted active learning.

Quick start::

    import etal
    df = etal.load_dataset("oqmd8")
    report = etal.bias_report(df, group_col="crystal_system", target_col="formation_energy_per_atom")
    print(report.table)

The method is that of Zhang, Chen, Rondinelli & Chen, Applied Physics Reviews 10, 021403
(2023). Cite it, and the source of any embedded data (see ``etal datasets``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Public names, imported lazily so that ``import etal`` stays fast and the CLI starts
# quickly; each maps to the module that defines it.
_EXPORTS = {
    "load_dataset": "etal.datasets",
    "list_datasets": "etal.datasets",
    "dataset_info": "etal.datasets",
    "synthetic": "etal.datasets",
    "load_data": "etal.data",
    "differential_entropy": "etal.entropy",
    "estimate_entropy": "etal.entropy",
    "Dataset": "etal.data",
    "load_table": "etal.data",
    "from_frame": "etal.data",
    "bias_report": "etal.bias",
    "BiasReport": "etal.bias",
    "GPSurrogate": "etal.surrogate",
    "expected_entropy": "etal.acquisition",
    "expected_improvement": "etal.acquisition",
    "ETAL": "etal.engine",
    "LookupOracle": "etal.oracles",
    "biased_split": "etal.split",
    "trim": "etal.trimming",
    "EtalError": "etal.errors",
    "InputError": "etal.errors",
    "Campaign": "etal.campaign",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'etal' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
