"""Case ``search``: ANN latency and recall@10 against exact search, at the store's index settings.

A LanceDB table of clustered synthetic unit vectors (200k x 1024; quick 20k), indexed exactly as
:func:`mmindex.index.build_indexes` does (IVF_PQ, cosine, partitions = sqrt(rows), sub-vectors =
dims / 16). Queries are held-out vectors from the same distribution. Ground truth is exact
cosine top-10 (numpy). For each (nprobes, refine_factor) of the sweep: recall@10 and p50/p95
latency of ``tbl.search(q).limit(10)`` one query at a time; exact search through LanceDB
(``bypass_vector_index``) is timed for comparison.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import clustered_vectors
from mmindex.embed.throughput import percentile
from mmindex.search import ANN_NPROBES, ANN_REFINE

SWEEP_NPROBES = (10, 20, 50, 100)
SWEEP_REFINE = (None, 5, 20)
TARGET_RECALL = 0.90


def _latencies(tbl: Any, queries: np.ndarray, ids: np.ndarray, truth: np.ndarray, *,
               nprobes: int | None, refine: int | None, exact: bool = False) -> dict[str, Any]:
    times, hits = [], 0
    for q, t in zip(queries, truth, strict=True):
        t0 = time.perf_counter()
        b = tbl.search(q).distance_type("cosine").select(["id", "_distance"]).limit(10)
        if exact:
            b = b.bypass_vector_index()
        else:
            b = b.nprobes(nprobes) if nprobes else b
            b = b.refine_factor(refine) if refine else b
        got = b.to_arrow()["id"].to_numpy()
        times.append(time.perf_counter() - t0)
        hits += len(set(got.tolist()) & set(ids[t].tolist()))
    return {"nprobes": nprobes, "refine_factor": refine,
            "recall@10": round(hits / (10 * len(queries)), 4),
            "p50_ms": round(1000 * percentile(times, 50), 2),
            "p95_ms": round(1000 * percentile(times, 95), 2)}


def run(quick: bool, rows: int | None = None, dims: int = 1024, queries: int | None = None,
        work: Path | None = None) -> dict[str, Any]:
    import lancedb
    import pyarrow as pa
    from lancedb.index import IvfPq

    n = rows if rows is not None else (20_000 if quick else 200_000)
    nq = queries if queries is not None else (50 if quick else 100)
    data = clustered_vectors(n + nq, dims, clusters=max(10, n // 200))
    base, qs = data[:n], data[n:]
    ids = np.arange(n, dtype=np.int64)
    truth = np.argsort(-(qs @ base.T), axis=1)[:, :10]  # exact cosine: rows are unit vectors
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        db = lancedb.connect(str(Path(tmp) / "db"))
        flat = pa.FixedSizeListArray.from_arrays(pa.array(base.reshape(-1)), dims)
        tbl = db.create_table("vectors", pa.table({"id": pa.array(ids), "vector": flat}))
        del flat
        partitions, sub_vectors = max(1, int(n ** 0.5)), max(1, dims // 16)
        t0 = time.perf_counter()
        tbl.create_index("vector", config=IvfPq(distance_type="cosine", num_partitions=partitions,
                                                num_sub_vectors=sub_vectors))
        build_s = time.perf_counter() - t0
        exact = _latencies(tbl, qs, ids, truth, nprobes=None, refine=None, exact=True)
        default = _latencies(tbl, qs, ids, truth, nprobes=None, refine=None)
        ours = _latencies(tbl, qs, ids, truth, nprobes=ANN_NPROBES, refine=ANN_REFINE)
        sweep = [_latencies(tbl, qs, ids, truth, nprobes=p, refine=r)
                 for p in SWEEP_NPROBES for r in SWEEP_REFINE]
    ok = [x for x in sweep if x["recall@10"] >= TARGET_RECALL]
    best = min(ok, key=lambda x: x["p95_ms"]) if ok else max(sweep, key=lambda x: x["recall@10"])
    return {"rows": n, "dims": dims, "queries": nq, "clusters": max(10, n // 200),
            "index": {"type": "IVF_PQ", "distance": "cosine", "num_partitions": partitions,
                      "num_sub_vectors": sub_vectors, "build_s": round(build_s, 2)},
            "exact": exact, "lancedb_defaults": default, "mmindex_ann": ours, "sweep": sweep,
            "recommended": best, "target_recall": TARGET_RECALL}
