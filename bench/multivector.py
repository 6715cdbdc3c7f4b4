"""Multi-vector (MaxSim) search: LanceDB's multivector search vs the pooled first stage.

``python -m bench.multivector [--docs 2000] [--tokens 128] [--dims 128] [--queries 50] [--ivf]``

A LanceDB table on disk laid out as a late-interaction run writes it (``vector`` = pooled,
``multivector`` = token vectors; :mod:`mmindex.index.multivector`). Synthetic documents: each has
a few topics, its tokens are noisy copies of them (as a page's patches are of its content);
queries are a few noisy tokens of one document's topics. Ground truth is exact MaxSim in numpy.
For LanceDB's multivector search over every row, and for the pooled first stage re-scored by
MaxSim at N = 20, 100, 500: p50/p95 latency one query at a time and recall@10 against the truth.
``--ivf`` then builds LanceDB's IVF_PQ index on the multivector column (64 partitions, 8
sub-vectors, cosine) and measures it at a few nprobes/refine settings. Ratios come from the same
run.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pyarrow as pa

from mmindex.embed.throughput import percentile
from mmindex.index import multivector as mv


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def make_corpus(docs: int, tokens: int, dims: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    topics = _unit(rng.normal(size=(docs // 4, dims)))
    own = rng.integers(0, len(topics), size=(docs, 3))
    corpus = [_unit(topics[own[d, rng.integers(0, 3, tokens)]]
                    + 0.9 * rng.normal(size=(tokens, dims)) / np.sqrt(dims) * 4)
              for d in range(docs)]
    return corpus, topics, own, rng


def main(argv: list[str] | None = None) -> None:
    import lancedb

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=2000)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--dims", type=int, default=128)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--ivf", action="store_true", help="also measure an IVF_PQ index")
    a = p.parse_args(argv)
    corpus, topics, own, rng = make_corpus(a.docs, a.tokens, a.dims)
    pooled = _unit(np.stack([c.mean(0) for c in corpus]))
    queries = []
    for _ in range(a.queries):
        d = rng.integers(0, a.docs)
        t = topics[own[d, rng.integers(0, 3, 12)]]
        queries.append(_unit(t + rng.normal(size=t.shape) / np.sqrt(a.dims) * 4))
    truth = [set(np.argsort([-mv.maxsim(q, c) for c in corpus])[:10].tolist()) for q in queries]
    with tempfile.TemporaryDirectory() as tmp:
        db = lancedb.connect(tmp)
        t0 = time.perf_counter()
        tbl = db.create_table("t", pa.table({
            "id": [str(i) for i in range(a.docs)],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(pooled.reshape(-1)), a.dims),
            mv.COLUMN: mv.column(corpus, a.dims)}))
        write_s = time.perf_counter() - t0
        print(f"{a.docs} docs x {a.tokens} tokens x {a.dims} dims; {a.queries} queries of 12 "
              f"tokens; written in {write_s:.1f} s")
        print(f"{'search':<28} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>10}")
        cases = [(f"pooled top {n} + MaxSim", lambda q, n=n: mv.search(tbl, q, k=10,
                                                                       first_stage=n))
                 for n in (20, 100, 500)]
        _measure([("lancedb multivector (all)", lambda q: mv.search(tbl, q, k=10)), *cases],
                 queries, truth)
        if a.ivf:
            from lancedb.index import IvfPq

            t0 = time.perf_counter()
            tbl.create_index(mv.COLUMN, config=IvfPq(distance_type="cosine", num_partitions=64,
                                                     num_sub_vectors=8))
            print(f"IVF_PQ on {mv.COLUMN} built in {time.perf_counter() - t0:.1f} s")

            def ivf(q, nprobes, refine):
                b = (tbl.search(q, vector_column_name=mv.COLUMN).distance_type("cosine")
                     .select(["id", "_distance"]).limit(10).nprobes(nprobes))
                b = b.refine_factor(refine) if refine else b
                return [(i, 0.0) for i in b.to_arrow()["id"].to_pylist()]
            _measure([(f"ivf_pq nprobes {n} refine {r}", lambda q, n=n, r=r: ivf(q, n, r))
                      for n, r in ((8, None), (16, 10), (32, 10))], queries, truth)


def _measure(cases, queries, truth) -> None:
    for name, fn in cases:
        times, hits = [], 0
        for q, want in zip(queries, truth, strict=True):
            t0 = time.perf_counter()
            got = fn(q)
            times.append(time.perf_counter() - t0)
            hits += len({int(i) for i, _ in got} & want)
        print(f"{name:<28} {percentile(times, 50) * 1e3:>8.1f} "
              f"{percentile(times, 95) * 1e3:>8.1f} {hits / (10 * len(queries)):>10.3f}")


if __name__ == "__main__":
    main()
