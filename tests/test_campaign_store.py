"""The campaign store and the Campaign API: states, claims, leases, ingest, entropies, budget."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from _campaign_fixtures import check_consistent, grouped_table
from scipy.stats import differential_entropy

from etal.campaign import Campaign, CampaignWarning
from etal.campaign.store import CampaignStore, new_owner
from etal.errors import InputError

pytestmark = pytest.mark.filterwarnings("ignore::etal.campaign.CampaignWarning")


@pytest.fixture
def camp(tmp_path):
    table = grouped_table((40, 40), (12, 12))
    c = Campaign.init(tmp_path / "camp", table, group_col="grp", target_col="y", id_col="id", feature_cols=["x0", "x1"])
    yield c
    c.close()


def _pool_ids(c):
    t = grouped_table((40, 40), (12, 12))
    return t.loc[t["y"].isna(), "id"].tolist()


def test_init_stores_rows_labels_and_start_entropies(camp):
    counts = camp.store.counts()
    assert counts["rows"] == 80 and counts["initial"] == 24 and counts["pool"] == 56 and counts["acquired"] == 0
    table = grouped_table((40, 40), (12, 12))
    for g, values in table.dropna(subset=["y"]).groupby("grp")["y"]:
        logged = [h for a, grp, n, h, s in camp.store.entropy_log() if a == 0 and grp == g]
        assert logged[0] == pytest.approx(differential_entropy(values.to_numpy()), rel=1e-9)  # SciPy: independent truth
    with pytest.raises(InputError, match="exists there already"):
        Campaign.init(camp.folder, table, group_col="grp", target_col="y", id_col="id")
    with pytest.raises(InputError, match="not a campaign folder"):
        Campaign(camp.folder / "nope")


def test_suggest_never_resuggests_pending_or_running_rows(camp):
    first = camp.suggest(3)
    assert len(first) == 3 and (first["state"] == "pending").all()
    rid = camp.store.rids_of([first["id"].iloc[0]])[first["id"].iloc[0]]
    assert camp.store.claim(rid, new_owner())
    second = camp.suggest(4)
    assert len(second) == 4 and not set(first["id"]) & set(second["id"])
    on_disk = pd.read_csv(camp.folder / "suggestions.csv")
    assert set(on_disk["id"]) == (set(first["id"]) | set(second["id"])) - {first["id"].iloc[0]}  # all pending rows
    assert camp.store.counts()["pending"] == 6 and camp.store.counts()["running"] == 1
    # the engine never sees them as candidates
    _, pool = camp.engine_frames()
    taken = set(camp.store.rids_of(list(first["id"]) + list(second["id"])).values())
    assert not taken & set(pool["_rid"])


def _claim_all(folder, rids, ready, go, out):
    store = CampaignStore(folder)
    owner = new_owner()
    ready.set()
    go.wait(60)
    out.put([rid for rid in rids if store.claim(rid, owner)])


def test_two_processes_never_claim_the_same_row(camp):
    camp.suggest(30)
    rids = camp.store.pending_rids()
    ctx = multiprocessing.get_context("spawn")
    queue, ready, go = ctx.Queue(), ctx.Event(), ctx.Event()
    child = ctx.Process(target=_claim_all, args=(camp.folder, rids, ready, go, queue))
    child.start()
    assert ready.wait(60)
    go.set()  # both processes race for the same rows now
    owner = new_owner()
    mine = [rid for rid in rids if camp.store.claim(rid, owner)]
    theirs = queue.get(timeout=60)
    child.join(timeout=60)
    assert sorted(mine + theirs) == sorted(rids)  # every row claimed exactly once
    assert camp.store.counts()["running"] == 30


def test_a_row_is_never_labelled_twice(camp):
    camp.suggest(1)
    rid = camp.store.pending_rids()[0]
    other = CampaignStore(camp.folder)  # a second connection, as another process would have
    assert camp.store.record_label(rid, 1.0, source="calculator:x") is True
    assert other.record_label(rid, 2.0, source="calculator:y") is False
    assert camp.store.label_map()[rid] == 1.0
    other.close()
    assert check_consistent(camp.folder)["acquired"] == 1


def test_ingest_is_all_or_nothing_with_clear_errors(camp, tmp_path):
    pool = _pool_ids(camp)
    before = camp.store.counts()
    bad_cases = [
        (pd.DataFrame({"id": [pool[0], "nope"], "y": [1.0, 2.0]}), "not rows of this campaign"),
        (pd.DataFrame({"id": [pool[0], pool[1]], "y": [1.0, "abc"]}), "non-numeric"),
        (pd.DataFrame({"id": [pool[0], pool[1]], "y": [1.0, np.inf]}), "infinite"),
        (pd.DataFrame({"id": [pool[0], pool[0]], "y": [1.0, 1.0]}), "repeated"),
        (pd.DataFrame({"id": [pool[0], None], "y": [1.0, 1.0]}), "empty in rows"),
        (pd.DataFrame({"name": [pool[0]], "y": [1.0]}), "no id column"),
    ]
    for frame, message in bad_cases:
        with pytest.raises(InputError, match=message):
            camp.ingest(frame)
        assert camp.store.counts() == before
    # ids never suggested: accepted, with a warning
    with pytest.warns(CampaignWarning, match="never suggested"):
        report = camp.ingest(pd.DataFrame({"id": pool[:2], "value": [0.1, 0.2]}))
    assert report.stored == pool[:2] and report.unsuggested == pool[:2]
    # the same file again: skipped; another value: an error that changes nothing
    again = camp.ingest(pd.DataFrame({"id": pool[:2], "value": [0.1, 0.2]}))
    assert again.stored == [] and again.skipped == pool[:2]
    with pytest.raises(InputError, match="labelled already with another value"):
        camp.ingest(pd.DataFrame({"id": [pool[2], pool[0]], "value": [0.3, 9.9]}))
    assert camp.store.counts()["acquired"] == 2 and pool[2] not in set(camp.labelled()["id"])
    # a results file (CSV) with the campaign's own column names
    path = tmp_path / "results.csv"
    camp.suggest(1)
    sid = camp.suggestions()["id"].iloc[0]
    path.write_text(f"id,y\n{sid},0.7\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a suggested id: no warning
        camp.ingest(path)
    assert (
        camp.store.counts()["pending"] == 0 and camp.labelled().set_index("id").loc[sid, "source"] == f"ingest:{path}"
    )


def test_entropy_after_every_label_matches_scipy(camp):
    pool = _pool_ids(camp)
    rng = np.random.default_rng(1)
    values = rng.normal(size=6)
    for row_id, v in zip(pool[:6], values):
        camp.ingest(pd.DataFrame({"id": [row_id], "value": [v]}))
    table = grouped_table((40, 40), (12, 12)).set_index("id")
    labelled = table["y"].dropna().to_dict()
    log = {(a, g): h for a, g, n, h, s in camp.store.entropy_log()}
    for k, (row_id, v) in enumerate(zip(pool[:6], values), start=1):
        labelled[row_id] = v
        g = table.loc[row_id, "grp"]
        group_values = [val for i, val in labelled.items() if table.loc[i, "grp"] == g]
        assert log[(k, g)] == pytest.approx(differential_entropy(group_values), rel=1e-9)
    hist = camp.entropy_history()
    assert list(hist.index) == list(range(7)) and not hist.isna().any().any()


def test_reclaim_stale_only_takes_rows_of_dead_or_silent_owners(camp):
    camp.suggest(5)
    rids = camp.store.pending_rids()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    owners = {
        rids[0]: f"{host}:{dead.pid}:dead",  # same host, pid gone
        rids[1]: f"{host}:{os.getppid()}:alive",  # same host, live pid, fresh heartbeat
        rids[2]: f"other-host:{os.getpid()}:fresh",  # another host, fresh heartbeat
        rids[3]: f"other-host:{os.getpid()}:old",  # another host, silent for long
        rids[4]: f"{host}:{os.getppid()}:alive-but-silent",
    }
    for rid, owner in owners.items():
        assert camp.store.claim(rid, owner)
    old = time.time() - 3600
    camp.store.conn.execute("UPDATE suggestions SET heartbeat = ? WHERE rid IN (?, ?)", (old, rids[3], rids[4]))
    moved = camp.store.reclaim_stale(lease_seconds=600)
    assert sorted(moved) == sorted([rids[0], rids[3], rids[4]])
    states = dict(camp.store.conn.execute("SELECT rid, state FROM suggestions"))
    assert states[rids[1]] == "running" and states[rids[2]] == "running"
    attempts = dict(camp.store.conn.execute("SELECT rid, attempts FROM suggestions"))
    assert attempts[rids[0]] == 1  # the interrupted attempt counts


class _Const:
    name = "const"

    def __init__(self):
        self.calls = 0

    def settings(self):
        return {"name": "const"}

    def calculate(self, structure, row_id):
        self.calls += 1
        return 0.25 + 0.01 * self.calls


def test_budget_counts_all_acquired_labels_and_a_second_run_is_a_no_op(camp):
    pool = _pool_ids(camp)
    camp.ingest(pd.DataFrame({"id": pool[:2], "value": [0.1, 0.2]}), source="manual")
    calc = _Const()
    summary = camp.run(calc, 5, progress=False)
    assert summary.acquired_before == 2 and summary.acquired_after == 5 and calc.calls == 3
    again = camp.run(calc, 5, progress=False)
    assert again.n_new == 0 and calc.calls == 3 and again.stop_reason.startswith("budget reached")
    camp.suggest(2)  # pending rows are calculated first by the next run
    pending = set(camp.suggestions()["id"])
    camp.run(calc, 7, progress=False)
    assert pending <= set(camp.labelled()["id"])
    check_consistent(camp.folder)


def test_status_export_and_figure(camp, tmp_path):
    camp.run(_Const(), 3, progress=False)
    st = camp.status()
    assert {"labelled", "pending", "running", "failed"} <= set(st)
    assert st["labelled"] == 27 and st["acquired"] == 3 and len(st["last_picks"]) == 3
    assert {g["group"] for g in st["groups"]} == {"g0", "g1"}
    assert all(os.path.exists(p) for p in st["figure"])
    out = camp.export(tmp_path / "labelled.csv")
    table = pd.read_csv(out)
    assert list(table.columns[:5]) == ["id", "grp", "y", "source", "time"]
    assert len(table) == 27 and (table["source"] == "initial").sum() == 24
    with pytest.raises(InputError, match="csv"):
        camp.export(tmp_path / "labelled.xlsx")


def test_patience_excludes_groups_from_the_stored_history(tmp_path):
    camp = Campaign.init(tmp_path / "etal", grouped_table((40, 40), (12, 12)), group_col="grp", target_col="y",
                         id_col="id", feature_cols=["x0", "x1"], strategy="etal")  # ET-AL's patience: 5
    pool = _pool_ids(camp)
    g0 = [i for i in pool if int(i[1:]) < 40]
    # the same value again and again: entropy never rises in g0
    for row_id in g0[:5]:
        camp.ingest(pd.DataFrame({"id": [row_id], "value": [0.0]}))
    assert camp.excluded_groups() == {"g0"}
    _, pool_frame = camp.engine_frames()
    assert set(pool_frame["_group"]) == {"g1"}


def test_patience_and_fairness_stop_default_to_the_strategy(tmp_path, camp):
    # like ETAL, etal run and the experiment: the strategy's own patience (ET-AL: 5), a baseline never
    from etal.strategies import DEFAULT_STRATEGY, strategy_class

    assert camp.meta["engine"]["patience"] == strategy_class(DEFAULT_STRATEGY).patience
    assert camp.excluded_groups() == set()
    paper = Campaign.init(tmp_path / "etal", grouped_table(), group_col="grp", target_col="y", id_col="id",
                          feature_cols=["x0", "x1"], strategy="etal")  # fmt: skip
    assert paper.meta["engine"]["patience"] == 5
    table = grouped_table()
    rnd = Campaign.init(tmp_path / "rnd", table, group_col="grp", target_col="y", id_col="id",
                        feature_cols=["x0", "x1"], strategy="random")  # fmt: skip
    assert rnd.meta["engine"]["patience"] is None and rnd.meta["engine"]["strategy"] == "random"
    assert rnd._engine().strategy.fairness_stop is False and camp._engine().strategy.fairness_stop is True
    with pytest.raises(InputError, match="patience must be an integer >= 1 or None"):
        Campaign.init(tmp_path / "bad", table, group_col="grp", target_col="y", patience=0)


def test_run_waits_for_rows_another_live_process_is_calculating(camp):
    import threading

    camp.suggest(1)
    rid = camp.store.pending_rids()[0]
    other = "other-host:1:elsewhere"  # a live owner on another host: judged by its heartbeat
    assert camp.store.claim(rid, other)

    def finish_elsewhere():
        store = CampaignStore(camp.folder)
        time.sleep(0.6)
        store.heartbeat(other)
        time.sleep(0.6)
        assert store.record_label(rid, 0.5, source="calculator:elsewhere", owner=other)
        store.close()

    thread = threading.Thread(target=finish_elsewhere)
    thread.start()
    calc = _Const()
    t0 = time.perf_counter()
    summary = camp.run(calc, 1, progress=False, lease_seconds=2.0)
    thread.join()
    # the budget of 1 was held by the other process: this run computed nothing, waited for
    # its label instead of stopping early or taking the row over, and then stopped
    assert calc.calls == 0 and summary.stop_reason.startswith("budget reached")
    assert time.perf_counter() - t0 >= 1.0
    assert camp.labelled().set_index("id").loc[camp.store.row(rid)["id"], "source"] == "calculator:elsewhere"


def test_suggest_is_the_engines_pick_on_the_stored_data(camp):
    from etal import ETAL

    table = grouped_table((40, 40), (12, 12))
    labelled, pool = table.dropna(subset=["y"]), table[table["y"].isna()].drop(columns="y")
    engine = ETAL(
        group_col="grp", target_col="y", id_col="id", feature_cols=["x0", "x1"], seed=0, progress=False, patience=None
    )
    expected = engine.start(labelled, pool).suggest(4)
    assert camp.suggest(4)["id"].tolist() == expected
    # the next suggestion: the engine on the pool without those rows, seeded by the labels acquired (0)
    engine = ETAL(
        group_col="grp", target_col="y", id_col="id", feature_cols=["x0", "x1"], seed=0, progress=False, patience=None
    )
    expected = engine.start(labelled, pool[~pool["id"].isin(expected)]).suggest(2)
    assert camp.suggest(2)["id"].tolist() == expected
