"""Materials ecosystem of etal: crystal structures in, tidy tables out.

* :mod:`~etal.materials.structures`: read CIF folders / files, ASE databases, extxyz files
  and pymatgen / ASE objects; crystal system and space group by spglib
  (:func:`symmetry_info`), or from a space-group number alone
  (:func:`crystal_system_from_spacegroup`, pure Python).
* :mod:`~etal.materials.descriptors`: composition descriptors (matminer Magpie, or a
  built-in fallback), structure descriptors, user embeddings (``emb_*`` columns).
* :mod:`~etal.materials.featurize`: structures or fetched tables -> one row per material
  (what ``etal featurize`` runs).
* :mod:`~etal.materials.fetch`: JARVIS-DFT, Materials Project and OPTIMADE loaders with an
  on-disk cache (what ``etal fetch`` runs).

Everything here imports without the optional packages; functions that need pymatgen /
spglib / ase (``pip install 'etal[materials]'``) or matminer / jarvis-tools / mp-api
(``pip install 'etal[materials-full]'``) raise :class:`etal.errors.MissingExtraError`
naming the extra when they are missing.
"""

from __future__ import annotations

from .descriptors import (
    DESCRIPTOR_KINDS,
    STRUCTURE_DESCRIPTORS,
    composition_descriptors,
    embedding_frame,
    embeddings_from_npy,
    embeddings_from_values,
    structure_descriptors,
)
from .element_data import PAPER_EXCLUDED_ELEMENTS, parse_formula
from .featurize import FeaturizeResult, featurize_any, featurize_path, featurize_structures, featurize_table
from .fetch import fetch_jarvis, fetch_mp, fetch_optimade
from .structures import (
    CRYSTAL_SYSTEMS,
    ReadReport,
    SkippedEntry,
    StructureRecord,
    SymmetryInfo,
    crystal_system_from_spacegroup,
    from_structures,
    read_structures,
    symmetry_info,
)

__all__ = [
    "CRYSTAL_SYSTEMS",
    "DESCRIPTOR_KINDS",
    "PAPER_EXCLUDED_ELEMENTS",
    "STRUCTURE_DESCRIPTORS",
    "FeaturizeResult",
    "ReadReport",
    "SkippedEntry",
    "StructureRecord",
    "SymmetryInfo",
    "composition_descriptors",
    "crystal_system_from_spacegroup",
    "embedding_frame",
    "embeddings_from_npy",
    "embeddings_from_values",
    "featurize_any",
    "featurize_path",
    "featurize_structures",
    "featurize_table",
    "fetch_jarvis",
    "fetch_mp",
    "fetch_optimade",
    "from_structures",
    "parse_formula",
    "read_structures",
    "structure_descriptors",
    "symmetry_info",
]
