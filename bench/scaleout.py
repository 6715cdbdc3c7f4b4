"""Case ``scaleout``: the Ray executor against the local path, and 1 vs 2 Ray worker nodes.

One process, one corpus (synthetic short texts, all-MiniLM-L6-v2), a fresh index per run:

1. ``local``: ``run_embed`` in this process (torch's threads: both cores), measured before and
   after the Ray runs (the faster counts: the shared host's speed drifts), then ``local_1thread``
   (``model_threads=1``, the thread count each Ray actor gets);
2. ``ray_1node``: a local ``ray.cluster_utils.Cluster`` (a head with no CPUs to hand out, one
   worker node of 1 CPU), one actor;
3. ``ray_2node``: a second worker node of 1 CPU joins, two actors.

Each Ray configuration first runs once unmeasured (the actors start and load the model: that
cost is reported as ``start_s``), then the measured run. Ratios (items/s over items/s) are taken
within this one run. **Caveat:** every "node" here shares the same 2 vCPUs, so 2 nodes cannot be
2x of 1 node, and Ray's per-actor threads (1) differ from the local path's (2): this shows what
Ray costs on one box and that groups do spread, not how a real multi-GPU cluster scales.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common as c
from bench.data import text_manifest


def _ray_run(manifest: Path, s: Any, index: str) -> dict[str, Any]:
    from mmindex.cluster import RayExecutor

    return c.timed_embed(str(manifest), index, s, executor=RayExecutor(s))


def run(quick: bool, n: int | None = None, model: str = "all-minilm-l6-v2",
        work: Path | None = None) -> dict[str, Any]:
    """Quick: 2,000 items; full: 10,000. Groups of n/8 items, so two actors share the work."""
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        return {"skipped": "ray is not installed: pip install -c requirements.lock -e '.[ray]'"}
    import mmindex.cluster
    from bench import netns

    netns.require("the scaleout case's Ray nodes")  # Ray binds to the interface address else
    n = n or (2000 if quick else 10_000)
    os.makedirs("/tmp/r", exist_ok=True)
    os.environ["RAY_TMPDIR"] = "/tmp/r"  # Ray's socket paths must stay short
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        w = Path(tmp)
        manifest = text_manifest(w / "items.jsonl", n)
        s = c.bench_settings(w, model, group_items=max(1, n // 8))
        c.load_model(s)
        local_runs = [c.timed_embed(str(manifest), "local-a", s)]
        cluster = Cluster(initialize_head=True,
                          head_node_args={"num_cpus": 0, "include_dashboard": False})
        try:
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            out: dict[str, Any] = {"items": n, "model": model}
            for nodes in (1, 2):
                if nodes == 2:
                    cluster.add_node(num_cpus=1)
                    cluster.wait_for_nodes()
                rs = s.with_overrides(executor="ray", ray_address=cluster.address,
                                      ray_actors=nodes)
                t0 = time.perf_counter()
                mmindex.cluster.pool_for(rs)  # actors start, each loads the model
                start = round(time.perf_counter() - t0, 2)
                _ray_run(manifest, rs, f"warm{nodes}")  # the actors' first batches (warm-up)
                out[f"ray_{nodes}node"] = {**_ray_run(manifest, rs, f"ray{nodes}"),
                                           "start_s": start, "actors": nodes}
                mmindex.cluster.shutdown(leave=False)
        finally:
            mmindex.cluster.shutdown()
            cluster.shutdown()
        local_runs.append(c.timed_embed(str(manifest), "local-b", s))
        # last: torch's thread count stays 1 in this process afterwards
        out["local_1thread"] = c.timed_embed(str(manifest), "local-1t",
                                             s.with_overrides(model_threads=1))
    local = max(local_runs, key=lambda x: x["items_per_s"])
    out.update(local=local, local_items_per_s=[x["items_per_s"] for x in local_runs],
               load_average=c.load_average())
    r1, r2 = out["ray_1node"]["items_per_s"], out["ray_2node"]["items_per_s"]
    out.update(ray1_vs_local=c.ratio(r1, local["items_per_s"]),
               ray2_vs_local=c.ratio(r2, local["items_per_s"]),
               ray2_vs_ray1=c.ratio(r2, r1),
               ray1_vs_local_1thread=c.ratio(r1, out["local_1thread"]["items_per_s"]),
               caveat="all nodes share this machine's 2 vCPUs; one torch thread per actor")
    return out
