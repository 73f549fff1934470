"""The ``--scheduler`` hooks of the CLI (issue 13): ``etal experiment`` on a LocalCluster
writes the same tables as the local run; ``etal run --pool-file DIR`` (a folder of Parquet
files) picks what the in-memory engine picks, with or without a scheduler, and without
one imports no Dask; without the ``dask`` extra ``--scheduler`` names the extra.

Truth: the same command run locally, and the engine (``ETAL``) with the pool in memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")

from etal.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
COLUMNS = ["--group-col", "grp", "--target-col", "y", "--feature-cols", "a", "b", "c"]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture
def worker_path(monkeypatch):
    """LocalCluster workers import this checkout's etal."""
    pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))


# ------------------------------------------------------------------ etal experiment


CONFIG = """
[data]
group_col = "crystal_system"
target_col = "formation_energy_per_atom"
id_col = "id"
feature_cols = ["frac_*", "volume_per_atom", "natoms"]
[split]
pool_size = 120
[run]
strategies = ["etal", "random"]
budget = 4
seeds = 2
[downstream]
models = ["gradient_boosting", "svr"]
targets = ["formation_energy_per_atom"]
seeds = 2
"""


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    """Every CSV of an experiment folder without its timing column."""
    tables = {}
    for path in sorted(out.rglob("*.csv")):
        frame = pd.read_csv(path)
        tables[str(path.relative_to(out))] = frame.drop(columns=[c for c in frame.columns if c == "seconds"])
    return tables


def test_experiment_on_a_local_cluster_writes_the_tables_of_the_local_run(tmp_path, worker_path, capsys) -> None:
    from etal.datasets import load_dataset

    frame = load_dataset("oqmd8").groupby("crystal_system", group_keys=False).sample(frac=0.3, random_state=2)
    table = tmp_path / "data.csv"
    frame.to_csv(table, index=False)
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    argv = ["experiment", str(table), "--config", str(config), "--no-progress", "--n-jobs", "1"]
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--out", str(tmp_path / "dask"), "--scheduler", "local:2"]) == 0
    local, dask = _tables(tmp_path / "local"), _tables(tmp_path / "dask")
    assert set(local) == set(dask)
    assert {"runs.csv", "acquisitions.csv", "bias_trajectory.csv", "downstream.csv", "quality.csv"} <= set(local)
    for name in local:
        pd.testing.assert_frame_equal(dask[name], local[name], check_exact=True, obj=name)
    # The comparison can fail: the random runs of the two seeds differ, the fits are real.
    acq = local["acquisitions.csv"]
    random_ids = [acq[(acq["strategy"] == "random") & (acq["seed"] == s)]["id"].tolist() for s in (0, 1)]
    assert random_ids[0] != random_ids[1]
    assert local["downstream.csv"]["r2"].nunique() > 4
    import json

    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["arguments"]["scheduler"] == "local:2" and manifest["status"] == "finished"
    assert manifest["execution"]["where"] == "dask" and manifest["execution"]["workers"] == 2
    assert manifest["execution"]["scheduler"].startswith("tcp://127.0.0.1:")
    local_manifest = json.loads((tmp_path / "local" / "manifest.json").read_text())
    assert local_manifest["execution"] == {"where": "here", "n_jobs": 1}


def test_without_the_extra_scheduler_names_it(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    code = main(["experiment", "oqmd8", "--config", str(config), "--out", str(tmp_path / "o"),
                 "--scheduler", "local:2", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("etal experiment: error: --scheduler: ") and "pip install 'etal[dask]'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# ------------------------------------------------------------------ etal run --pool-file DIR


@pytest.fixture(scope="module")
def pool_case(tmp_path_factory):
    """Labelled rows of two groups, a pool of 1,600 in 4 Parquet files (and as one CSV), labels."""
    folder = tmp_path_factory.mktemp("pool-case")
    rng = np.random.default_rng(0)

    def block(n: int, group: str) -> pd.DataFrame:
        return pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"]).assign(grp=group)

    def truth(frame: pd.DataFrame) -> np.ndarray:
        return np.sin(1.3 * frame["a"]) + 0.4 * frame["b"] * np.where(frame["grp"] == "g0", 0.3, 1.0)

    labelled = pd.concat([block(30, "g0"), block(30, "g1")], ignore_index=True)
    labelled["y"] = truth(labelled)
    labelled.insert(0, "id", np.arange(60))
    pool = pd.concat([block(800, "g0"), block(800, "g1")], ignore_index=True)
    pool.insert(0, "id", np.arange(1600) + 1000)
    labelled.to_csv(folder / "labelled.csv", index=False)
    pd.DataFrame({"id": pool["id"], "y": truth(pool)}).to_csv(folder / "labels.csv", index=False)
    (folder / "pool").mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(pool)), 4)):
        pool.iloc[rows].to_parquet(folder / "pool" / f"part-{i}.parquet", index=False)
    pool.assign(y=np.nan).to_csv(folder / "pool.csv", index=False)
    return folder, labelled, pool


def test_run_on_a_pool_folder_suggests_the_in_memory_picks_without_importing_dask(pool_case, tmp_path) -> None:
    folder, _, _ = pool_case
    argv = ["run", str(folder / "labelled.csv"), *COLUMNS, "--budget", "3", "--no-progress"]
    code = textwrap.dedent(f"""
        import sys
        from etal.cli import main
        assert main({[*argv, "--pool-file", str(folder / "pool"), "--out", str(tmp_path / "folder")]!r}) == 0
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not loaded, loaded
    """)
    env = {**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    # the folder path scores with `etal`; the in-memory run must be told so (its default differs)
    assert main([*argv, "--strategy", "etal", "--pool-file", str(folder / "pool.csv"), "--out", str(tmp_path / "memory")]) == 0
    got = pd.read_csv(tmp_path / "folder" / "suggestions.csv")
    want = pd.read_csv(tmp_path / "memory" / "suggestions.csv")
    assert len(want) == 3 and got["id"].tolist() == want["id"].tolist()
    np.testing.assert_allclose(got["ei"], want["ei"], rtol=1e-9)
    assert set(got["file"]) <= {f"part-{i}.parquet" for i in range(4)}


def test_run_on_a_pool_folder_with_labels_on_a_cluster_equals_the_engine(pool_case, tmp_path, worker_path) -> None:
    from etal.engine import ETAL
    from etal.oracles import LookupOracle

    folder, labelled, pool = pool_case
    labels = pd.read_csv(folder / "labels.csv")
    out = tmp_path / "out"
    assert main(["run", str(folder / "labelled.csv"), *COLUMNS, "--pool-file", str(folder / "pool"),
                 "--labels", str(folder / "labels.csv"), "--budget", "6", "--batch-size", "2",
                 "--scheduler", "local:2", "--no-progress", "--out", str(out)]) == 0
    loop = ETAL(group_col="grp", target_col="y", feature_cols=["a", "b", "c"], batch_size=2, budget=6,
                strategy="etal", patience="off", fairness_stop=False, progress=False)
    result = loop.run(labelled, pool, LookupOracle(labels, id_col="id", target_col="y"))
    selected = pd.read_csv(out / "selected.csv")["id"].tolist()
    assert selected == list(result.selected) and len(selected) == 6
    history = pd.read_csv(out / "history.csv")
    assert history["iteration"].tolist() == [1, 1, 2, 2, 3, 3]
    np.testing.assert_array_equal(history["label"], labels.set_index("id").loc[selected, "y"])
    final = pd.read_csv(out / "labelled_final.csv")
    assert len(final) == 66 and final["acquired_at"].tolist()[-6:] == [1, 1, 2, 2, 3, 3]
    entropies = pd.read_csv(out / "entropies.csv").set_index("iteration")
    np.testing.assert_allclose(entropies.to_numpy(), result.entropies[["g0", "g1"]].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("extra, message", [
    (["--patience", "3"], "--patience: the pool-folder loop applies no patience"),
    (["--strategy", "random"], "supports the etal strategy only"),
    (["--estimator", "mc"], "--estimator mc: a pool folder"),
    (["--pool-size", "10"], "--pool-size: not used with a pool folder"),
])  # fmt: skip
def test_run_on_a_pool_folder_refuses_what_it_does_not_do(pool_case, tmp_path, capsys, extra, message) -> None:
    folder, _, _ = pool_case
    code = main(["run", str(folder / "labelled.csv"), *COLUMNS, "--pool-file", str(folder / "pool"),
                 "--out", str(tmp_path / "o"), *extra])
    assert code == 2 and message in capsys.readouterr().err


def test_scheduler_for_an_in_memory_pool_is_refused(pool_case, tmp_path, capsys) -> None:
    folder, _, _ = pool_case
    code = main(["run", str(folder / "labelled.csv"), *COLUMNS, "--pool-file", str(folder / "pool.csv"),
                 "--out", str(tmp_path / "o"), "--scheduler", "local:2"])
    assert code == 2 and "--scheduler: etal run uses Dask for a pool stored as a folder" in capsys.readouterr().err


def test_labels_missing_for_pool_rows_stop_before_the_first_pick(pool_case, tmp_path, capsys) -> None:
    folder, _, pool = pool_case
    labels = pd.read_csv(folder / "labels.csv")
    gone = labels["id"].iloc[[5, 900]].tolist()
    labels[~labels["id"].isin(gone)].to_csv(tmp_path / "partial.csv", index=False)
    code = main(["run", str(folder / "labelled.csv"), *COLUMNS, "--pool-file", str(folder / "pool"),
                 "--labels", str(tmp_path / "partial.csv"), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and f"no label for 2 of the {len(pool)} pool row(s)" in err
    assert all(str(i) in err for i in gone)
    assert not (tmp_path / "o" / "selected.csv").exists()


def test_a_loop_that_fails_keeps_its_acquisitions_and_says_failed(pool_case, tmp_path, monkeypatch, capsys) -> None:
    import json

    import etal.scale.suggest as suggest_module
    from etal.errors import InputError

    folder, _, _ = pool_case
    real, calls = suggest_module.suggest_from_pool, []

    def second_call_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise InputError("partition unreadable (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(suggest_module, "suggest_from_pool", second_call_fails)
    out = tmp_path / "o"
    code = main(["run", str(folder / "labelled.csv"), *COLUMNS, "--pool-file", str(folder / "pool"),
                 "--labels", str(folder / "labels.csv"), "--budget", "4", "--out", str(out), "--no-progress"])
    assert code == 2 and "partition unreadable (simulated)" in capsys.readouterr().err
    assert len(pd.read_csv(out / "selected.csv")) == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["n_acquired"] == 1
    assert "partition unreadable" in manifest["stop_reason"]
