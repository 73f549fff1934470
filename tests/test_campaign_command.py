"""The ``command:`` calculator: values from stdout, failures recorded and retried, timeouts,
garbage, and row ids that are only text (no shell)."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest
from _campaign_fixtures import check_consistent, grouped_table

from etal.campaign import CalculationError, Campaign, make_calculator
from etal.campaign.calculators.command import parse_value
from etal.errors import InputError

# A user's script: behaviour by the id's prefix; counts attempts per row in a folder.
SCRIPT = r"""
import hashlib, json, sys, time
from pathlib import Path
row_id, log = sys.argv[1], Path(sys.argv[2])
log.mkdir(exist_ok=True)
mark = log / hashlib.sha256(row_id.encode()).hexdigest()
attempt = int(mark.read_text()) + 1 if mark.exists() else 1
mark.write_text(str(attempt))
kind = row_id.split("-")[0]
if kind == "ok":
    print("some chatter first")
    print(json.dumps({"value": 0.5 + len(row_id) / 100}))
elif kind == "flaky":
    if attempt == 1:
        print("boom: SCF did not converge", file=sys.stderr); sys.exit(3)
    if attempt == 2:
        print("garbage, not a number")
    else:
        print(1.25)
elif kind == "hang":
    print("still running", file=sys.stderr, flush=True)
    time.sleep(30)
"""


def _campaign(tmp_path, ids, *, seed=0):
    n = len(ids)
    table = grouped_table((n + 6,), (6,), ids=[f"lab-{i}" for i in range(6)] + list(ids), seed=seed)
    c = Campaign.init(tmp_path / "camp", table, group_col="grp", target_col="y", id_col="id", feature_cols=["x0", "x1"],
                      strategy="random", patience=None)  # fmt: skip
    script = tmp_path / "calc.py"
    script.write_text(SCRIPT)
    return c, script


def test_failures_timeouts_and_garbage_are_recorded_retried_and_never_stop_the_campaign(tmp_path):
    ids = ["ok-1", "ok-22", "flaky-1", "flaky-22", "hang-1"]
    c, script = _campaign(tmp_path, ids)
    log = tmp_path / "attempts"
    template = f"command:{sys.executable} {script} {{id}} {log}"
    summary = c.run(template, budget=10, max_attempts=3, progress=False, calculator_options={"timeout": 1.0})
    # every labelable row got its label; the hanging row failed for good; the run went on
    assert summary.acquired_after == 4
    assert summary.stop_reason == "pool exhausted"
    assert summary.failed_rows == ["hang-1"]
    labels = c.labelled().set_index("id")["y"]
    assert labels["ok-1"] == pytest.approx(0.54) and labels["ok-22"] == pytest.approx(0.55)
    assert labels["flaky-1"] == 1.25 and labels["flaky-22"] == 1.25
    st = c.suggestions(("failed", "done")).set_index("id")
    assert st.loc["hang-1", "state"] == "failed" and st.loc["hang-1", "attempts"] == 3
    assert "timed out after 1 s" in st.loc["hang-1", "error"] and "still running" in st.loc["hang-1", "error"]
    assert st.loc["flaky-1", "state"] == "done" and st.loc["flaky-1", "attempts"] == 3
    failures = c.store.conn.execute(
        "SELECT r.id, f.attempt, f.error FROM failures f JOIN rows r ON r.rid = f.rid ORDER BY f.rowid"
    ).fetchall()
    by_row = {}
    for row_id, attempt, error in failures:
        by_row.setdefault(row_id, []).append((attempt, error))
    assert [a for a, _ in by_row["flaky-1"]] == [1, 2]
    assert "exit status 3" in by_row["flaky-1"][0][1] and "SCF did not converge" in by_row["flaky-1"][0][1]
    assert "not a number" in by_row["flaky-1"][1][1] and "garbage" in by_row["flaky-1"][1][1]
    assert [a for a, _ in by_row["hang-1"]] == [1, 2, 3]
    # the script really ran three times for the retried rows
    assert (log / hashlib.sha256(b"flaky-22").hexdigest()).read_text() == "3"
    check_consistent(c.folder)
    status = c.status(figure=False)
    assert status["failed"] == 1 and status["running"] == 0 and status["last_failures"]


def test_row_ids_are_plain_text_never_shell(tmp_path, monkeypatch):
    evil = ["x; rm -rf ~", "$(reboot)", "`touch PWNED`", "a b 'c\" {structure}", "ok; touch PWNED"]
    table = grouped_table((len(evil) + 6,), (6,), ids=[f"lab-{i}" for i in range(6)] + evil)
    c = Campaign.init(tmp_path / "camp", table, group_col="grp", target_col="y", id_col="id", feature_cols=["x0", "x1"],
                      strategy="random", patience=None)  # fmt: skip
    echo = tmp_path / "echo.py"
    out = tmp_path / "argv"
    out.mkdir()
    echo.write_text(
        "import hashlib, json, sys\n"
        "from pathlib import Path\n"
        f"out = Path({str(out)!r})\n"
        "(out / hashlib.sha256(sys.argv[1].encode()).hexdigest()).write_text(json.dumps(sys.argv[1:]))\n"
        "print(len(sys.argv))\n"
    )
    monkeypatch.chdir(tmp_path)
    summary = c.run(f"command:{sys.executable} {echo} {{id}} 'tag={{id}}'", budget=len(evil), progress=False)
    assert summary.acquired_after == len(evil)
    for row_id in evil:
        argv = json.loads((out / hashlib.sha256(row_id.encode()).hexdigest()).read_text())
        assert argv == [row_id, f"tag={row_id}"]  # two arguments, the id's text verbatim
    assert not (tmp_path / "PWNED").exists()
    assert (c.labelled().set_index("id").loc[evil, "y"] == 3).all()  # argv = [script, id, tag]


def test_command_template_is_split_once_and_placeholders_replaced_inside_arguments(tmp_path):
    calc = make_calculator("command:prog --in={structure} 'two words {id}' plain", workdir=tmp_path)
    assert calc.arguments("/p/s.cif", "a b") == ["prog", "--in=/p/s.cif", "two words a b", "plain"]
    # a structure path that itself contains '{id}' is not substituted again
    assert calc.arguments("/x/{id}.cif", "Z") == ["prog", "--in=/x/{id}.cif", "two words Z", "plain"]
    with pytest.raises(InputError, match="command after the colon"):
        make_calculator("command:")
    with pytest.raises(InputError, match="cannot be split"):
        make_calculator("command:prog 'unclosed")
    with pytest.raises(InputError, match="unknown calculator"):
        make_calculator("vasp")
    with pytest.raises(InputError, match="takes no option"):
        make_calculator("command:prog", relax="full")


@pytest.mark.parametrize(
    "stdout, value",
    [("1.5\n", 1.5), ("log line\n-2e-3\n\n", -0.002), ('{"value": 3, "unit": "eV/atom"}\n', 3.0)],
)
def test_parse_value_reads_the_last_line(stdout, value):
    assert parse_value(stdout) == value


@pytest.mark.parametrize("stdout", ["", "done\n", "nan\n", "inf\n", '{"energy": 1}\n', "[1]\n"])
def test_parse_value_rejects_garbage(stdout):
    with pytest.raises(CalculationError):
        parse_value(stdout)


def test_missing_program_and_structure_file_from_cif_text(tmp_path):
    calc = make_calculator("command:/no/such/program {structure}", workdir=tmp_path)
    with pytest.raises(CalculationError, match="no structure"):
        calc.calculate(None, "r1")
    cif = "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nCu1 Cu 0 0 0\n"
    with pytest.raises(CalculationError, match="cannot start"):
        calc.calculate(cif, "../../etc/passwd")
    written = list((tmp_path / "structures").glob("row-*.cif"))
    assert len(written) == 1 and written[0].read_text() == cif  # named by a hash, never by the id
    cat = make_calculator(
        f'command:{sys.executable} -c "import sys, ase.io; print(len(ase.io.read(sys.argv[1])))" {{structure}}',
        workdir=tmp_path,
    )
    assert cat.calculate(cif, "r2") == 1.0


def test_ctrl_c_gives_running_rows_back(tmp_path):
    import signal
    import sqlite3
    import subprocess
    import time

    from _campaign_fixtures import env, etal_cmd

    c, _ = _campaign(tmp_path, ["ok-1", "ok-2"])
    c.close()
    proc = subprocess.Popen(
        etal_cmd(
            "campaign",
            "run",
            tmp_path / "camp",
            "--calculator",
            f"command:{sys.executable} -c 'import time; time.sleep(60)'",
            "--budget",
            "1",
            "--no-progress",
        ),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    con = sqlite3.connect(tmp_path / "camp" / "campaign.sqlite")
    deadline = time.time() + 60
    while (
        time.time() < deadline
        and not con.execute("SELECT COUNT(*) FROM suggestions WHERE state = 'running'").fetchone()[0]
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert con.execute("SELECT state, attempts, owner FROM suggestions").fetchall() == [("pending", 0, None)]
    con.close()
