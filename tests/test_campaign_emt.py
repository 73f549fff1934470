"""Campaigns with the EMT calculator in the loop: SIGKILL mid-calculation and resume,
ingest from a second process while ``run`` goes, worker processes, and the EMT values
against an independent ASE computation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from _campaign_fixtures import (
    acquired_labels,
    check_consistent,
    db,
    env,
    etal_cmd,
    independent_emt,
    init_alloys,
    run_cli,
)

pytest.importorskip("ase")
pytest.importorskip("spglib")
pytestmark = pytest.mark.materials

# Runs `etal campaign run` (the CLI's own main) with ASE's EMT patched to SIGKILL this
# process at its N-th energy evaluation: the kill lands inside a calculation.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import ase.calculators.emt as emt
    calls = [0]
    kill_at = int(os.environ["KILL_AT_EMT_CALL"])
    original = emt.EMT.calculate
    def calculate(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args, **kwargs)
    emt.EMT.calculate = calculate
    from etal.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def _killed_run(folder, budget, kill_at):
    return subprocess.run(
        [
            sys.executable,
            "-c",
            KILLER,
            "campaign",
            "run",
            str(folder),
            "--calculator",
            "emt",
            "--budget",
            str(budget),
            "--no-progress",
        ],
        env=env(KILL_AT_EMT_CALL=str(kill_at)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sigkill_mid_calculation_then_resume_labels_match_independent_emt(tmp_path):
    folder = tmp_path / "camp"
    _, truth = init_alloys(tmp_path, folder)
    budget = 6
    # EMT calls: 1 per structure plus 1 per new element reference, so call 6 is inside
    # the 3rd-5th row; the second kill lands in the first calculation after resuming.
    first = _killed_run(folder, budget, kill_at=6)
    assert first.returncode == -9, first.stderr
    con = db(folder)
    running = con.execute("SELECT rid, owner, attempts FROM suggestions WHERE state = 'running'").fetchall()
    n_first = con.execute("SELECT COUNT(*) FROM labels WHERE acquired IS NOT NULL").fetchone()[0]
    con.close()
    assert len(running) == 1 and running[0][2] == 1  # killed inside a calculation
    assert 1 <= n_first < budget

    second = _killed_run(folder, budget, kill_at=1)
    assert second.returncode == -9
    resumed = run_cli("campaign", "run", folder, "--calculator", "emt", "--budget", budget, "--no-progress")
    assert "interrupted row(s) resumed" in resumed.stdout
    counts = check_consistent(folder)
    assert counts["acquired"] == budget
    assert counts.get("running", 0) == 0 and counts.get("pending", 0) == 0
    labels = acquired_labels(folder)
    assert len(labels) == budget
    for row_id, value in labels.items():
        assert value == pytest.approx(truth[row_id], abs=1e-9), row_id
    # the row killed first was resumed and counted the killed attempt
    con = db(folder)
    attempts = con.execute("SELECT attempts FROM suggestions WHERE rid = ?", (running[0][0],)).fetchone()[0]
    con.close()
    assert attempts >= 2
    # the same command again is a no-op
    again = run_cli("campaign", "run", folder, "--calculator", "emt", "--budget", budget, "--no-progress")
    assert "0 new label(s)" in again.stdout and check_consistent(folder)["acquired"] == budget


def test_ingest_from_a_second_process_while_run_goes(tmp_path):
    folder = tmp_path / "camp"
    _, truth = init_alloys(tmp_path, folder)
    budget = 12
    runner = subprocess.Popen(
        etal_cmd("campaign", "run", folder, "--calculator", "emt", "--budget", budget, "--no-progress"),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            con = db(folder)
            n = con.execute("SELECT COUNT(*) FROM labels WHERE acquired IS NOT NULL").fetchone()[0]
            con.close()
            if n >= 2:
                break
            time.sleep(0.05)
        con = db(folder)
        busy = [r for (r,) in con.execute(
            "SELECT r.id FROM suggestions s JOIN rows r ON r.rid = s.rid WHERE s.state IN ('pending', 'running', 'done')"
        )]  # fmt: skip
        free = [r for (r,) in con.execute(
            "SELECT r.id FROM rows r WHERE r.rid NOT IN (SELECT rid FROM labels) AND r.rid NOT IN (SELECT rid FROM suggestions) LIMIT 3"
        )]  # fmt: skip
        con.close()
        ids = busy + free
        results = tmp_path / "results.csv"
        results.write_text("id,value\n" + "".join(f"{i},{float(truth[i])!r}\n" for i in ids))
        ingest = run_cli("campaign", "ingest", folder, results)
        assert "ingested" in ingest.stdout
        _, err = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, err
    counts = check_consistent(folder)
    assert counts["acquired"] >= budget
    assert counts.get("running", 0) == 0
    labels = acquired_labels(folder)
    for i in free:
        assert i in labels
    for row_id, value in labels.items():
        assert value == pytest.approx(truth[row_id], abs=1e-9), row_id


def test_workers_pool_and_emt_settings_recorded(tmp_path):
    folder = tmp_path / "camp"
    _, truth = init_alloys(tmp_path, folder)
    from etal.campaign import Campaign

    c = Campaign(folder)
    summary = c.run("emt", 4, workers=2, progress=False)
    assert summary.acquired_after == 4 and summary.stop_reason.startswith("budget reached")
    check_consistent(folder)
    table = c.labelled()
    acquired = table[table["acquired"].notna()]
    assert len(acquired) == 4
    assert (acquired["source"] == "calculator:emt").all()
    for row_id, value in zip(acquired["id"], acquired["formation_energy_per_atom"]):
        assert value == pytest.approx(truth[row_id], abs=1e-9)
    import json

    settings = json.loads(acquired["calculator"].iloc[0])
    assert settings["name"] == "emt" and settings["relax"] == "none"
    assert set(settings["references_eV_per_atom"]) <= {"Cu", "Au", "Ni"}
    # the reference cache is in the campaign folder
    assert list((folder / "work").glob("references-emt-*.json"))
    c.close()


def test_emt_relaxation_lowers_the_energy_and_references_follow(tmp_path):
    from ase.build import bulk

    from etal.campaign.calculators import make_calculator
    from etal.campaign.demo import _binary, _cif_text, _volume_per_atom

    atoms = _binary("L1_0", "Cu", "Au", _volume_per_atom(["Cu", "Au"]), ca=1.1)
    cif = _cif_text(atoms)
    plain = make_calculator("emt", workdir=tmp_path)
    relaxed = make_calculator("emt", workdir=tmp_path, relax="full", fmax=0.05, steps=100)
    assert plain.calculate(cif, "x") == pytest.approx(independent_emt(cif), abs=1e-9)
    # relaxing the compound and the references the same way: the reference of an fcc metal
    # is then its EMT equilibrium, below the single point at ASE's tabulated lattice
    e_relaxed = relaxed.calculate(cif, "x")
    assert np.isfinite(e_relaxed)
    for el in ("Cu", "Au"):
        assert relaxed.reference_energy(el) <= plain.reference_energy(el) + 1e-9
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    cu = bulk("Cu")
    cu.calc = EMT()
    BFGS(FrechetCellFilter(cu), logfile=None).run(fmax=0.05, steps=100)
    assert relaxed.reference_energy("Cu") == pytest.approx(cu.get_potential_energy() / len(cu), abs=1e-6)
    # an element EMT does not cover is a recorded calculation error, not a crash
    from etal.campaign.calculators import CalculationError

    fe = _cif_text(bulk("Fe"))
    with pytest.raises(CalculationError, match="no parameters"):
        plain.calculate(fe, "fe")


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    """kill -9 wherever it lands (engine, transaction, calculation), three times, then resume."""
    folder = tmp_path / "camp"
    _, truth = init_alloys(tmp_path, folder)
    budget = 8
    rng = np.random.default_rng(7)
    for _ in range(3):
        proc = subprocess.Popen(
            etal_cmd("campaign", "run", folder, "--calculator", "emt", "--budget", budget, "--no-progress"),
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(float(rng.uniform(1.0, 4.0)))
        proc.kill()
        proc.wait()
        check_consistent(folder)  # consistent after every kill, whatever it interrupted
    run_cli("campaign", "run", folder, "--calculator", "emt", "--budget", budget, "--no-progress")
    counts = check_consistent(folder)
    assert counts["acquired"] == budget and counts.get("running", 0) == 0
    for row_id, value in acquired_labels(folder).items():
        assert value == pytest.approx(truth[row_id], abs=1e-9), row_id
