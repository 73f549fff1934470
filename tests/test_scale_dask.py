"""Scale-out on Dask (issue 13): the scheduler flag, task grids with retries, and the
partitioned Parquet pool. One LocalCluster (2 worker processes, loopback) for the module.

Truth: the local run of the same tasks (grid), the in-memory computation over the whole
pool with the public functions (pool), and the engine itself (``ETAL.suggest``).
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

pytest.importorskip("pyarrow")  # the Parquet pools (the test extra has it)

from etal import GPSurrogate, expected_entropy, expected_improvement
from etal.entropy import estimate_entropy
from etal.errors import EtalError, InputError, MissingExtraError
from etal.scale import cluster as cluster_module
from etal.scale.cluster import parse_scheduler, scheduler_client
from etal.scale.grid import run_tasks
from etal.scale.pool import count_groups, list_partitions, score_partitions
from etal.scale.suggest import pick_from_pool, pool_rows, suggest_from_pool

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
FEATURES = ["a", "b", "c"]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def client():
    """2 worker processes on 127.0.0.1 that can import this module (for the task helpers)."""
    pytest.importorskip("distributed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join([str(SRC), str(HERE), os.environ.get("PYTHONPATH", "")]))
        with scheduler_client("local:2") as c:
            yield c


# ------------------------------------------------------------------ the scheduler flag


@pytest.mark.parametrize("text, address, workers", [
    ("local:3", None, 3), (" LOCAL:1 ", None, 1), ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786", None),
    ("127.0.0.1:8786", "tcp://127.0.0.1:8786", None), ("tls://sched.example.org:8786", "tls://sched.example.org:8786", None),
])  # fmt: skip
def test_parse_scheduler(text, address, workers) -> None:
    spec = parse_scheduler(text)
    assert (spec.address, spec.n_workers) == (address, workers)


@pytest.mark.parametrize("text", ["local:0", "local:x", "local:", "", "tcp://nohost", "http//x:1", "a b:1"])
def test_parse_scheduler_rejects_bad_forms_with_both_forms_named(text) -> None:
    with pytest.raises(InputError, match="local"):
        parse_scheduler(text)


def test_missing_extra_names_the_extra_and_the_flag(monkeypatch) -> None:
    import argparse

    from etal.cli.scale_flags import add_scheduler_argument, client_from_args

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'etal\[dask\]'"):
        cluster_module.connect("local:1")
    parser = argparse.ArgumentParser()
    add_scheduler_argument(parser)
    with pytest.raises(MissingExtraError, match=r"^--scheduler: .*pip install 'etal\[dask\]'"):
        with client_from_args(parser.parse_args(["--scheduler", "local:2"])):
            pass
    with client_from_args(parser.parse_args([])) as nothing:
        assert nothing is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--scheduler", "local:none"])


def test_stage_bars_count_partitions_per_stage() -> None:
    import io

    from etal.cli.scale_flags import stage_bars

    out = io.StringIO()
    bars = stage_bars(file=out)
    for done in (1, 2):
        bars("predict", done, 3)
    bars("score", 1, 1)
    assert {k: (b.n, b.total) for k, b in bars._bars.items()} == {"predict": (2, 3), "score": (1, 1)}
    assert "pool: predict" in out.getvalue() and "pool: score: 100%" in out.getvalue()


def test_unreachable_scheduler_is_an_input_error() -> None:
    with pytest.raises(InputError, match="could not reach the Dask scheduler at tcp://127.0.0.1:9"):
        cluster_module.connect("127.0.0.1:9", timeout=1)


def test_without_a_scheduler_dask_is_not_imported(tmp_path) -> None:
    _write_pool(tmp_path / "pool", n=3000, n_files=3, seed=0)
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from etal import GPSurrogate
        from etal.scale.grid import run_tasks
        from etal.scale.pool import score_partitions
        assert run_tasks(pow, [(2, 3), (3, 2)]) == [8, 9]
        rng = np.random.default_rng(0)
        X = rng.normal(size=(30, 3)); y = X[:, 0] + 0.1 * rng.normal(size=30)
        pick = score_partitions({str(tmp_path / 'pool')!r}, surrogate=GPSurrogate().fit(X, y), values=y,
                                group="g0", group_col="grp", id_col="id", feature_cols=["a", "b", "c"])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not loaded, loaded
        print("ok", pick.id)
    """)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_local_cluster_listens_on_loopback_only(client) -> None:
    psutil = pytest.importorskip("psutil")
    pids = {os.getpid(), *client.run(os.getpid).values()}  # scheduler + nannies here, workers
    listening = [c.laddr for pid in pids for c in psutil.Process(pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert len(listening) >= 3 and {a.ip for a in listening} == {"127.0.0.1"}
    assert "bokeh" not in sys.modules  # no dashboard


def test_workers_must_run_the_same_etal_version(client, monkeypatch) -> None:
    import etal

    cluster_module._check_versions(client)  # same version: fine
    monkeypatch.setattr(etal, "__version__", "0.0.0-other")
    with pytest.raises(EtalError, match="must run etal 0.0.0-other like this client; .* has "):
        cluster_module._check_versions(client)


# ------------------------------------------------------------------ the experiment grid


@pytest.fixture(scope="module")
def grid_inputs():
    """An experiment's run list (etal + baselines, several seeds) on a small biased split."""
    from etal.data import from_frame, load_data
    from etal.experiment import ExperimentConfig, RunConfig, SplitConfig, plan_runs
    from etal.split import biased_split

    full = load_data("oqmd8")
    frame = full.labelled.groupby(full.group_col, group_keys=False).sample(frac=0.25, random_state=1)
    ds = from_frame(frame.reset_index(drop=True), group_col=full.group_col, target_col=full.target_col,
                    id_col=full.id_col, feature_cols=list(full.feature_cols))
    config = ExperimentConfig(
        split=SplitConfig(pool_size=120, seed=0),
        run=RunConfig(strategies=["etal", "random", "balanced"], budget=4, seeds=2, n_jobs=1),
    ).validate()
    split = biased_split(ds, pool_size=120, seed=0)
    specs = plan_runs(config, {0: split}, ds.group_col)
    columns = {"group_col": ds.group_col, "target_col": ds.target_col, "id_col": ds.id_col,
               "feature_cols": list(ds.feature_cols)}
    tasks = [(sp, split.labelled, split.pool, columns, config.run) for sp in specs]
    labels = [f"{sp.strategy}-seed{sp.seed}-split{sp.split_seed}" for sp in specs]
    return tasks, labels


def _comparable(outcome) -> dict:
    """A run's results without its timings."""
    result = outcome.result
    return {
        "history": result.history.drop(columns=["seconds"]),
        "entropies": result.entropies,
        "selected": list(result.selected),
        "stop": result.stop_reason,
        "final": result.labelled_final,
    }


def _assert_same_runs(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.spec == y.spec
        cx, cy = _comparable(x), _comparable(y)
        assert cx["selected"] == cy["selected"] and cx["stop"] == cy["stop"]
        for key in ("history", "entropies", "final"):
            pd.testing.assert_frame_equal(cx[key], cy[key], check_exact=True)


@pytest.fixture(scope="module")
def local_runs(grid_inputs):
    from etal.experiment import execute_run

    tasks, _ = grid_inputs
    return run_tasks(execute_run, tasks)


def test_experiment_grid_on_the_cluster_equals_the_local_run(client, grid_inputs, local_runs) -> None:
    from etal.experiment import execute_run

    tasks, labels = grid_inputs
    assert len(tasks) >= 5 and {t[0].strategy for t in tasks} == {"etal", "random", "balanced"}
    seen, finished = [], []
    remote = run_tasks(execute_run, tasks, client=client, labels=labels,
                       progress=lambda done, total: seen.append((done, total)),
                       on_result=lambda i, r: finished.append(i))
    _assert_same_runs(remote, local_runs)
    assert seen == [(i, len(tasks)) for i in range(1, len(tasks) + 1)]
    assert sorted(finished) == list(range(len(tasks)))
    # A random run differs between seeds: the comparison above can fail.
    random_runs = [o for o in local_runs if o.spec.strategy == "random"]
    assert random_runs[0].result.selected != random_runs[1].result.selected


def _die_once(marker_dir: str, label: str, func, *args, **kwargs):
    """Run ``func``; the first call for ``label`` kills its worker process instead (SIGKILL-like)."""
    log = Path(marker_dir) / "calls.log"
    with open(log, "a") as fh:
        fh.write(label + "\n")
    marker = Path(marker_dir) / f"{label}.killed"
    if label.startswith("kill") and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
    return func(*args, **kwargs)


def test_worker_killed_mid_grid_does_not_change_the_results(client, grid_inputs, local_runs, tmp_path) -> None:
    from etal.experiment import execute_run

    tasks, labels = grid_inputs
    victim = len(tasks) // 2
    names = [("kill-" if i == victim else "") + label for i, label in enumerate(labels)]
    pids_before = set(client.run(os.getpid).values())
    wrapped = [(str(tmp_path), name, execute_run, *args) for name, args in zip(names, tasks)]
    remote = run_tasks(_die_once, wrapped, client=client, labels=names, retries=2)
    _assert_same_runs(remote, local_runs)
    killed_pid = int((tmp_path / f"{names[victim]}.killed").read_text())
    assert killed_pid in pids_before  # a real worker process died ...
    client.wait_for_workers(2, timeout=60)
    assert killed_pid not in set(client.run(os.getpid).values())  # ... and was replaced
    calls = (tmp_path / "calls.log").read_text().split()
    assert calls.count(names[victim]) == 2  # the killed task ran again
    assert set(calls) == set(names) and len(calls) < 2 * len(tasks)  # the others were not all redone


def _flaky(marker: str, x: int) -> int:
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise OSError("transient failure")
    return x * x


def test_failed_task_is_retried_and_fails_without_retries(client, tmp_path) -> None:
    assert run_tasks(_flaky, [(str(tmp_path / "m1"), 3), (str(tmp_path / "m2"), 4)], client=client, retries=1) == [9, 16]
    with pytest.raises(OSError, match="transient failure"):
        run_tasks(_flaky, [(str(tmp_path / "m3"), 3)], client=client, retries=0)


def test_downstream_fits_as_tasks_equal_the_local_fits(client) -> None:
    from etal.evaluation import fit_and_score

    rng = np.random.default_rng(3)
    X, Xt = rng.normal(size=(80, 4)), rng.normal(size=(40, 4))
    y, yt = X @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.normal(size=80), Xt @ [1.0, -2.0, 0.5, 0.0]
    scopes = [("all", np.ones(40, dtype=bool)), ("half", np.arange(40) < 20)]
    tasks = [(model, seed, X, y, Xt, yt, scopes) for model in ("random_forest", "svr") for seed in (0, 1)]
    labels = [f"{m}-seed{s}" for m, s, *_ in tasks]
    assert run_tasks(fit_and_score, tasks, client=client, labels=labels) == run_tasks(fit_and_score, tasks)


# ------------------------------------------------------------------ the partitioned pool


def _write_pool(folder: Path, n: int, n_files: int, seed: int, other: float = 0.1, sort_by: str | None = None) -> pd.DataFrame:
    """A pool of ``n`` candidates of group g0 (plus a fraction ``other`` of group g1) in
    ``n_files`` Parquet files; rows sorted by ``sort_by`` make the partitions' stds differ."""
    rng = np.random.default_rng(seed)
    m = int(n * (1 + other))
    frame = pd.DataFrame(rng.normal(size=(m, 3)) * [1.5, 1.5, 0.5], columns=FEATURES)
    frame["grp"] = "g1"
    frame.loc[rng.permutation(m)[:n], "grp"] = "g0"
    if sort_by is not None:
        frame = frame.sort_values(sort_by, kind="stable").reset_index(drop=True)
    frame.insert(0, "id", np.arange(m) + 10_000_000)
    folder.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(np.array_split(np.arange(m), n_files)):
        frame.iloc[rows].to_parquet(folder / f"part-{i:04d}.parquet", index=False)
    return frame


def _labelled(n: int, seed: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, spread * (np.sin(1.3 * X[:, 0]) + 0.4 * X[:, 1]) + 0.05 * rng.normal(size=n)


def _in_memory_pick(frame: pd.DataFrame, model, y: np.ndarray, top: int) -> pd.DataFrame:
    """Independent truth: the whole group at once, the public functions, the engine's tie rule."""
    rows = frame[frame["grp"] == "g0"]
    mu, sigma = model.predict(rows[FEATURES].to_numpy(), approximate=False)
    h, h_sd = expected_entropy(y, mu, sigma)
    ei = expected_improvement(h, h_sd, estimate_entropy(y).entropy)
    order = np.lexsort((np.arange(ei.size), -h, -ei))[:top]
    return pd.DataFrame({"id": rows["id"].to_numpy()[order], "ei": ei[order], "expected_entropy": h[order],
                         "mean": mu[order], "std": sigma[order], "position": order})


@pytest.fixture(scope="module")
def big_pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big") / "pool"
    frame = _write_pool(folder, n=2_000_000, n_files=16, seed=11, other=0.05)
    X, y = _labelled(60, seed=5)
    model = GPSurrogate().fit(X, y)
    return folder, frame, model, y


def _check_against(pick, truth: pd.DataFrame) -> None:
    assert pick.id == truth["id"].iloc[0]
    assert pick.position == truth["position"].iloc[0]
    np.testing.assert_array_equal(pick.top["id"].to_numpy(), truth["id"].to_numpy())
    for col in ("ei", "expected_entropy", "mean", "std"):
        np.testing.assert_allclose(pick.top[col].to_numpy(), truth[col].to_numpy(), rtol=1e-9, atol=1e-12)


def test_two_million_candidates_in_16_partitions_give_the_single_machine_pick(client, big_pool) -> None:
    folder, frame, model, y = big_pool
    assert len(list_partitions(folder)) == 16 and int((frame["grp"] == "g0").sum()) == 2_000_000
    truth = _in_memory_pick(frame, model, y, top=10)
    stages = []
    remote = score_partitions(folder, surrogate=model, values=y, group="g0", group_col="grp", id_col="id",
                              feature_cols=FEATURES, client=client, progress=lambda *s: stages.append(s))
    assert remote.n_candidates == 2_000_000 and remote.n_partitions == 16 and not remote.approximate
    _check_against(remote, truth)
    assert ("score", 16, 16) in stages
    # The pick is where the pool says it is.
    row = pd.read_parquet(remote.file).iloc[remote.row]
    assert row["id"] == remote.id and row["grp"] == "g0"


@pytest.mark.slow
def test_two_million_candidates_locally_partition_by_partition(big_pool) -> None:
    folder, frame, model, y = big_pool
    local = score_partitions(folder, surrogate=model, values=y, group="g0", group_col="grp", id_col="id",
                             feature_cols=FEATURES)
    _check_against(local, _in_memory_pick(frame, model, y, top=10))


def test_partitions_with_different_std_ranges_score_exactly_as_one_call(tmp_path) -> None:
    """Partitions sorted by distance from the data have disjoint std ranges; the anchors keep
    every candidate's expected entropy that of one call over the whole pool."""
    frame = _write_pool(tmp_path / "pool", n=40_000, n_files=8, seed=2, other=0.0)
    X, y = _labelled(40, seed=1)
    model = GPSurrogate().fit(X, y)
    _, sigma = model.predict(frame[FEATURES].to_numpy())
    frame = frame.iloc[np.argsort(sigma, kind="stable")]
    for f in (tmp_path / "pool").iterdir():
        f.unlink()
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), 8)):
        frame.iloc[rows].to_parquet(tmp_path / "pool" / f"p{i}.parquet", index=False)
    pick = score_partitions(tmp_path / "pool", surrogate=model, values=y, group="g0", group_col="grp",
                            id_col="id", feature_cols=FEATURES, top=200)
    truth = _in_memory_pick(frame, model, y, top=200)
    np.testing.assert_array_equal(pick.top["id"].to_numpy(), truth["id"].to_numpy())
    np.testing.assert_allclose(pick.top["expected_entropy"], truth["expected_entropy"], rtol=1e-12, atol=0)


def test_huge_pool_screening_equals_the_engine(tmp_path, client) -> None:
    """>= 512 labelled rows and > 50,000 candidates: the surrogate's huge-pool std screens,
    the top 1,000 are re-scored exactly - the pick and its numbers equal ETAL.suggest."""
    from etal.engine import ETAL

    frame = _write_pool(tmp_path / "pool", n=60_000, n_files=6, seed=4, other=0.2)
    X, y = _labelled(520, seed=7)
    labelled = pd.DataFrame(X, columns=FEATURES).assign(grp="g0", y=y, id=np.arange(520))
    loop = ETAL(strategy="etal", group_col="grp", target_col="y", feature_cols=FEATURES, progress=False, fairness_stop=False)
    loop.start(labelled, frame[frame["grp"] == "g0"])
    engine = loop.suggest(1)
    (expected,) = loop.pending
    model = GPSurrogate().fit(X, y)
    pick = score_partitions(tmp_path / "pool", surrogate=model, values=y, group="g0", group_col="grp",
                            id_col="id", feature_cols=FEATURES, client=client)
    assert pick.approximate and "exact posterior for the top 1000" in pick.reason
    local = score_partitions(tmp_path / "pool", surrogate=model, values=y, group="g0", group_col="grp",
                             id_col="id", feature_cols=FEATURES)
    assert local.to_dict() | {"seconds": 0} == pick.to_dict() | {"seconds": 0}
    assert [pick.id] == engine
    assert pick.ei == pytest.approx(expected.ei, rel=1e-9)
    assert pick.expected_entropy == pytest.approx(expected.expected_entropy, rel=1e-12)


def _two_groups(tmp_path, n_pool: int):
    frame = _write_pool(tmp_path / "pool", n=n_pool, n_files=4, seed=8, other=1.0)
    Xa, ya = _labelled(40, seed=2, spread=0.3)  # g0: low entropy -> the target
    Xb, yb = _labelled(40, seed=3, spread=3.0)
    labelled = pd.concat([
        pd.DataFrame(Xa, columns=FEATURES).assign(grp="g0", y=ya),
        pd.DataFrame(Xb, columns=FEATURES).assign(grp="g1", y=yb),
    ], ignore_index=True).assign(id=np.arange(80))  # fmt: skip
    return frame, labelled


def test_pick_from_pool_targets_the_engines_group_and_skips_acquired(tmp_path) -> None:
    from etal.engine import ETAL

    frame, labelled = _two_groups(tmp_path, 4000)
    loop = ETAL(strategy="etal", group_col="grp", target_col="y", feature_cols=FEATURES, progress=False)
    loop.start(labelled, frame)
    engine = loop.suggest(1)
    cols = dict(group_col="grp", target_col="y", feature_cols=FEATURES)
    pick = pick_from_pool(labelled, tmp_path / "pool", **cols)
    assert pick.group == "g0" and [pick.id] == engine
    assert pick.ei == pytest.approx(loop.pending[0].ei, rel=1e-9)
    second = pick_from_pool(labelled, tmp_path / "pool", exclude_ids=[pick.id], **cols)
    assert second.id == pick.top["id"].iloc[1] and second.n_candidates == pick.n_candidates - 1
    assert count_groups(tmp_path / "pool", group_col="grp", id_col="id", exclude_ids=[pick.id]) == {
        "g0": 3999, "g1": 4000}


def test_batch_suggestions_equal_the_engines_greedy_batch(tmp_path, client) -> None:
    """k = 6 with fantasies: the target group changes within the batch (g0's entropy rises
    with its fantasies until g1 is lower), as in ETAL.suggest(6)."""
    from etal.engine import ETAL

    frame, labelled = _two_groups(tmp_path, 3000)
    labelled.loc[labelled["grp"] == "g1", "y"] *= 0.12  # g1 just above g0: the batch switches
    loop = ETAL(strategy="etal", group_col="grp", target_col="y", feature_cols=FEATURES, progress=False)
    loop.start(labelled, frame)
    engine = loop.suggest(6)
    picks = suggest_from_pool(labelled, tmp_path / "pool", k=6, group_col="grp", target_col="y",
                              feature_cols=FEATURES, client=client)
    assert [p.id for p in picks] == engine
    assert [p.group for p in picks] == [p.group for p in loop.pending]
    assert len({p.group for p in picks}) == 2
    np.testing.assert_allclose([p.ei for p in picks], [p.ei for p in loop.pending], rtol=1e-9)
    rows = pool_rows(picks)
    expected = frame.set_index("id").loc[engine].reset_index()
    pd.testing.assert_frame_equal(rows[expected.columns], expected, check_dtype=False)


def test_a_loop_over_a_pool_folder_equals_the_engines_run(tmp_path) -> None:
    """Label each pick (an oracle), append it, pick again with the cached surrogates: the
    acquisitions of ETAL.run with the pool in memory."""
    from etal.engine import ETAL
    from etal.oracles import LookupOracle

    frame, labelled = _two_groups(tmp_path, 1500)
    labelled.loc[labelled["grp"] == "g1", "y"] *= 0.12
    truth = frame.assign(y=np.sin(1.3 * frame["a"]) + 0.4 * frame["b"])
    oracle = LookupOracle(truth[["id", "y"]], id_col="id", target_col="y")
    loop = ETAL(strategy="etal", group_col="grp", target_col="y", feature_cols=FEATURES, progress=False, budget=8,
                patience="off", fairness_stop=False)
    result = loop.run(labelled, frame, oracle)
    cache: dict = {}
    current, acquired = labelled.copy(), []
    for _ in range(8):
        (pick,) = suggest_from_pool(current, tmp_path / "pool", group_col="grp", target_col="y",
                                    feature_cols=FEATURES, surrogates=cache, exclude_ids=acquired)
        row = pool_rows([pick]).merge(truth[["id", "y"]], on="id")
        current = pd.concat([current, row[current.columns]], ignore_index=True)
        acquired.append(pick.id)
    assert acquired == list(result.selected) and len(set(result.history["group"])) == 2


def test_pool_errors_name_the_file_and_column(tmp_path, client) -> None:
    X, y = _labelled(30, seed=0)
    model = GPSurrogate().fit(X, y)
    kwargs = dict(surrogate=model, values=y, group="g0", group_col="grp", id_col="id", feature_cols=FEATURES)
    with pytest.raises(InputError, match="no Parquet files"):
        score_partitions(tmp_path, **kwargs)
    frame = _write_pool(tmp_path / "pool", n=500, n_files=2, seed=0)
    with pytest.raises(InputError, match=r"part-0000.parquet: column\(s\) \['d'\] missing"):
        score_partitions(tmp_path / "pool", **{**kwargs, "feature_cols": ["a", "d"]})
    with pytest.raises(InputError, match=r"part-000[01].parquet: column\(s\) \['d'\] missing"):  # on a worker
        score_partitions(tmp_path / "pool", **{**kwargs, "feature_cols": ["a", "d"]}, client=client)
    with pytest.raises(InputError, match="no candidate of group 'g9'"):
        score_partitions(tmp_path / "pool", **{**kwargs, "group": "g9"})
    row = int(np.flatnonzero(frame["grp"].to_numpy() == "g0")[2])
    frame.loc[frame.index[row], "b"] = np.nan
    frame.iloc[:300].to_parquet(tmp_path / "pool" / "part-0000.parquet", index=False)
    with pytest.raises(InputError, match=rf"part-0000.parquet: feature 'b' is missing or not finite in row {row}"):
        score_partitions(tmp_path / "pool", **kwargs)
    with pytest.raises(InputError, match="criterion"):
        score_partitions(tmp_path / "pool", **{**kwargs, "criterion": "mc"})


def test_quality_benchmark_grid_on_the_cluster_equals_the_local_grid(client):
    """The quality benchmark's runs as Dask tasks: the same D curves as on this machine."""
    from etal.benchmark.runner import run_grid

    args = (["diabetes"], [0], ["etal-deficit", "random", "oracle"], 8)
    local = run_grid(*args, random_repeats=2, progress=False)
    remote = run_grid(*args, random_repeats=2, progress=False, client=client)
    assert [(r.dataset, r.split_seed, r.strategy, r.loop_seed) for r in remote] == [
        (r.dataset, r.split_seed, r.strategy, r.loop_seed) for r in local]
    for a, b in zip(local, remote):
        np.testing.assert_array_equal(a.deficit, b.deficit)
    assert len({tuple(r.deficit) for r in local if r.strategy == "random"}) == 2  # loop seeds differ
