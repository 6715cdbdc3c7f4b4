"""A pool of long-lived Ray actors that embed a run's groups; the driver commits once.

Ray is the engine and nothing more: the plan, the commit and the writer lock stay with the
caller (the library's :func:`~mmindex.pipeline.run_embed` or the Prefect flow's tasks). Each
actor (:class:`~mmindex.cluster.worker.GroupWorker`) loads the model once and appends its rows
to the run's staging table; the driver creates that table first, because concurrent *appends*
and deletes of different rows from several processes are safe in Lance (checked here: 4
processes x 15 delete+append rounds on one table, every row once) while concurrent creates race.

When an actor or its node dies mid-group, Ray restarts the actor (``max_restarts=-1``: it loads
the model again, on any node with room) and the group fails with :class:`WorkerLostError`
(transient). :meth:`RayPool.run` retries it ``ray_group_retries`` times; in the flow, Prefect's
task retries do. A retried group reuses the rows the lost actor had staged, and staging holds
one row per id (a re-staged id replaces its earlier row), so nothing is lost or doubled.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from mmindex import index as ix
from mmindex.config import Settings
from mmindex.embed import Counts, GroupResult, Progress
from mmindex.errors import ConfigError, WorkerLostError
from mmindex.pipeline import RunPlan

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 600.0  # a large model's first load from a network disk can take minutes
_POOLS: dict[tuple, RayPool] = {}
_LOCK = threading.Lock()


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("executor=ray needs Ray. Help: pip install -c requirements.lock "
                          "-e '.[ray]' (or set executor=local)") from None
    return ray


def connect(s: Settings) -> Any:
    """Join the cluster at ``ray_address`` (or start a local Ray runtime); the ``ray`` module.

    Raises:
        WorkerLostError: the address does not answer (transient: the flow retries).
    """
    ray = _ray()
    if not ray.is_initialized():
        _check_reachable(s.ray_address)
        with warnings.catch_warnings():
            # a local runtime starts Ray's daemons with subprocess (fork, then exec at once in
            # C): LanceDB's warning about state shared with a forked child does not apply
            warnings.filterwarnings("ignore", "lancedb fork support", RuntimeWarning)
            ray.init(address=s.ray_address or None, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False)
    return ray


def _check_reachable(address: str | None, timeout_s: float = 10.0) -> None:
    """Fail in seconds on a dead ``host:port`` (``ray.init`` itself waits minutes for it)."""
    import socket

    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as exc:
        raise WorkerLostError(f"cannot reach the Ray cluster at {address} ({exc}). Help: check "
                              "ray_address and that `ray status` works on the head") from exc


class RayPool:
    """Long-lived embedding actors on a Ray cluster (see the module docstring)."""

    def __init__(self, s: Settings):
        from mmindex.cluster.worker import GroupWorker

        ray = self.ray = connect(s)
        res = ray.cluster_resources()
        gpus = s.ray_num_gpus if s.ray_num_gpus is not None else (1 if res.get("GPU") else 0)
        n = s.ray_actors or (int(res.get("GPU", 0) // gpus) if gpus
                             else int(res.get("CPU", 1) // s.ray_num_cpus))
        if n < 1:
            raise ConfigError(f"the Ray cluster ({res}) has no room for one actor of "
                              f"{s.ray_num_cpus} CPU / {gpus} GPU. Help: lower ray_num_cpus "
                              "or ray_num_gpus, or add nodes")
        remote = ray.remote(GroupWorker).options(
            num_cpus=s.ray_num_cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=0,
            scheduling_strategy="SPREAD")
        self.actors = [remote.remote(s.transport()) for _ in range(n)]
        ready = [a.where.remote() for a in self.actors]
        done, waiting = ray.wait(ready, num_returns=n, timeout=READY_TIMEOUT_S)
        if waiting:
            self.close()
            raise ConfigError(f"{len(waiting)} of {n} Ray actors did not start within "
                              f"{READY_TIMEOUT_S:.0f} s (cluster: {res}). Help: set ray_actors "
                              "to what the cluster has room for")
        self.where = [ray.get(r) for r in ready]
        log.info("ray: %d actor(s) of %s CPU / %s GPU ready on %d node(s)", n, s.ray_num_cpus,
                 gpus, len({w["node_id"] for w in self.where}))
        self._idle: queue.Queue = queue.Queue()
        for a in self.actors:
            self._idle.put(a)
        self.retries = s.ray_group_retries

    def run_group(self, plan: RunPlan, group: int) -> GroupResult:
        """One attempt at one group, on the next idle actor (thread-safe).

        Raises:
            WorkerLostError: the actor or its node died (Ray restarts the actor; retry).
            The group's own error (``StorageError``, ``ModelUnavailableError``...) as raised.
        """
        from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError

        try:
            actor = self._idle.get(timeout=READY_TIMEOUT_S)
        except queue.Empty:
            raise WorkerLostError(f"group {group}: no Ray actor came back within "
                                  f"{READY_TIMEOUT_S:.0f} s. Help: check `ray status` (nodes "
                                  "lost, no room for ray_actors)") from None
        try:
            res, where = self.ray.get(actor.embed.remote(asdict(plan), group))
        except RayTaskError as exc:  # the group raised: the library's error, unwrapped
            self._idle.put(actor)
            raise (exc.cause if isinstance(exc.cause, BaseException) else exc) from None
        except (RayActorError, ActorUnavailableError) as exc:
            # Ray restarts the actor (the model loads again); it rejoins the pool once it
            # answers, while the group is retried on whichever actor is idle first
            threading.Thread(target=self._rejoin, args=(actor,), daemon=True).start()
            raise WorkerLostError(f"group {group}: its Ray actor died ({type(exc).__name__}). "
                                  "Help: transient, the group is retried on a restarted actor; "
                                  "if it repeats, look at the Ray nodes' memory and logs") from exc
        self._idle.put(actor)
        log.info("group %d ran on node %s (pid %s)", group, where["node_id"][:12], where["pid"])
        return GroupResult(**res)

    def _rejoin(self, actor: Any) -> None:
        """Put a restarted actor back in the pool once it answers (dropped if it never does)."""
        from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

        deadline = time.monotonic() + READY_TIMEOUT_S
        while self.actors and time.monotonic() < deadline:
            try:
                self.ray.get(actor.where.remote(), timeout=30)
            except (ActorUnavailableError, GetTimeoutError):
                time.sleep(0.5)  # still restarting, or waiting for room on a node
            except (RayActorError, Exception):  # noqa: BLE001 - gone, or the pool was closed
                break
            else:
                self._idle.put(actor)
                return
        if self.actors:
            log.warning("ray: an actor did not come back; the pool goes on with the others")

    def run(self, plan: RunPlan, progress=None) -> list[GroupResult]:
        """Every group of ``plan`` on the actors, each retried ``ray_group_retries`` times when
        its actor dies; the progress callback sees the finished groups' counts."""
        prepare(plan)
        total, lock = Counts(), threading.Lock()

        def one(g: int) -> GroupResult:
            for attempt in range(self.retries + 1):
                try:
                    r = self.run_group(plan, g)
                    break
                except WorkerLostError as exc:
                    if attempt == self.retries:
                        raise
                    log.warning("%s: retry %d of %d", exc, attempt + 1, self.retries)
            with lock:
                total.add(r)
                if progress:
                    progress(Progress(total.seen, plan.total_items, total.counts()))
            return r

        with ThreadPoolExecutor(len(self.actors), thread_name_prefix="mmindex-ray") as ex:
            results = list(ex.map(one, range(len(plan.groups))))
        tidy(plan)
        return results

    def close(self) -> None:
        """Stop the actors (their GPUs and memory return to the cluster)."""
        actors, self.actors = self.actors, []
        for a in actors:
            try:
                self.ray.kill(a)
            except Exception:  # noqa: BLE001 - already dead, or the cluster is gone
                pass


def prepare(plan: RunPlan) -> RayPool:
    """Before a run's groups go out: the pool started and the staging table created (the
    actors then only append to it)."""
    s = plan.settings_obj()
    ix.Staging(ix.connect(s), plan.table, plan.dims, plan.multivector_dims,
               parts=plan.part_columns).ensure()
    return pool_for(s)


def tidy(plan: RunPlan) -> None:
    """After the groups: an empty staging table (every item unchanged) is dropped."""
    staging = ix.Staging(ix.connect(plan.settings_obj()), plan.table, plan.dims,
                          plan.multivector_dims, parts=plan.part_columns)
    if not staging.count():
        staging.drop()


def pool_for(s: Settings) -> RayPool:
    """This process's pool for settings ``s`` (started once; reused by every run and task).

    One pool per process: a pool for other settings (another model) is stopped first, or its
    actors would hold the GPUs the new ones wait for.
    """
    key = (s.ray_address, s.model, s.device, str(s.cache_dir), s.document_instruction,
           s.query_instruction, s.model_threads, s.ray_actors, s.ray_num_gpus, s.ray_num_cpus)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None or not pool.ray.is_initialized():
            for other in _POOLS.values():
                other.close()
            _POOLS.clear()
            pool = _POOLS[key] = RayPool(s)
        return pool


def shutdown(leave: bool = True) -> None:
    """Stop every pool's actors and (``leave``) disconnect from the Ray cluster."""
    with _LOCK:
        for pool in _POOLS.values():
            pool.close()
        _POOLS.clear()
        ray = _ray()
        if leave and ray.is_initialized():
            ray.shutdown()


class RayExecutor:
    """``run_embed(..., executor=RayExecutor(settings))``: the groups on a Ray actor pool."""

    def __init__(self, s: Settings):
        self.settings = s

    def __call__(self, plan: RunPlan, progress=None) -> list[GroupResult]:
        return pool_for(self.settings).run(plan, progress)
