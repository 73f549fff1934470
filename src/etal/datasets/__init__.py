"""Embedded datasets and synthetic data generators.

``load_dataset("oqmd8")`` returns a tidy :class:`pandas.DataFrame`; ``dataset_info(name)``
describes it (default group, target, id and feature columns, provenance, licence).
"""

from __future__ import annotations

import gzip
import hashlib
import math
from dataclasses import asdict, dataclass, field
from functools import reduce
from importlib import resources

import numpy as np
import pandas as pd

from ..errors import InputError
from ._synthetic import synthetic

__all__ = ["DatasetInfo", "dataset_info", "list_datasets", "load_dataset", "synthetic"]

OQMD8_ELEMENTS = ("Co", "Ni", "W", "Al", "Cr", "Fe", "Ti", "Cu")
OQMD8_SHA256 = "faa37a1ddb3c58af04e7389944fb51ea417e95237476269164b772cc08b9c024"


@dataclass(frozen=True)
class DatasetInfo:
    """What an embedded dataset is and which columns play which role."""

    name: str
    description: str
    file: str
    sha256: str
    group: str
    target: str
    id: str
    features: tuple[str, ...]
    provenance: str
    licence: str
    citation: tuple[str, ...] = field(default_factory=tuple)
    targets: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return asdict(self)


_OQMD8 = DatasetInfo(
    name="oqmd8",
    description=(
        "2,953 binary compounds of Co, Ni, W, Al, Cr, Fe, Ti and Cu from the Open Quantum "
        "Materials Database (the ET-AL paper's OQMD-8 set)."
    ),
    file="oqmd8_crystal_systems.csv.gz",
    sha256=OQMD8_SHA256,
    group="crystal_system",
    target="formation_energy_per_atom",
    id="id",
    features=tuple(f"frac_{el}" for el in OQMD8_ELEMENTS) + ("volume_per_atom", "natoms"),
    provenance=(
        "Published with the ET-AL authors' code (MIT licence); values from OQMD "
        "(oqmd.org). See OQMD8_PROVENANCE.md shipped beside the data."
    ),
    licence="CC BY 4.0 (OQMD data); MIT (ET-AL authors' compilation)",
    citation=(
        "H. Zhang, W. W. Chen, J. M. Rondinelli, W. Chen, Applied Physics Reviews 10, 021403 (2023), arXiv:2211.07881",
        "J. E. Saal et al., JOM 65, 1501 (2013)",
        "S. Kirklin et al., npj Comput. Mater. 1, 15010 (2015)",
    ),
    targets=("formation_energy_per_atom", "volume_per_atom"),
)

_REGISTRY: dict[str, DatasetInfo] = {"oqmd8": _OQMD8}


def list_datasets() -> list[str]:
    """Names of the embedded datasets."""
    return sorted(_REGISTRY)


def dataset_info(name: str) -> DatasetInfo:
    """Describe an embedded dataset; raises :class:`InputError` for unknown names."""
    key = str(name).lower()
    if key not in _REGISTRY:
        raise InputError(
            f"unknown dataset {name!r}; embedded datasets are: {', '.join(list_datasets())}"
        )
    return _REGISTRY[key]


def _raw_bytes(info: DatasetInfo) -> bytes:
    data = resources.files(__package__).joinpath("data", info.file).read_bytes()
    raw = gzip.decompress(data)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != info.sha256:  # a corrupted install must not give silently wrong science
        raise InputError(
            f"embedded file {info.file} is corrupted (SHA-256 {digest}, expected "
            f"{info.sha256}); reinstall etal"
        )
    return raw


def _formula(counts: np.ndarray, elements: tuple[str, ...]) -> str:
    ints = [int(round(c)) for c in counts]
    nonzero = [c for c in ints if c > 0]
    if not nonzero:
        return ""
    divisor = reduce(math.gcd, nonzero)
    parts = []
    for el, c in sorted(zip(elements, ints)):  # alphabetical element order
        if c > 0:
            k = c // divisor
            parts.append(el if k == 1 else f"{el}{k}")
    return "".join(parts)


def _load_oqmd8(info: DatasetInfo) -> pd.DataFrame:
    import io

    raw = pd.read_csv(io.BytesIO(_raw_bytes(info)), index_col=0)
    counts = raw[list(OQMD8_ELEMENTS)].to_numpy(dtype=float)
    total = counts.sum(axis=1)
    out = pd.DataFrame(
        {
            "id": raw.index.astype(int),
            "formula": [_formula(row, OQMD8_ELEMENTS) for row in counts],
            "crystal_system": raw["crystal_system"].astype(str).to_numpy(),
            "spacegroup": raw["structure"].astype(str).to_numpy(),
            "formation_energy_per_atom": raw["energy"].to_numpy(dtype=float),
            "volume_per_atom": raw["volume"].to_numpy(dtype=float) / raw["natoms"].to_numpy(dtype=float),
            "natoms": raw["natoms"].to_numpy(dtype=int),
            "bandgap": raw["bandgap"].to_numpy(dtype=float),
        }
    )
    for j, el in enumerate(OQMD8_ELEMENTS):
        out[f"frac_{el}"] = counts[:, j] / total
    out.attrs["etal"] = {
        "name": info.name,
        "group": info.group,
        "target": info.target,
        "id": info.id,
        "features": list(info.features),
        "sha256": info.sha256,
    }
    return out


def load_dataset(name: str = "oqmd8") -> pd.DataFrame:
    """Load an embedded dataset as a tidy DataFrame.

    For ``"oqmd8"``: columns ``id``, ``formula`` (reduced, alphabetical),
    ``crystal_system``, ``spacegroup`` (Hermann–Mauguin symbol),
    ``formation_energy_per_atom`` (eV/atom), ``volume_per_atom`` (Å^3/atom), ``natoms``,
    ``bandgap`` (eV; 2 rows missing) and the feature columns ``frac_<El>`` (atomic
    fractions). ``dataset_info(name).features`` lists the default features.
    """
    info = dataset_info(name)
    if info.name == "oqmd8":
        return _load_oqmd8(info)
    raise InputError(f"no loader for dataset {name!r}")  # pragma: no cover
