"""Checkpoints: a killed run resumes to exactly the selections of an uninterrupted run."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from _loop_fixtures import Killed, KillingOracle, group_tables

from etal.engine import ETAL, HISTORY_COLUMNS
from etal.engine.checkpoint import frame_from_bytes, frame_to_bytes
from etal.errors import CheckpointError
from etal.oracles import LookupOracle
from etal.strategies import DEFAULT_STRATEGY

FEATURES = ["x0", "x1"]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Small GP matrices: threaded BLAS only adds overhead on a busy CI machine.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def synthetic(seed=0):
    return group_tables(
        (("a", 40, 20, 0.2), ("b", 40, 20, 1.0), ("c", 30, 20, 3.0), ("s", 8, 3, 1.0)), seed=seed
    )


def make(**kw) -> ETAL:
    return ETAL(group_col="grp", target_col="y", feature_cols=FEATURES, progress=False, **kw)


@pytest.mark.parametrize(
    "strategy, batch_size, estimator, kill_after",
    [("etal", 1, "quadrature", 5), ("etal", 2, "mc", 3), (DEFAULT_STRATEGY, 1, "quadrature", 5),
     (DEFAULT_STRATEGY, 3, "quadrature", 2)],
)
def test_killed_run_resumes_to_identical_selections(tmp_path, strategy, batch_size, estimator, kill_after):
    labelled, pool, labels = synthetic()
    settings = dict(budget=14, batch_size=batch_size, estimator=estimator, n_samples=200, seed=3, strategy=strategy)
    full = make(**settings).run(labelled, pool, LookupOracle(labels, target_col="y"))

    with pytest.raises(Killed):
        make(**settings, checkpoint_dir=tmp_path).run(labelled, pool, KillingOracle(labels, kill_after))
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["iteration"] == kill_after and state["stop_reason"] is None
    if strategy == "etal":  # per-group GPs, saved as files
        assert state["surrogates"] and all((tmp_path / e["file"]).is_file() for e in state["surrogates"].values())
    else:  # the default's pooled GP: its hyper-parameters in state.json
        assert state["strategy_state"]["surrogate"]["params"]["length"] > 0

    # a journal line torn by the kill (written after the last state.json) is ignored
    with open(tmp_path / "history.jsonl", "a") as fh:
        fh.write('{"iteration": 99, "gro')
    resumed = ETAL.resume(tmp_path, progress=False)  # oracle restored from inputs/oracle_labels
    assert resumed.iteration == kill_after
    result = resumed.run()
    assert result.selected == full.selected
    cols = [c for c in HISTORY_COLUMNS if c != "seconds"]
    pd.testing.assert_frame_equal(result.history[cols], full.history[cols])
    pd.testing.assert_frame_equal(result.entropies, full.entropies)
    pd.testing.assert_frame_equal(result.labelled_final, full.labelled_final)


def test_checkpoint_inputs_hold_no_pool_labels(tmp_path):
    labelled, pool, labels = synthetic()
    make(budget=1, checkpoint_dir=tmp_path).run(labelled, pool.assign(y=1.0), LookupOracle(labels, target_col="y"))
    stored_pool = frame_from_bytes((tmp_path / "inputs" / "pool.json.gz").read_bytes())
    assert "y" not in stored_pool.columns and len(stored_pool) == len(pool)
    stored_labels = frame_from_bytes((tmp_path / "inputs" / "oracle_labels.json.gz").read_bytes())
    assert sorted(stored_labels["id"]) == sorted(pool["id"])


def test_table_round_trip_is_exact():
    frame = pd.DataFrame({"id": ["001", "x"], "n": [1, 2], "v": [0.1 + 0.2, np.nextafter(1.0, 2.0)], "b": [True, False]})
    back = frame_from_bytes(frame_to_bytes(frame))
    pd.testing.assert_frame_equal(back, frame)
    assert back["id"].tolist() == ["001", "x"]


def test_refuses_finished_tampered_and_busy_checkpoints(tmp_path):
    labelled, pool, labels = synthetic()
    done = tmp_path / "done"
    make(budget=2, checkpoint_dir=done).run(labelled, pool, LookupOracle(labels, target_col="y"))
    with pytest.raises(CheckpointError, match="has finished"):
        ETAL.resume(done)

    busy = tmp_path / "busy"
    with pytest.raises(Killed):
        make(budget=9, checkpoint_dir=busy).run(labelled, pool, KillingOracle(labels, 2))
    with pytest.raises(CheckpointError, match="unfinished run"):
        make(budget=9, checkpoint_dir=busy).start(labelled, pool)
    resumed = ETAL.resume(busy, progress=False)
    with pytest.raises(CheckpointError, match="does not match"):
        resumed.run(labelled.iloc[1:], pool)

    path = busy / "inputs" / "pool.json.gz"
    payload = json.loads(gzip.decompress(path.read_bytes()))
    payload["data"][0][2] += 1.0  # change one feature value
    path.write_bytes(gzip.compress(json.dumps(payload).encode(), mtime=0))
    with pytest.raises(CheckpointError, match="changed after the run started"):
        ETAL.resume(busy)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        ETAL.resume(tmp_path / "nowhere")


def test_custom_oracle_must_be_given_again(tmp_path):
    labelled, pool, labels = synthetic()
    truth = labels.set_index("id")["y"]
    calls = {"n": 0}

    def dft(rows):
        calls["n"] += 1
        if calls["n"] > 2:
            raise Killed
        return truth.loc[rows["id"]].to_numpy()

    with pytest.raises(Killed):
        make(budget=5, checkpoint_dir=tmp_path).run(labelled, pool, dft)
    resumed = ETAL.resume(tmp_path, progress=False)
    with pytest.raises(Exception, match="needs an oracle"):
        resumed.run()
    result = ETAL.resume(tmp_path, lambda rows: truth.loc[rows["id"]].to_numpy(), progress=False).run()
    assert len(result.selected) == 5
