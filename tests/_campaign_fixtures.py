"""Shared helpers of the campaign tests: small tables, an independent EMT, CLI subprocesses."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SRC = str(Path(__file__).resolve().parents[1] / "src")


def env(**extra: str) -> dict:
    """The environment for an ``etal`` subprocess: this checkout's code first."""
    out = dict(os.environ)
    out["PYTHONPATH"] = SRC + os.pathsep + out.get("PYTHONPATH", "")
    out["MPLBACKEND"] = "Agg"
    out.update(extra)
    return out


def etal_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "etal", *map(str, args)]


def run_cli(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(etal_cmd(*args), env=env(), capture_output=True, text=True, timeout=120, check=False, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"etal {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def grouped_table(n_per_group=(30, 30), n_labelled=(12, 12), *, seed: int = 0, ids=None) -> pd.DataFrame:
    """A table (id, grp, x0, x1, y) with NaN targets for the pool rows."""
    rng = np.random.default_rng(seed)
    frames = []
    for g, (n, m) in enumerate(zip(n_per_group, n_labelled)):
        x = rng.uniform(0, 1, (n, 2))
        y = (g + 1) * (np.sin(4 * x[:, 0]) + x[:, 1]) + 0.05 * rng.normal(size=n)
        y[m:] = np.nan
        frames.append(pd.DataFrame({"grp": f"g{g}", "x0": x[:, 0], "x1": x[:, 1], "y": y}))
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))] if ids is None else ids)
    return frame


def independent_emt(cif_text: str) -> float:
    """Formation energy per atom (eV/atom) by ASE's EMT, written here without etal's code:
    single point of the structure against single points of the elements on ASE's lattices."""
    import ase.io
    from ase.build import bulk
    from ase.calculators.emt import EMT

    atoms = ase.io.read(io.StringIO(cif_text), format="cif")
    atoms.calc = EMT()
    total = atoms.get_potential_energy()
    ref = 0.0
    for symbol in atoms.get_chemical_symbols():
        element = bulk(symbol)
        element.calc = EMT()
        ref += element.get_potential_energy() / len(element)
    return (total - ref) / len(atoms)


def alloy_table(tmp_path: Path, *, metals=("Cu", "Au", "Ni"), labelled_fraction: float = 0.5, seed: int = 0):
    """(csv path, truth by id): generated alloys, half of each crystal system labelled by EMT."""
    from etal.campaign.demo import alloy_pool

    pool = alloy_pool(metals, scales=(0.98, 1.02), l10_ca=(1.0,))
    truth = pd.Series([independent_emt(s) for s in pool["structure"]], index=pool["id"])
    rng = np.random.default_rng(seed)
    target = np.full(len(pool), np.nan)
    for idx in pool.groupby("crystal_system").indices.values():
        keep = rng.choice(idx, size=max(5, int(labelled_fraction * len(idx))), replace=False)
        target[keep] = truth.to_numpy()[keep]
    pool["formation_energy_per_atom"] = target
    path = tmp_path / "alloys.csv"
    pool.to_csv(path, index=False)
    return path, truth


def init_alloys(tmp_path: Path, folder: Path, **kw):
    path, truth = alloy_table(tmp_path, **kw)
    run_cli(
        "campaign", "init", folder, path, "--group-col", "crystal_system", "--target-col",
        "formation_energy_per_atom", "--id-col", "id", "--feature-cols", "frac_*,volume_per_atom",
        "--structure-col", "structure",
    )  # fmt: skip
    return path, truth


def db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(Path(folder) / "campaign.sqlite")


def check_consistent(folder: Path) -> dict:
    """Assert the store's invariants; returns counts."""
    con = db(folder)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_labels, n_distinct = con.execute("SELECT COUNT(*), COUNT(DISTINCT rid) FROM labels").fetchone()
        assert n_labels == n_distinct  # no row labelled twice
        acquired = [
            a for (a,) in con.execute("SELECT acquired FROM labels WHERE acquired IS NOT NULL ORDER BY acquired")
        ]
        assert acquired == list(range(1, len(acquired) + 1))
        # one entropy row per acquisition, for the acquired row's group
        log = con.execute("SELECT COUNT(*) FROM entropies WHERE acquired > 0").fetchone()[0]
        assert log == len(acquired)
        # a done suggestion has a label; a labelled row is never pending/running
        assert (
            con.execute(
                "SELECT COUNT(*) FROM suggestions s LEFT JOIN labels l ON l.rid = s.rid WHERE s.state = 'done' AND l.rid IS NULL"
            ).fetchone()[0]
            == 0
        )
        assert (
            con.execute(
                "SELECT COUNT(*) FROM suggestions s JOIN labels l ON l.rid = s.rid WHERE s.state IN ('pending', 'running')"
            ).fetchone()[0]
            == 0
        )
        states = dict(con.execute("SELECT state, COUNT(*) FROM suggestions GROUP BY state"))
    finally:
        con.close()
    return {"acquired": len(acquired), "labels": n_labels, **states}


def acquired_labels(folder: Path) -> dict[str, float]:
    con = db(folder)
    try:
        return dict(
            con.execute("SELECT r.id, l.value FROM labels l JOIN rows r ON r.rid = l.rid WHERE l.acquired IS NOT NULL")
        )
    finally:
        con.close()
