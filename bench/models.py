"""``python -m bench.models``: retrieval quality and speed of the text models that install offline.

For each model (all-minilm-l6-v2, multilingual-e5-small-q4, use-multilingual) and each set --
KorQuAD 1.0 dev (Korean, converted in memory, :mod:`bench.korquad`) and Vaswani (English, through
:func:`mmindex.evaluation.trec.trec_to_beir`), both beside the project in ``../shared/data`` --
documents and queries are embedded through the backend's own stages (cost, decode, collate,
forward) in the pipeline's batches, searched exactly (cosine over every document, top 100) and
scored with :func:`mmindex.evaluation.evaluate_run`, the metrics the gate uses. Prints a markdown
table with the published reference figures beside ours and writes ``bench-results/models.json``.
Speed is seconds per 1,000 documents / queries of that set, on this machine, as the pipeline runs
each model (MiniLM: torch's threads; the other two: one thread, see their backends).

Not a test and not part of ``mmindex bench``: the 4-bit e5 alone needs 20-30 minutes here.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.korquad import KORQUAD, RetrievalSet, load_korquad, readme_figures

REPO = Path(__file__).resolve().parents[1]
VASWANI = REPO.parent / "shared" / "data" / "vaswani_npl"
MODELS = ("all-minilm-l6-v2", "multilingual-e5-small-q4", "use-multilingual")
DEPTH = 100
# Published figures (nDCG@10, hit@5): KorQuAD's README (read by readme_figures), and
# ../shared/data/README.md for Vaswani (pytrec_eval, all-MiniLM-L6-v2; no hit@5 given).
VASWANI_REFERENCE: dict[str, tuple[float, float | None]] = {"all-minilm-l6-v2": (0.4335, None)}


def load_vaswani(src: Path, work: Path) -> RetrievalSet:
    """Vaswani through the project's own TREC converter and golden-set loader."""
    from mmindex.evaluation.golden import load_golden
    from mmindex.evaluation.trec import trec_to_beir

    beir = trec_to_beir(src, work / "vaswani_beir")
    with open(beir / "corpus.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    docs = {r["_id"]: " ".join(x for x in (r.get("title"), r["text"]) if x) for r in rows}
    golden = load_golden(beir / "queries.jsonl", beir / "qrels" / "test.tsv")
    return RetrievalSet(f"Vaswani ({len(docs)} abstracts, {len(golden.queries)} queries)", docs,
                        {q.id: q.text or "" for q in golden.queries},
                        {q: dict(d) for q, d in golden.qrels.items()})


def embed_texts(emb: Any, texts: list[str], role: str) -> tuple[np.ndarray, float, int]:
    """Vectors in input order, the seconds it took (cost estimates included), and the tokens,
    batched as the pipeline batches (sorted windows under its default token budget)."""
    from mmindex.backends.base import LoadedItem
    from mmindex.config import Settings
    from mmindex.embed.batching import iter_batches
    from mmindex.items import Item

    s = Settings.model_construct()  # the defaults only: no file, no environment
    out = np.zeros((len(texts), emb.full_dims), np.float32)
    t0, tokens = time.perf_counter(), 0
    loaded = (LoadedItem(Item(id=str(i), text=t), seq=i) for i, t in enumerate(texts))

    def cost(x: LoadedItem):
        x.cost = emb.estimate_cost(x)
        return x.cost

    for b in iter_batches(loaded, cost, token_budget=s.token_budget, pixel_budget=s.pixel_budget,
                          max_items=s.max_batch_items, window=s.sort_window):
        batch = emb.collate([emb.decode(x) for x in b.entries], role)
        out[b.seqs] = emb.forward(batch).vectors
        tokens += int(batch.num_tokens)
    return out, time.perf_counter() - t0, tokens


def exact_run(doc_ids: list[str], docs: np.ndarray, qids: list[str],
              queries: np.ndarray, depth: int = DEPTH) -> dict[str, list[tuple[str, float]]]:
    """Exact cosine search (vectors are unit length): each query's top ``depth`` documents."""
    run = {}
    for lo in range(0, len(qids), 256):
        scores = queries[lo:lo + 256] @ docs.T
        top = np.argpartition(-scores, min(depth, docs.shape[0] - 1), axis=1)[:, :depth]
        for row, q in enumerate(qids[lo:lo + 256]):
            run[q] = [(doc_ids[j], float(scores[row, j])) for j in top[row]]
    return run


def measure(spec: str, rs: RetrievalSet, set_key: str) -> dict[str, Any]:
    """One model on one set: metrics, reference, time per 1,000 documents and queries."""
    from mmindex.backends import load_embedder
    from mmindex.evaluation import evaluate_run

    t0 = time.perf_counter()
    emb = load_embedder(spec, device="cpu")
    load_s = time.perf_counter() - t0
    doc_ids, qids = list(rs.docs), list(rs.queries)
    load_avg = os.getloadavg()[0]
    dv, doc_s, doc_tokens = embed_texts(emb, [rs.docs[d] for d in doc_ids], "document")
    qv, query_s, _ = embed_texts(emb, [rs.queries[q] for q in qids], "query")
    m = evaluate_run(exact_run(doc_ids, dv, qids, qv), rs.qrels).aggregate
    ref = (readme_figures() if set_key == "korquad" else VASWANI_REFERENCE).get(spec)
    return {"set": set_key, "model": spec, "docs": len(doc_ids), "queries": len(qids),
            "ndcg@10": round(m["ndcg@10"], 4), "hit@5": round(m["hit@5"], 4),
            "mrr@10": round(m["mrr@10"], 4), "recall@100": round(m["recall@100"], 4),
            "map": round(m["map"], 4), "reference": ref, "load_s": round(load_s, 2),
            "s_per_1000_docs": round(doc_s * 1000 / len(doc_ids), 1),
            "s_per_1000_queries": round(query_s * 1000 / len(qids), 1),
            "doc_tokens_per_s": round(doc_tokens / doc_s), "load_avg_1m": round(load_avg, 2)}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| set | model | nDCG@10 | hit@5 | reference nDCG@10 / hit@5 | s / 1,000 docs | "
             "s / 1,000 queries | doc tokens/s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ref = r["reference"]
        ref_s = "" if ref is None else " / ".join("-" if x is None else f"{x}" for x in ref)
        lines.append(f"| {r['set']} | {r['model']} | {r['ndcg@10']:.4f} | {r['hit@5']:.4f} | "
                     f"{ref_s} | {r['s_per_1000_docs']} | {r['s_per_1000_queries']} | "
                     f"{r['doc_tokens_per_s']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--sets", default="korquad,vaswani")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "models.json")
    args = ap.parse_args(argv)
    from bench.machine import describe

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        sets = {"korquad": lambda: load_korquad(KORQUAD),
                "vaswani": lambda: load_vaswani(VASWANI, Path(tmp))}
        for key in args.sets.split(","):
            rs = sets[key]()
            print(f"# {rs.name}", flush=True)
            for spec in args.models.split(","):
                rows.append(measure(spec, rs, key))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": describe(), "results": rows}, indent=1,
                                   ensure_ascii=False))
    print("\n" + table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
