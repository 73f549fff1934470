"""Shared test fixtures for the loop tests: small grouped tables and a 'killing' oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd

from etal.oracles import LookupOracle


def group_tables(groups, *, seed: int = 0, frequency: float = 4.0):
    """Grouped tables with a learnable target: ``(labelled, pool without 'y', labels)``.

    ``groups`` is a sequence of ``(name, rows, labelled_rows, spread)``; every group's
    target is ``spread * (sin(frequency * x0) + x1)`` plus noise of sd 0.05, so groups
    differ in entropy through ``spread``. Ids run 0..N-1 over the groups in order.
    """
    rng = np.random.default_rng(seed)
    frames, next_id = [], 0
    for name, n, n_labelled, spread in groups:
        x = rng.uniform(0, 1, (n, 2))
        y = spread * (np.sin(frequency * x[:, 0]) + x[:, 1]) + 0.05 * rng.normal(size=n)
        frame = pd.DataFrame({"id": np.arange(next_id, next_id + n), "grp": name, "x0": x[:, 0], "x1": x[:, 1], "y": y})
        frame["labelled"] = np.arange(n) < n_labelled
        frames.append(frame)
        next_id += n
    frame = pd.concat(frames, ignore_index=True)
    labelled = frame[frame["labelled"]].drop(columns="labelled").reset_index(drop=True)
    pool = frame[~frame["labelled"]].drop(columns="labelled").reset_index(drop=True)
    return labelled, pool.drop(columns="y"), pool[["id", "y"]]


class Killed(BaseException):
    """Stands for SIGKILL inside the process: nothing after it runs."""


class KillingOracle(LookupOracle):
    """Reveals labels like :class:`LookupOracle` until ``kill_after`` calls, then 'dies'."""

    def __init__(self, labels, kill_after):
        super().__init__(labels, id_col="id", target_col="y")
        self.kill_after = kill_after

    def __call__(self, rows):
        if self.n_calls >= self.kill_after:
            raise Killed
        return super().__call__(rows)
