"""Case ``search_modes``: every search mode an index offers, on its golden set, in one table.

First stages: ``vector``, ``fts``, ``hybrid`` and ``vector:COLUMN`` for each extra vector column
of the table (``vector_text``, ``vector_image``, ``vector_fused``, ... whatever is there); each
alone, ``+rerank`` (Qwen3-VL-Reranker over its top ``rerank_top``) and ``+diversify`` (k-means,
5 clusters over the top 50, interleaved). Per mode: nDCG@10, hit@5, ILD@10 (mean pairwise cosine
distance of the top 10) and the cost per query in ms (median over the queries, mean beside it:
the ranking and its post-steps, after warm-up queries per mode; the query's embedding, shared
by all modes, is reported once as ``embed_ms_per_query``). The same code as
``mmindex search`` and ``mmindex evaluate`` (:func:`mmindex.evaluation.runner.golden_run`).

Without ``db``/``index`` it embeds the shipped sample (``data/sample``, ``use-multilingual``)
into a temporary LanceDB first, like the quickstart.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


def _sample_db(work: Path, model: str) -> str:
    env = dict(os.environ, MMINDEX_DB=str(work / "db"), MMINDEX_CONFIG=os.devnull,
               MMINDEX_MODEL=model, MMINDEX_FTS_METADATA_FIELDS='["caption_ko"]')
    subprocess.run([sys.executable, "-m", "mmindex", "embed", str(SAMPLE / "manifest.jsonl"),
                    "--index", "sample", "--no-prefect", "--queries",
                    str(SAMPLE / "golden" / "queries.jsonl"), "--qrels",
                    str(SAMPLE / "golden" / "qrels.tsv")],
                   check=True, env=env, capture_output=True, text=True)
    return str(work / "db")


def extra_vector_columns(table: Any) -> list[str]:
    """Vector columns other than ``vector`` (fixed-size lists of floats), in schema order."""
    import pyarrow as pa

    return [f.name for f in table.schema if f.name != "vector" and f.name.startswith("vector")
            and pa.types.is_fixed_size_list(f.type)]


def run(quick: bool, db: str | None = None, index: str = "sample", queries: str | None = None,
        qrels: str | None = None, reranker: str = "tiny-qwen3-vl-reranker",
        rerank_top: int | None = None, model: str = "use-multilingual", threads: int = 1,
        work: Path | None = None) -> dict[str, Any]:
    """Measure every mode (see the module); ``threads``: torch's threads for the reranker (1:
    the figures in docs/search-modes.md, steadier on a shared machine)."""
    import torch

    torch.set_num_threads(threads)
    from mmindex.config import Settings
    from mmindex.evaluation.golden import load_golden
    from mmindex.search import open_index

    rerank_top = rerank_top or (10 if quick else 20)
    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-modes-")
        db = _sample_db(work or Path(tmp.name), model)
    golden = load_golden(queries or str(SAMPLE / "golden" / "queries.jsonl"),
                         qrels or str(SAMPLE / "golden" / "qrels.tsv"), name=index)
    settings = Settings().with_overrides(db=db, rerank_model=reranker, rerank_top=rerank_top)
    idx = open_index(index, db, settings=settings)
    out = measure(idx, golden)
    if tmp is not None:
        tmp.cleanup()
    return out


def measure(idx: Any, golden: Any) -> dict[str, Any]:
    """Every mode of ``idx`` on ``golden`` (the reranker: ``idx.rerank_model``)."""
    from mmindex.backends import load_reranker
    from mmindex.embed.throughput import percentile
    from mmindex.evaluation.diversity import run_diversity
    from mmindex.evaluation.metrics import evaluate_run
    from mmindex.evaluation.runner import golden_run, query_vectors

    t0 = time.perf_counter()
    vectors = query_vectors(idx, golden)
    embed_ms = 1000 * (time.perf_counter() - t0) / len(golden.queries)
    firsts = ["vector", "fts", "hybrid"] + [f"vector:{c}" for c in extra_vector_columns(idx.table)]
    # load the reranker before timing (its first load builds the tiny twin)
    load_reranker(idx.rerank_model, device=idx.device, cache_dir=idx.cache_dir)
    rows = []
    # warm-up: the first query, and the first Korean one (the Korean analyser loads on first
    # use: 2.3 s here, which would otherwise land in one mode's mean)
    korean = [i for i, q in enumerate(golden.queries)
              if any("\uac00" <= ch <= "\ud7a3" for ch in q.text or "")][:1]
    picks = sorted({0, *korean})
    warm = dataclasses.replace(golden, queries=[golden.queries[i] for i in picks])
    for first in firsts:
        for mode in (first, f"{first}+rerank", f"{first}+diversify"):
            golden_run(idx, warm, mode, [vectors[i] for i in picks])  # opens indexes, decoders
            times: list[float] = []
            last = [time.perf_counter()]

            def tick(times=times, last=last) -> None:
                now = time.perf_counter()
                times.append(now - last[0])
                last[0] = now
            run_ = golden_run(idx, golden, mode, vectors, tick)
            m = evaluate_run(run_, golden.qrels, golden_version=golden.version, mode=mode)
            div = run_diversity(idx, run_)
            rows.append({"mode": mode, "ndcg@10": round(m.aggregate["ndcg@10"], 4),
                         "hit@5": round(m.aggregate["hit@5"], 4),
                         "ild@10": round(div.get("ild@10", 0.0), 4),
                         # median: robust to other jobs on a shared machine; mean beside it
                         "ms_per_query": round(1000 * percentile(times, 50), 1),
                         "ms_mean": round(1000 * sum(times) / len(times), 1)})
    import torch

    return {"index": idx.name, "table": idx.table_name, "model": idx.model,
            "torch_threads": torch.get_num_threads(),
            "queries": len(golden.queries), "reranker": idx.rerank_model,
            "rerank_top": idx.rerank_top,
            "diversify": {"top": idx.diversify_top, "clusters": idx.diversify_clusters},
            "embed_ms_per_query": round(embed_ms, 1), "modes": rows,
            "table_markdown": markdown(rows)}


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| mode | nDCG@10 | hit@5 | ILD@10 | ms / query (median, mean) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['mode']} | {r['ndcg@10']:.3f} | {r['hit@5']:.3f} | {r['ild@10']:.3f} | "
              f"{r['ms_per_query']:.1f}, {r['ms_mean']:.1f} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m bench.search_modes: print the table for the sample
    import json

    out = run(quick="--quick" in sys.argv)
    print(json.dumps({k: v for k, v in out.items() if k != "table_markdown"}, indent=1))
    print(out["table_markdown"])
