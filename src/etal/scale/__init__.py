"""Scale-out on Dask (``dask.distributed``): experiment grids and partitioned candidate pools.

* :mod:`etal.scale.cluster` - parse a scheduler (``ADDRESS`` or ``local:N``) and make a
  ``distributed.Client``;
* :mod:`etal.scale.grid` - run independent tasks (experiment runs, downstream fits) on
  the cluster with retries, results in a stable order;
* :mod:`etal.scale.pool` - score a folder of Parquet files of candidates, partition by
  partition, on the cluster or locally, and return the pick the in-memory engine makes;
* :mod:`etal.scale.suggest` - the engine's target group and (batch) picks from such a
  pool, for ``etal campaign suggest`` and ``etal run`` on a pool folder.

Nothing here imports Dask until a scheduler is given: ``import etal.scale`` is cheap and
works without the ``dask`` extra (``pip install 'etal[dask]'``). See ``docs/scale-out.md``.
"""

from __future__ import annotations
