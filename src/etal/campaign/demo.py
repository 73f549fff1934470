"""Alloy structures on common prototypes over EMT's metals, and the end-to-end campaign demo.

:func:`alloy_pool` builds one row per structure: elements (fcc, bcc, hcp), binary A3B /
AB3 on L1₂ and D0₁₉, AB on B2, B1, L1₀ (also with c/a strained), L1₁ and B_h, over
Al, Cu, Ag, Au, Ni, Pd, Pt, at a few volume scales. Lattice constants follow Vegard's law
on ASE's tabulated fcc lattice constants (same volume per atom as the fcc mixture). The
crystal system comes from spglib (symprec 1e-3 Å); the features are the composition
fractions and the volume per atom (Å³/atom); the structure is CIF text.

:func:`run_demo` labels the pool with EMT (the truth, kept in ``inputs/truth.csv``),
makes a labelled start set biased on purpose (in the tetragonal and trigonal systems only
the most stable structures are labelled, so their formation energies span a narrow
band: low entropy), starts a campaign and lets ET-AL acquire labels with EMT as the
calculator. It prints the entropy per crystal system and the entropy gap before and
after, and checks every acquired label against the truth.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, require

__all__ = ["DEMO_METALS", "PROTOTYPES", "alloy_pool", "run_demo"]

#: EMT's metals (ASE's EMT parameters; all fcc in their ground state).
DEMO_METALS: tuple[str, ...] = ("Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt")
PROTOTYPES: tuple[str, ...] = ("fcc", "bcc", "hcp", "L1_2", "D0_19", "B2", "B1", "L1_0", "L1_1", "B_h")
_SQRT3 = math.sqrt(3.0)


def _volume_per_atom(symbols: Sequence[str]) -> float:
    """Vegard's law: mean fcc volume per atom (Å³) of the elements, by ASE's lattice constants."""
    from ase.data import atomic_numbers, reference_states

    return float(np.mean([reference_states[atomic_numbers[s]]["a"] ** 3 / 4.0 for s in symbols]))


def _atoms(symbols, cell, scaled):
    from ase import Atoms

    return Atoms(symbols=list(symbols), cell=np.asarray(cell, dtype=float), scaled_positions=scaled, pbc=True)


def _element(proto: str, a_el: str, v: float):
    from ase.build import bulk

    if proto == "fcc":
        return bulk(a_el, "fcc", a=(4 * v) ** (1 / 3))
    if proto == "bcc":
        return bulk(a_el, "bcc", a=(2 * v) ** (1 / 3))
    a = (2 * v / (math.sqrt(8 / 3) * _SQRT3 / 2)) ** (1 / 3)  # ideal c/a
    return bulk(a_el, "hcp", a=a, c=a * math.sqrt(8 / 3))


def _binary(proto: str, a_el: str, b_el: str, v: float, ca: float = 1.0):
    """One binary prototype with volume per atom ``v`` (Å³); ``ca`` strains L1_0's c axis."""
    if proto == "L1_2":  # A3B, Cu3Au type, Pm-3m
        a = (4 * v) ** (1 / 3)
        return _atoms([b_el, a_el, a_el, a_el], np.eye(3) * a, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    if proto == "B2":  # CsCl type, Pm-3m
        a = (2 * v) ** (1 / 3)
        return _atoms([a_el, b_el], np.eye(3) * a, [[0, 0, 0], [0.5, 0.5, 0.5]])
    if proto == "B1":  # NaCl type, Fm-3m (primitive cell)
        a = (8 * v) ** (1 / 3)
        cell = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
        return _atoms([a_el, b_el], cell, [[0, 0, 0], [0.5, 0.5, 0.5]])
    if proto == "L1_0":  # CuAu type, P4/mmm; c/a of the fcc parent times ``ca``
        a_fcc = (4 * v / ca) ** (1 / 3)
        at = a_fcc / math.sqrt(2)
        return _atoms([a_el, b_el], np.diag([at, at, a_fcc * ca]), [[0, 0, 0], [0.5, 0.5, 0.5]])
    if proto == "L1_1":  # CuPt type, R-3m: alternating fcc (111) planes
        a = (4 * v) ** (1 / 3)
        cell = a * np.array([[0.5, 0.5, 1.0], [0.5, 1.0, 0.5], [1.0, 0.5, 0.5]])
        frac = np.linalg.solve(cell.T, np.array([0.0, 0.5 * a, 0.5 * a]))
        return _atoms([a_el, b_el], cell, [[0, 0, 0], frac])
    if proto == "B_h":  # WC type, P-6m2, c = a
        a = (4 * v / _SQRT3) ** (1 / 3)
        cell = [[a, 0, 0], [-a / 2, a * _SQRT3 / 2, 0], [0, 0, a]]
        return _atoms([a_el, b_el], cell, [[0, 0, 0], [1 / 3, 2 / 3, 0.5]])
    if proto == "D0_19":  # A3B, Ni3Sn type, P6_3/mmc: 2x2 hcp, one B per layer
        a = (2 * v / (math.sqrt(8 / 3) * _SQRT3 / 2)) ** (1 / 3)
        cell = [[2 * a, 0, 0], [-a, a * _SQRT3, 0], [0, 0, a * math.sqrt(8 / 3)]]
        pos, sym = [], []
        for layer, (x0, y0) in enumerate(((1 / 3, 2 / 3), (2 / 3, 1 / 3))):  # hcp sites
            for i, j in itertools.product((0, 1), (0, 1)):
                pos.append([(x0 + i) / 2, (y0 + j) / 2, 0.25 + 0.5 * layer])
                # B on the 2c sites (1/3, 2/3, 3/4) and (2/3, 1/3, 1/4) of the supercell
                sym.append(b_el if (i, j) == ((1, 0), (0, 1))[layer] else a_el)
        return _atoms(sym, cell, pos)
    raise ValueError(proto)


def _cif_text(atoms) -> str:
    import ase.io

    buf = io.BytesIO()
    ase.io.write(buf, atoms, format="cif")
    return buf.getvalue().decode()


def _symmetry(atoms) -> tuple[str, int]:
    import spglib

    from ..materials.structures import crystal_system_from_spacegroup

    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's notice about its error handling
        data = spglib.get_symmetry_dataset(cell, symprec=1e-3)
    return crystal_system_from_spacegroup(int(data.number)), int(data.number)


def alloy_pool(
    metals: Sequence[str] = DEMO_METALS,
    *,
    prototypes: Sequence[str] = PROTOTYPES,
    scales: Sequence[float] = (0.96, 1.0, 1.04),
    l10_ca: Sequence[float] = (0.9, 1.0, 1.1),
) -> pd.DataFrame:
    """One row per generated structure: id, formula, prototype, crystal_system, spacegroup,
    frac_<metal> for each metal, volume_per_atom (Å³/atom), n_atoms and structure (CIF text).

    ``scales`` multiply the Vegard volume per atom; ``l10_ca`` strains L1₀'s c axis.
    """
    require("ase", "materials", "Generating alloy structures")
    require("spglib", "materials", "Generating alloy structures")
    rows = []

    def add(atoms, proto: str, tag: str) -> None:
        system, number = _symmetry(atoms)
        symbols = atoms.get_chemical_symbols()
        row = {
            "id": f"{proto}-{atoms.get_chemical_formula(mode='metal')}-{tag}",
            "formula": atoms.get_chemical_formula(mode="metal", empirical=True),
            "prototype": proto,
            "crystal_system": system,
            "spacegroup": number,
        }
        row.update({f"frac_{m}": symbols.count(m) / len(symbols) for m in metals})
        row.update(
            {"volume_per_atom": atoms.get_volume() / len(atoms), "n_atoms": len(atoms), "structure": _cif_text(atoms)}
        )
        rows.append(row)

    for s in scales:
        tag = f"v{s:.2f}"
        for el in metals:
            for proto in ("fcc", "bcc", "hcp"):
                if proto in prototypes:
                    add(_element(proto, el, _volume_per_atom([el]) * s), proto, tag)
        for a_el, b_el in itertools.combinations(metals, 2):
            for proto in prototypes:
                if proto in ("fcc", "bcc", "hcp"):
                    continue
                if proto in ("L1_2", "D0_19"):  # A3B and AB3
                    for major, minor in ((a_el, b_el), (b_el, a_el)):
                        v = _volume_per_atom([major] * 3 + [minor]) * s
                        add(_binary(proto, major, minor, v), proto, tag)
                elif proto == "L1_0":
                    for ca in l10_ca:
                        add(
                            _binary(proto, a_el, b_el, _volume_per_atom([a_el, b_el]) * s, ca),
                            proto,
                            f"{tag}-ca{ca:.2f}",
                        )
                else:
                    add(_binary(proto, a_el, b_el, _volume_per_atom([a_el, b_el]) * s), proto, tag)
    frame = pd.DataFrame(rows)
    if frame["id"].duplicated().any():  # pragma: no cover - a generator bug, not user input
        raise AssertionError(f"duplicate ids {frame['id'][frame['id'].duplicated()].tolist()[:5]}")
    return frame


def biased_start(truth: pd.DataFrame, *, depleted: Sequence[str] = ("tetragonal", "trigonal"), fraction: float = 0.25,
                 seed: int = 0) -> np.ndarray:  # fmt: skip
    """Boolean mask of the labelled start rows: ``fraction`` of every crystal system at
    random, except in ``depleted`` systems, drawn only from their most stable 40 %."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(truth), dtype=bool)
    energy = truth["formation_energy_per_atom"].to_numpy()
    for system, idx in truth.groupby("crystal_system").indices.items():
        n = max(6, round(fraction * len(idx)))
        if system in depleted:
            idx = idx[energy[idx] <= np.quantile(energy[idx], 0.4)]
        mask[rng.choice(idx, size=min(n, len(idx)), replace=False)] = True
    return mask


def run_demo(
    out: str | os.PathLike,
    *,
    budget: int = 40,
    workers: int = 1,
    seed: int = 0,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> dict:
    """Generate the pool, label it with EMT, bias the start set, run the campaign; returns a summary."""
    from ..bias.scores import entropy_gap
    from ..provenance import atomic_write_text
    from .calculators.emt import EMTCalculator
    from .campaign import Campaign
    from .store import DB_NAME

    out = Path(out)
    if (out / DB_NAME).exists():
        raise InputError(f"{out}: a campaign exists there already; give the demo a new folder.")
    pool = alloy_pool()
    calc = EMTCalculator(workdir=out / "work")
    (out / "work").mkdir(parents=True, exist_ok=True)
    iterator = pool.itertuples()
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, total=len(pool), desc="EMT labels of the generated pool", unit="structure")
    truth = pool.drop(columns=["structure"]).copy()
    truth["formation_energy_per_atom"] = [calc.calculate(r.structure, r.id) for r in iterator]
    atomic_write_text(out / "inputs" / "truth.csv", truth.to_csv(index=False))
    start = biased_start(truth, seed=seed)
    table = pool.copy()
    table["formation_energy_per_atom"] = np.where(start, truth["formation_energy_per_atom"], np.nan)
    atomic_write_text(out / "inputs" / "alloys.csv", table.to_csv(index=False))
    echo(
        f"generated {len(pool)} alloy structures on {pool['prototype'].nunique()} prototypes over "
        f"{', '.join(DEMO_METALS)}; {int(start.sum())} labelled at the start (biased: tetragonal and trigonal "
        f"only their most stable structures), {int((~start).sum())} in the pool"
    )
    campaign = Campaign.init(
        out,
        out / "inputs" / "alloys.csv",
        group_col="crystal_system",
        target_col="formation_energy_per_atom",
        id_col="id",
        feature_cols=[c for c in pool.columns if c.startswith("frac_")] + ["volume_per_atom"],
        structure_col="structure",
        seed=seed,
    )
    summary = campaign.run("emt", budget, workers=workers, progress=progress)
    status = campaign.status()
    labelled = campaign.labelled()
    acquired = labelled[labelled["acquired"].notna()]
    true = truth.set_index("id")["formation_energy_per_atom"]
    diff = (
        float(np.max(np.abs(acquired["formation_energy_per_atom"].to_numpy() - true.loc[acquired["id"]].to_numpy())))
        if len(acquired)
        else 0.0
    )
    full = {g: v for g, v in truth.groupby("crystal_system")["formation_energy_per_atom"].apply(list).items()}
    from ..entropy import estimate_entropy

    rows = []
    for g in status["groups"]:
        picked = int((acquired["crystal_system"] == g["group"]).sum())
        rows.append(
            f"  {g['group']:<12} {g['n_start']:>5} {_f(g['entropy_start']):>9}   {g['n_now']:>5} {_f(g['entropy_now']):>9}"
            f"   {picked:>6}   {_f(estimate_entropy(full[g['group']]).entropy):>9}"
        )
    echo("entropy of the formation energy per crystal system (nats):")
    echo(f"  {'system':<12} {'n':>5} {'before':>9}   {'n':>5} {'after':>9}   {'picked':>6}   {'all rows':>9}")
    for line in rows:
        echo(line)
    echo(
        f"entropy gap: {_f(status['entropy_gap_start'])} nats before, {_f(status['entropy_gap_now'])} nats after "
        f"{summary.acquired_after} EMT labels (all rows: "
        f"{_f(entropy_gap({g: estimate_entropy(v).entropy for g, v in full.items()}))} nats); stopped: {summary.stop_reason}"
    )
    echo(f"every acquired label matches the independent EMT truth (max |difference| {diff:.2e} eV/atom)")
    echo(f"campaign folder: {out} (etal campaign status {out})")
    return {"summary": summary, "status": status, "max_abs_difference": diff, "n_rows": len(pool)}


def _f(x) -> str:
    return "NA" if x is None or not np.isfinite(x) else f"{x:.3f}"
