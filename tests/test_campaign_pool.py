"""A campaign whose pool is a folder of Parquet files (issue 13, item 2; issue 11).

Truth: a campaign holding the same rows in memory (``Campaign.init`` with the pool as one
table, the ``etal`` strategy): its suggestions, its runs with the same calculator, its
patience. The folder campaign must pick the same ids, store only the rows it picked, and
keep status / ingest / export / run working; ``--scheduler local:2`` must not change the
pick, and without ``--scheduler`` Dask is never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")

from etal.campaign import Campaign, CampaignWarning
from etal.cli import main
from etal.errors import InputError

SRC = Path(__file__).resolve().parents[1] / "src"
COLUMNS = {"group_col": "grp", "target_col": "y", "id_col": "id", "feature_cols": ["a", "b", "c"]}
FLAGS = ["--group-col", "grp", "--target-col", "y", "--id-col", "id", "--feature-cols", "a", "b", "c"]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """30 labelled rows of two groups; a pool of 400 in 4 Parquet files (and as one CSV); its labels."""
    folder = tmp_path_factory.mktemp("campaign-pool")
    rng = np.random.default_rng(3)

    def block(n: int, group: str) -> pd.DataFrame:
        return pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"]).assign(grp=group)

    def truth(frame: pd.DataFrame) -> np.ndarray:
        return np.sin(1.3 * frame["a"]) + 0.4 * frame["b"] * np.where(frame["grp"] == "g0", 0.3, 1.0)

    labelled = pd.concat([block(15, "g0"), block(15, "g1")], ignore_index=True)
    labelled["y"] = truth(labelled)
    labelled.insert(0, "id", np.arange(30))
    pool = pd.concat([block(200, "g0"), block(200, "g1")], ignore_index=True).sample(frac=1, random_state=1)
    pool.insert(0, "id", np.arange(400) + 1000)
    labelled.to_csv(folder / "labelled.csv", index=False)
    (folder / "pool").mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(pool)), 4)):
        pool.iloc[rows].to_parquet(folder / "pool" / f"part-{i}.parquet", index=False)
    pool.assign(y=np.nan).to_csv(folder / "pool.csv", index=False)
    labels = dict(zip(pool["id"].tolist(), truth(pool).tolist()))
    return folder, labels


def _memory(case, where: Path, **kw) -> Campaign:
    folder, _ = case
    return Campaign.init(where, folder / "labelled.csv", pool_path=folder / "pool.csv", strategy="etal",
                         **COLUMNS, **kw)  # fmt: skip


def _from_folder(case, where: Path, **kw) -> Campaign:
    folder, _ = case
    return Campaign.init(where, folder / "labelled.csv", pool_path=folder / "pool", **COLUMNS, **kw)


class _Lookup:
    """A calculator returning each row's true value (independent of the store)."""

    name = "lookup"

    def __init__(self, labels: dict) -> None:
        self.labels = labels

    def settings(self) -> dict:
        return {"name": self.name}

    def calculate(self, structure, row_id) -> float:
        return self.labels[int(row_id)]


def _ingest_truth(camp: Campaign, ids, labels: dict) -> None:
    camp.ingest(pd.DataFrame({"id": list(ids), "y": [labels[int(i)] for i in ids]}))


def test_folder_suggestions_equal_the_in_memory_campaign_and_store_only_the_picks(case, tmp_path) -> None:
    _, labels = case
    mem, fold = _memory(case, tmp_path / "mem"), _from_folder(case, tmp_path / "fold")
    assert fold.store.counts()["rows"] == 30 and fold.pool_folder["rows"] == 400
    assert fold.meta["engine"]["strategy"] == "etal"
    for k in (3, 2):  # a second round after the first picks are labelled
        want, got = mem.suggest(k), fold.suggest(k)
        assert len(want) == k and got["id"].tolist() == want["id"].tolist()
        np.testing.assert_allclose(got["ei"], want["ei"], rtol=1e-6)
        np.testing.assert_allclose(got["expected_entropy"], want["expected_entropy"], rtol=1e-6)
        _ingest_truth(mem, want["id"], labels)
        _ingest_truth(fold, got["id"], labels)
    assert fold.store.counts()["rows"] == 35  # the initial rows and the 5 picks only
    # the picked rows' features are stored as the folder holds them
    pool = pd.read_csv(case[0] / "pool.csv").set_index("id")
    for uid, rid in fold.store.rids_of([str(i) for i in got["id"]]).items():
        stored = np.frombuffer(fold.store.conn.execute("SELECT features FROM rows WHERE rid = ?", (rid,))
                               .fetchone()[0])  # fmt: skip
        np.testing.assert_array_equal(stored, pool.loc[int(uid), ["a", "b", "c"]].to_numpy(float))
    assert sorted(fold.store.rids_in_states(("done",))) == list(range(30, 35))  # the next rids, in order
    a, b = mem.labelled(), fold.labelled()
    assert a["id"].tolist() == b["id"].tolist() and a["id"].dtype == b["id"].dtype
    np.testing.assert_allclose(a["y"], b["y"])


@pytest.mark.parametrize(("patience", "budget", "n_new", "stop"), [
    (None, 10, 10, "budget reached"),
    (2, 8, 5, "fairness:"),  # g0 excluded by patience, then the fairness stop
])  # fmt: skip
def test_run_and_stop_rules_equal_the_in_memory_campaign(case, tmp_path, patience, budget, n_new, stop) -> None:
    _, labels = case
    mem = _memory(case, tmp_path / "mem", patience=patience)
    fold = _from_folder(case, tmp_path / "fold", patience=patience)
    want = mem.run(_Lookup(labels), budget, progress=False)
    got = fold.run(_Lookup(labels), budget, progress=False)
    assert want.n_new == n_new and want.stop_reason.startswith(stop)
    assert got.labelled == want.labelled
    assert got.stop_reason == want.stop_reason
    assert fold.excluded_groups() == mem.excluded_groups() == ({"g0"} if patience else set())
    assert fold.store.counts()["rows"] == 30 + got.n_new
    st_mem, st_fold = mem.status(figure=False), fold.status(figure=False)
    for key in ("labelled", "acquired", "pending", "running", "failed", "unlabelled", "excluded_groups"):
        assert st_fold[key] == st_mem[key], key
    assert st_fold["pool_folder"]["rows"] == 400 and "pool_folder" not in st_mem


def test_ingest_looks_never_suggested_ids_up_in_the_folder(case, tmp_path) -> None:
    folder, labels = case
    fold = _from_folder(case, tmp_path / "fold")
    with pytest.warns(CampaignWarning, match="never suggested"):
        report = fold.ingest(pd.DataFrame({"id": [1007, 1390], "y": [labels[1007], labels[1390]]}))
    assert report.stored == ["1007", "1390"] and report.unsuggested == ["1007", "1390"]
    pool = pd.read_csv(folder / "pool.csv").set_index("id")
    rid = fold.store.rids_of(["1390"])["1390"]
    row = fold.store.row(rid)
    assert row["group"] == pool.loc[1390, "grp"]
    assert fold.status(figure=False)["unlabelled"] == 398
    # an id in neither the store nor the folder: all or nothing
    before = fold.store.counts()
    with pytest.raises(InputError, match="not rows of this campaign"):
        fold.ingest(pd.DataFrame({"id": [1001, 99999], "y": [0.5, 0.5]}))
    assert fold.store.counts() == before
    # an ingested row is never suggested
    picks = fold.suggest(5)
    assert not {1007, 1390} & set(picks["id"])
    out = fold.export(tmp_path / "labelled.csv")
    table = pd.read_csv(out)
    assert len(table) == 32 and set(table.loc[table["source"] != "initial", "id"]) == {1007, 1390}


def test_init_and_suggest_refuse_what_the_folder_path_cannot_do(case, tmp_path) -> None:
    folder, _ = case
    with_pool = tmp_path / "mixed.csv"
    pd.concat([pd.read_csv(folder / "labelled.csv"), pd.read_csv(folder / "pool.csv").head(3)]).to_csv(
        with_pool, index=False)  # fmt: skip
    with pytest.raises(InputError, match="labelled rows only"):
        Campaign.init(tmp_path / "a", with_pool, pool_path=folder / "pool", **COLUMNS)
    with pytest.raises(InputError, match="etal strategy"):
        Campaign.init(tmp_path / "b", folder / "labelled.csv", pool_path=folder / "pool", strategy="random", **COLUMNS)
    bad = tmp_path / "bad-pool"
    bad.mkdir()
    pd.read_csv(folder / "pool.csv").drop(columns="c").to_parquet(bad / "p.parquet")
    with pytest.raises(InputError, match=r"p.parquet: column\(s\) \['c'\] missing"):
        Campaign.init(tmp_path / "c", folder / "labelled.csv", pool_path=bad, **COLUMNS)
    # the folder changes after init: refused, nothing suggested
    moving = tmp_path / "moving"
    moving.mkdir()
    for f in (folder / "pool").iterdir():
        (moving / f.name).write_bytes(f.read_bytes())
    camp = Campaign.init(tmp_path / "d", folder / "labelled.csv", pool_path=moving, **COLUMNS)
    (moving / "part-3.parquet").unlink()
    with pytest.raises(InputError, match="changed since campaign init"):
        camp.suggest(1)
    assert camp.store.counts()["pending"] == 0


def test_cli_suggest_on_a_scheduler_equals_without(case, tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    folder, _ = case
    mem = _memory(case, tmp_path / "mem").suggest(4)
    for name, extra in (("here", []), ("dask", ["--scheduler", "local:2"])):
        camp = tmp_path / name
        assert main(["campaign", "init", str(camp), str(folder / "labelled.csv"), "--pool-file",
                     str(folder / "pool"), *FLAGS]) == 0  # fmt: skip
        assert "400 rows in 4 Parquet file(s)" in capsys.readouterr().out
        assert main(["campaign", "suggest", str(camp), "-k", "4", "--no-progress", *extra]) == 0
        got = pd.read_csv(camp / "suggestions.csv")
        assert got["id"].tolist() == [int(i) for i in mem["id"]], name
        np.testing.assert_allclose(got["ei"], mem["ei"], rtol=1e-6)
    capsys.readouterr()
    assert main(["campaign", "status", str(tmp_path / "dask"), "--json", "--no-figure"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["labelled"], status["pending"], status["unlabelled"]) == (30, 4, 400)


def test_cli_scheduler_errors_are_one_line(case, tmp_path, monkeypatch, capsys) -> None:
    folder, _ = case
    fold, mem = tmp_path / "fold", tmp_path / "mem"
    assert main(["campaign", "init", str(fold), str(folder / "labelled.csv"), "--pool-file", str(folder / "pool"),
                 *FLAGS]) == 0  # fmt: skip
    assert main(["campaign", "init", str(mem), str(folder / "labelled.csv"), "--pool-file", str(folder / "pool.csv"),
                 *FLAGS]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["campaign", "suggest", str(mem), "--scheduler", "local:2"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "no pool folder" in err and err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    assert main(["campaign", "suggest", str(fold), "--scheduler", "local:2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "pip install 'etal[dask]'" in err and err.count("\n") == 1
    assert Campaign(fold).store.counts()["pending"] == 0


def test_folder_campaign_without_scheduler_imports_no_dask(case, tmp_path) -> None:
    folder, _ = case
    camp = tmp_path / "camp"
    code = textwrap.dedent(f"""
        import sys
        from etal.cli import main
        assert main({["campaign", "init", str(camp), str(folder / "labelled.csv"), "--pool-file",
                      str(folder / "pool"), *FLAGS]!r}) == 0
        assert main({["campaign", "suggest", str(camp), "-k", "2", "--no-progress"]!r}) == 0
        assert main({["campaign", "status", str(camp), "--no-figure"]!r}) == 0
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not loaded, loaded
    """)
    env = {**os.environ, "PYTHONPATH": str(SRC), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(camp / "suggestions.csv")) == 2


def test_cli_run_on_a_folder_campaign_equals_the_in_memory_run(case, tmp_path, capsys) -> None:
    folder, labels = case
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({str(k): v for k, v in labels.items()}))
    script = tmp_path / "calc.py"
    script.write_text("import json, sys\nprint(json.load(open(sys.argv[1]))[sys.argv[2]])\n")
    camp = tmp_path / "fold"
    assert main(["campaign", "init", str(camp), str(folder / "labelled.csv"), "--pool-file", str(folder / "pool"),
                 *FLAGS]) == 0  # fmt: skip
    calculator = f"command:{sys.executable} {script} {truth} {{id}}"
    assert main(["campaign", "run", str(camp), "--calculator", calculator, "--budget", "4", "--no-progress"]) == 0
    assert "4 new label(s), 4 acquired in all" in capsys.readouterr().out
    want = _memory(case, tmp_path / "mem").run(_Lookup(labels), 4, progress=False)
    got = Campaign(camp).labelled()
    acquired = got[got["source"] != "initial"]
    assert [str(i) for i in acquired["id"]] == want.labelled
    np.testing.assert_allclose(acquired["y"], [labels[int(i)] for i in want.labelled])
    assert set(acquired["source"]) == {"calculator:command"}


def test_structure_references_of_folder_rows(tmp_path) -> None:
    """A picked or ingested folder row keeps its structure: CIF text as it is, a relative
    file path resolved against the pool folder (the store holds it absolute)."""
    rng = np.random.default_rng(0)
    labelled = pd.DataFrame(rng.normal(size=(10, 3)), columns=["a", "b", "c"]).assign(
        grp=["g0", "g1"] * 5, y=rng.normal(size=10), id=[f"L{i}" for i in range(10)], s="data_x\n")
    pool = pd.DataFrame(rng.normal(size=(6, 3)), columns=["a", "b", "c"]).assign(
        grp=["g0", "g1"] * 3, id=[f"P{i}" for i in range(6)],
        s=["cifs/p0.cif", "data_p1\n_cell_length_a 4\n", None, "data_p3\n", "data_p4\n", "data_p5\n"])
    folder = tmp_path / "pool"
    (folder / "cifs").mkdir(parents=True)
    (folder / "cifs" / "p0.cif").write_text("data_p0\n")
    pool.to_parquet(folder / "part-0.parquet", index=False)
    labelled.to_csv(tmp_path / "labelled.csv", index=False)
    camp = Campaign.init(tmp_path / "camp", tmp_path / "labelled.csv", pool_path=folder, structure_col="s",
                         **COLUMNS)  # fmt: skip
    assert camp.meta["id_is_int"] is False
    with pytest.warns(CampaignWarning):
        camp.ingest(pd.DataFrame({"id": ["P0", "P1", "P2"], "y": [0.1, 0.2, 0.3]}))
    structure = {i: camp.store.row(r)["structure"] for i, r in camp.store.rids_of(["P0", "P1", "P2"]).items()}
    assert structure == {"P0": str((folder / "cifs" / "p0.cif").resolve()), "P1": "data_p1\n_cell_length_a 4\n",
                         "P2": None}  # fmt: skip
    picks = camp.suggest(3)
    assert set(picks["id"]) == {"P3", "P4", "P5"}
    assert set(picks["structure"]) == {"data_p3\n", "data_p4\n", "data_p5\n"}
