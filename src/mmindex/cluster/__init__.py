"""Scale-out: a run's groups embedded on a pool of Ray actors, one commit by the driver.

- :mod:`~mmindex.cluster.pool`: :class:`RayPool` (long-lived actors, retries when an actor or a
  node dies), :class:`RayExecutor` (what ``run_embed`` takes for ``executor=ray``).
- :mod:`~mmindex.cluster.worker`: the actor, running the local path's group worker.

Ray is imported only here and only when ``executor=ray`` (the pip extra ``ray``); see
docs/scale-out.md.
"""

from __future__ import annotations

from mmindex.cluster.pool import RayExecutor, RayPool, pool_for, prepare, shutdown, tidy

__all__ = ["RayExecutor", "RayPool", "pool_for", "prepare", "shutdown", "tidy"]
