"""The Ray actor that embeds groups: one per GPU (or per CPU slot), the model loaded once.

It runs the same group worker as the local path (:func:`mmindex.pipeline.embed_group`, the same
stream, batching and staging), so its vectors are the local ones. Its rows go to the run's
staging table from this process (Lance fragments written on the actor's node); the driver
commits them once. This module never imports Ray: :mod:`mmindex.cluster.pool` wraps the class.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, replace
from typing import Any

from mmindex.config import Settings
from mmindex.embed import calibrate_token_budget
from mmindex.pipeline import RunPlan, embed_group, run_embedder


class GroupWorker:
    """Loads the model once at start; :meth:`embed` runs one group of a plan."""

    def __init__(self, settings: dict[str, Any]):
        t0 = time.perf_counter()
        s = Settings(**settings)
        emb = run_embedder(s)  # cached per process: every group of every run reuses it
        # each actor fits the batch size to its own GPU (None on CPU: the plan's budget stays)
        self.fitted = calibrate_token_budget(emb, s.token_budget, s.gpu_memory_fraction)
        self.load_s = time.perf_counter() - t0

    def where(self) -> dict[str, Any]:
        """Which process and node this actor is (for logs and the fault tests)."""
        import ray

        ctx = ray.get_runtime_context()
        return {"pid": os.getpid(), "host": socket.gethostname(), "node_id": ctx.get_node_id(),
                "load_s": round(self.load_s, 3), "token_budget": (self.fitted or {}).get(
                    "token_budget")}

    def embed(self, plan: dict[str, Any], group: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Embed group ``group`` of ``plan`` into staging; its :class:`GroupResult` as a dict
        and where it ran."""
        p = RunPlan(**plan)
        if self.fitted:
            p = replace(p, settings={**p.settings, "token_budget": self.fitted["token_budget"]})
        return asdict(embed_group(p, group)), self.where()
