"""An oracle that stands for SIGKILL inside the process (shared by the resume tests)."""

from __future__ import annotations

from etal.oracles import LookupOracle


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
