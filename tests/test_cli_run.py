"""`etal run`: the default retrospective run, user tables with a pool, suggestions, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etal.cli import main

DEPLETED = ("orthorhombic", "tetragonal", "trigonal")
OUTPUTS = (
    "history.csv", "selected.csv", "entropies.csv", "entropy_status.csv", "split_summary.csv",
    "labelled_final.csv", "manifest.json", "entropy_evolution.png", "entropy_evolution.svg",
)  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Small GP matrices: threaded BLAS only adds overhead on a busy CI machine (and the
    # SIGKILL test compares with a subprocess that runs with one thread too).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    code = main(["run", "--budget", "12", "--no-progress", "--out", str(out)])
    return code, out


def test_default_run_writes_everything_and_raises_depleted_entropies(default_run, capsys):
    code, out = default_run
    assert code == 0
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    entropies = pd.read_csv(out / "entropies.csv").set_index("iteration")
    assert list(entropies.index) == list(range(13))
    before, after = entropies.iloc[0], entropies.iloc[-1]
    # the depleted groups are the least diverse at the start, and ET-AL raises them
    assert set(before.nsmallest(3).index) <= set(DEPLETED) | {"monoclinic"}
    assert after[list(DEPLETED)].mean() > before[list(DEPLETED)].mean() + 0.05
    assert after[list(DEPLETED)].min() > before[list(DEPLETED)].min()
    # the groups nobody targeted keep their entropy
    history = pd.read_csv(out / "history.csv")
    untouched = set(entropies.columns) - set(history["group"])
    for g in untouched:
        assert after[g] == before[g] or (np.isnan(after[g]) and np.isnan(before[g]))
    selected = pd.read_csv(out / "selected.csv")
    assert selected["id"].tolist() == history["id"].tolist() and len(selected) == 12
    summary = pd.read_csv(out / "split_summary.csv").set_index("group")
    assert summary.loc["tetragonal", "rule"] == "target > 0" and summary["pool"].sum() == 1000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stop_reason"] == "budget reached (12 acquisitions)"
    assert manifest["seed"] == 0 and manifest["n_acquired"] == 12
    assert manifest["inputs"]["data"].startswith("faa37a1d")
    assert set(manifest["highlight"]) == set(DEPLETED)
    final = pd.read_csv(out / "labelled_final.csv")
    assert len(final) == summary["labelled"].sum() + 12


def _user_table(tmp_path, n_pool_labels=True):
    rng = np.random.default_rng(0)
    n = 90
    frame = pd.DataFrame(
        {
            "mid": [f"m{i:03d}" for i in range(n)],
            "family": np.repeat(["p", "q", "r"], n // 3),
            "f1": rng.uniform(size=n),
            "f2": rng.uniform(size=n),
        }
    )
    frame["prop"] = np.sin(3 * frame["f1"]) * np.repeat([0.2, 1.0, 2.0], n // 3) + frame["f2"]
    pool_rows = frame.index % 3 == 0
    labels = frame.loc[pool_rows, ["mid", "prop"]]
    table = frame.copy()
    table.loc[pool_rows, "prop"] = np.nan
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    labels_path = tmp_path / "labels.csv"
    labels.to_csv(labels_path, index=False)
    return path, labels_path, labels


COLS = ["--group-col", "family", "--target-col", "prop", "--id-col", "mid", "--feature-cols", "f1", "f2"]


def test_user_table_with_pool_and_labels(tmp_path, capsys):
    table, labels_path, labels = _user_table(tmp_path)
    out = tmp_path / "out"
    code = main(["run", str(table), *COLS, "--labels", str(labels_path), "--budget", "5", "--no-progress",
                 "--out", str(out)])
    assert code == 0
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 5 and history["id"].str.startswith("m").all()
    truth = labels.set_index("mid")["prop"]
    np.testing.assert_allclose(history["value"], truth.loc[history["id"]].to_numpy())
    printed = capsys.readouterr().out
    assert "stop: budget reached (5 acquisitions)" in printed and "entropy gap:" in printed


def test_user_table_without_labels_writes_suggestions(tmp_path, capsys):
    table, _, _ = _user_table(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(table), *COLS, "--budget", "4", "--out", str(out)]) == 0
    suggestions = pd.read_csv(out / "suggestions.csv")
    assert len(suggestions) == 4 and suggestions["id"].is_unique and suggestions["rank"].tolist() == [1, 2, 3, 4]
    assert "fantasy" in suggestions["reason"].iloc[1]
    assert not (out / "history.csv").exists()
    printed = capsys.readouterr().out
    assert "no oracle" in printed and "compute these next" in printed
    # the table's pool ids, never a labelled one
    frame = pd.read_csv(table)
    assert set(suggestions["id"]) <= set(frame.loc[frame["prop"].isna(), "mid"])


def test_user_table_errors(tmp_path, capsys):
    table, labels_path, _ = _user_table(tmp_path)
    assert main(["run", str(table), *COLS, "--deplete", "p: target > 0", "--out", str(tmp_path / "o")]) == 2
    assert "--deplete" in capsys.readouterr().err
    full = tmp_path / "full.csv"
    pd.read_csv(table).fillna({"prop": 0.0}).to_csv(full, index=False)
    assert main(["run", str(full), *COLS, "--deplete", "s: target > 0", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "group 's'" in err and "'p', 'q', 'r'" in err
    assert main(["run", str(full), *COLS, "--deplete", "p: target >> 0", "--out", str(tmp_path / "o")]) == 2
    assert "cannot parse" in capsys.readouterr().err
    assert main(["run", str(full), *COLS, "--labels", str(labels_path), "--out", str(tmp_path / "o")]) == 2
    assert "--labels" in capsys.readouterr().err


def test_fully_labelled_user_table_with_custom_rule(tmp_path):
    table, _, _ = _user_table(tmp_path)
    full = tmp_path / "full.csv"
    frame = pd.read_csv(table)
    frame["prop"] = frame["prop"].fillna(frame["f2"])
    frame.to_csv(full, index=False)
    out = tmp_path / "out"
    code = main(["run", str(full), *COLS, "--deplete", "r: target > 1", "--test-fraction", "0.2",
                 "--pool-size", "30", "--budget", "4", "--strategy", "random", "--no-progress", "--out", str(out)])
    assert code == 0
    summary = pd.read_csv(out / "split_summary.csv").set_index("group")
    assert summary["pool"].sum() == 30 and summary.loc["r", "rule"] == "target > 1"
    labelled = pd.read_csv(out / "split" / "labelled.csv")
    assert not ((labelled["family"] == "r") & (labelled["prop"] > 1)).any()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["strategy"] == "random" and manifest["settings"]["patience"] is None


def test_resume_option_conflicts(default_run, capsys, tmp_path):
    _, out = default_run
    assert main(["run", "--resume", str(out)]) == 2
    assert "has finished" in capsys.readouterr().err
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["run", "oqmd8", "--resume", str(out)]) == 2
    assert "leave out DATA" in capsys.readouterr().err


def test_resume_refuses_changed_settings(default_run, capsys, tmp_path):
    import shutil

    _, out = default_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    state_path = copy / "checkpoint" / "state.json"
    state = json.loads(state_path.read_text())
    state["stop_reason"] = None  # pretend it was killed
    state_path.write_text(json.dumps(state))
    assert main(["run", "--resume", str(copy), "--seed", "3"]) == 2
    assert "--seed 3 differs from the run being resumed (0)" in capsys.readouterr().err


# ---------------------------------------------------------------------------- real SIGKILL

_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _iteration(checkpoint: Path) -> int:
    try:
        return json.loads((checkpoint / "state.json").read_text())["iteration"]
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_then_resume_matches_uninterrupted_run(default_run, tmp_path):
    """`python -m etal run` is SIGKILLed mid-run; `--resume` ends with the same selections
    as the uninterrupted run of the same command (the module fixture)."""
    _, full_out = default_run
    out = tmp_path / "killed"
    env = {**os.environ, **_ONE_THREAD}
    command = [sys.executable, "-m", "etal", "run", "--budget", "12", "--no-progress"]
    proc = subprocess.Popen([*command, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while _iteration(out / "checkpoint") < 3:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint progress"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    killed_at = _iteration(out / "checkpoint")
    assert 3 <= killed_at < 12
    assert not (out / "history.csv").exists()  # it really died mid-run

    resumed = subprocess.run([*command[:4], "--resume", str(out), "--no-progress"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {out} at iteration {killed_at}" in resumed.stdout

    a, b = pd.read_csv(out / "selected.csv"), pd.read_csv(full_out / "selected.csv")
    assert len(b) == 12 and a["id"].tolist() == b["id"].tolist()
    ha, hb = pd.read_csv(out / "history.csv"), pd.read_csv(full_out / "history.csv")
    pd.testing.assert_frame_equal(ha.drop(columns="seconds"), hb.drop(columns="seconds"))
    pd.testing.assert_frame_equal(pd.read_csv(out / "entropies.csv"), pd.read_csv(full_out / "entropies.csv"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed"]["from_iteration"] == killed_at
    assert manifest["stop_reason"] == "budget reached (12 acquisitions)"


def test_partial_labels_fail_before_the_first_pick_and_the_manifest_says_why(tmp_path, capsys):
    table, labels_path, labels = _user_table(tmp_path)
    partial = tmp_path / "partial.csv"
    labels.iloc[3:].to_csv(partial, index=False)
    out = tmp_path / "o"
    code = main(["run", str(table), *COLS, "--labels", str(partial), "--budget", "5", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(partial) in err and "no label for 3 of the 30" in err and repr(labels["mid"].iloc[0]) in err
    assert not (out / "checkpoint").exists()  # stopped before anything ran


def test_a_run_stopped_by_an_error_leaves_a_final_manifest(tmp_path, capsys, monkeypatch):
    import etal.engine.loop as engine_loop

    table, labels_path, _ = _user_table(tmp_path)
    out = tmp_path / "o"

    def broken(self, *a, **k):
        raise RuntimeError("oracle service down")

    monkeypatch.setattr(engine_loop.ETAL, "_acquire", broken)
    with pytest.raises(RuntimeError):
        main(["run", str(table), *COLS, "--labels", str(labels_path), "--budget", "5", "--no-progress",
              "--out", str(out)])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "oracle service down" in manifest["stop_reason"]
    assert manifest["resume"] == f"etal run --resume {out}"


def test_unfinished_run_in_out_names_the_resume_flag(tmp_path, capsys):
    table, labels_path, _ = _user_table(tmp_path)
    out = tmp_path / "o"
    from etal.engine import ETAL

    cols = dict(group_col="family", target_col="prop", id_col="mid", feature_cols=["f1", "f2"])
    frame = pd.read_csv(table)
    ETAL(**cols, checkpoint_dir=out / "checkpoint", progress=False).start(
        frame[frame["prop"].notna()], frame[frame["prop"].isna()]
    )
    code = main(["run", str(table), *COLS, "--labels", str(labels_path), "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "unfinished run" in err and f"etal run --resume {out}" in err


def test_run_help_states_the_real_defaults(capsys):
    """The help texts repeat defaults whose one home is ETAL / biased_split / the registry."""
    import re

    from etal.cli.run import _defaults

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = _defaults()
    for flag, key in [("--budget", "budget"), ("--batch-size", "batch_size"), ("--estimator", "estimator"),
                      ("--n-samples", "n_samples"), ("--seed", "seed"), ("--strategy", "strategy"),
                      ("--test-fraction", "test_fraction"), ("--pool-size", "pool_size")]:
        m = re.search(re.escape(flag) + r" (?:[A-Z_]+|\{[^}]*\}) [^()]*?\(default:? ([^;)]+)", text)
        assert m, flag
        assert m.group(1).split()[0] == str(defaults[key]), (flag, m.group(1), defaults[key])
