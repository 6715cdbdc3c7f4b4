"""``python -m bench.korean``: Korean search measured, vector vs full text vs hybrid.

For each model (default: all-minilm-l6-v2 and the multilingual ones that load here) and each set
-- the sample golden set (split en / ko; image queries only in "all") and KorQuAD 1.0 dev
(converted at run time, :mod:`bench.korquad`) -- the items are embedded by :func:`run_embed` as
the product does (the sample with ``fts_metadata_fields = ["caption_ko"]``) and searched:

- ``vector``: exact cosine;
- ``fts english``: LanceDB's defaults (stemming, stop words, ASCII folding) over the same text
  the product analyses (text + the metadata fields), in one column: the old behaviour;
- ``fts kiwi``: the product's full text (``text`` English + ``fts_text`` Kiwi morphemes);
- ``fts ngram``: the same with the n-gram fallback in ``fts_text``;
- ``hybrid rrf``, ``hybrid linear (best W)``, ``hybrid chosen``: LanceDB's fusion of the vector
  and ``fts kiwi`` legs; "chosen" is what the evaluation flow would pick from the whole sweep.

Fusions are chosen on the set they are reported on (as the evaluation flow does). On KorQuAD
they are also chosen on one half of the queries and reported on the other (``held-out``).
Results: a markdown table on stdout and ``bench-results/korean.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from mmindex.config import Settings
from mmindex.evaluation import evaluate_run, load_golden
from mmindex.evaluation.runner import DEPTH, query_vectors
from mmindex.index import connect, fulltext, fusion
from mmindex.index.analysis import get_analyzer
from mmindex.pipeline import run_embed
from mmindex.search import open_index

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
MODELS = ("all-minilm-l6-v2", "multilingual-e5-small-q4", "use-multilingual")
SHOWN = ("vector", "fts english", "fts kiwi", "fts ngram", "hybrid rrf", "hybrid linear",
         "hybrid chosen")


def add_fts_columns(tbl, columns: dict) -> None:
    """Scratch full-text columns on the bench's own table: name -> (docs(texts, metadata), FTS)."""
    import pyarrow as pa

    from mmindex.index.tables import partial_merge

    for name, (docs, _) in columns.items():
        tbl.add_columns({name: "CAST(NULL AS STRING)"})
        rows = tbl.search().select(["id", "text", "metadata"]).limit(None).to_arrow()
        partial_merge(tbl, pa.table(  # not LanceDB's merge: it would embed the rows again
            {"id": rows["id"], name: docs(rows["text"].to_pylist(),
                                          rows["metadata"].to_pylist())}), update=True)
    # the merges rewrote rows: every FTS index is built again whole, or BM25 mixes indexed and
    # unindexed rows (seen: +-0.008 nDCG@10 on KorQuAD between two runs of the same bench)
    for ix in tbl.list_indices():
        if ix.index_type == "FTS":
            tbl.drop_index(ix.name)
    fulltext.create_fts_indexes(tbl)
    for name, (_, config) in columns.items():
        tbl.create_index(name, config=config)


def runs_for(idx, tbl, golden, fields: tuple[str, ...]) -> dict[str, dict]:
    """query id -> ranking, for every measured way of searching (legs kept for fusions)."""
    from lancedb.index import FTS
    from lancedb.query import BooleanQuery, MatchQuery, Occur

    ngram = fulltext.FtsSpec("ngram", get_analyzer("ngram").version, fields)
    add_fts_columns(tbl, {
        "fts_en": (lambda t, m: [
            "\n".join([x or "", *(json.loads(mm or "{}").get(f) or "" for f in fields)])
            for x, mm in zip(t, m, strict=True)], FTS(with_position=False)),
        "fts_ng": (ngram.documents, FTS(
            with_position=False, base_tokenizer="whitespace", stem=False,
            remove_stop_words=False, ascii_folding=False, max_token_length=128))})
    idx.table, idx._fts = tbl, None
    fts = fulltext.FtsSearch.of(tbl)
    ng = get_analyzer("ngram")
    vectors = query_vectors(idx, golden)
    out: dict[str, dict] = {k: {} for k in ("vector", "fts english", "fts kiwi", "fts ngram")}
    legs: dict[str, tuple] = {}
    for q, vec in zip(golden.queries, vectors, strict=True):
        out["vector"][q.id] = idx.ranked(q.text, vec, k=DEPTH, mode="vector")
        out["fts kiwi"][q.id] = idx.ranked(q.text, vec, k=DEPTH, mode="fts")
        if q.text:
            out["fts english"][q.id] = _fts(tbl, MatchQuery(q.text, "fts_en"))
            clauses = [MatchQuery(q.text, "text")] + ([MatchQuery(ng.analyse(q.text), "fts_ng")]
                                                      if ng.analyse(q.text) else [])
            out["fts ngram"][q.id] = _fts(tbl, BooleanQuery([(Occur.SHOULD, c)
                                                              for c in clauses]))
        query = fts.query(q.text)
        if vec is not None and query is not None:
            legs[q.id] = fusion.legs(tbl, query, vec)
        else:  # one side only: every fusion ranks it as that side
            legs[q.id] = (out["vector"][q.id], out["fts kiwi"][q.id])
    return out | {"_legs": legs}


def _fts(tbl, query) -> list:
    res = tbl.search(query, query_type="fts").select(["id", "_score"]).limit(DEPTH).to_arrow()
    return list(zip(res["id"].to_pylist(), res["_score"].to_pylist(), strict=True))


def fused(legs: dict, spec: str) -> dict[str, list]:
    return {q: (fusion.fuse(v, f, spec) if not isinstance(v, list) else (v or f))
            for q, (v, f) in legs.items()}


def score(run: dict, golden, qids) -> dict[str, float]:
    qrels = {q: golden.qrels[q] for q in qids if q in golden.qrels}
    m = evaluate_run({q: run.get(q, []) for q in qrels}, qrels).aggregate
    return {"ndcg@10": round(m["ndcg@10"], 4), "hit@5": round(m["hit@5"], 4), "n": len(qrels)}


def best(legs, golden, qids, specs) -> str:
    return max(specs, key=lambda s: (score(fused(legs, s), golden, qids)["ndcg@10"],
                                     -specs.index(s)))


def measure(model: str, name: str, corpus: Path, queries: Path, qrels: Path, work: Path,
            fields: tuple[str, ...] = ()) -> dict:
    s = Settings(db=str(work / "db"), model=model, cache_dir=work / "cache",
                 fts_metadata_fields=list(fields))
    t0 = time.perf_counter()
    r = run_embed(str(corpus), name, s)
    embed_s = time.perf_counter() - t0
    golden = load_golden(str(queries), str(qrels), name=name)
    langs = {json.loads(ln)["_id"]: json.loads(ln).get("lang", "ko")
             for ln in queries.read_text(encoding="utf-8").splitlines()}
    idx = open_index(name, s.db, version=r.version, table=r.table, settings=s)
    runs = runs_for(idx, connect(s).open_table(r.table), golden, fields)
    legs = runs.pop("_legs")
    linear = [x for x in fusion.SWEEP if x.startswith("linear")]
    all_q = [q.id for q in golden.queries]
    chosen, lin = best(legs, golden, all_q, list(fusion.SWEEP)), best(legs, golden, all_q, linear)
    runs |= {"hybrid rrf": fused(legs, "rrf"), "hybrid linear": fused(legs, lin),
             "hybrid chosen": fused(legs, chosen)}
    splits = {"all": all_q} | {lang: [q for q in all_q if langs.get(q) == lang]
                               for lang in ("en", "ko") if any(langs.get(q) == lang
                                                               for q in all_q)}
    out = {"model": model, "set": name, "items": r.embedded, "embed_s": round(embed_s, 1),
           "chosen": chosen, "linear": lin,
           "metrics": {k: {sp: score(runs[k], golden, qs) for sp, qs in splits.items()}
                       for k in SHOWN}}
    if name == "korquad":  # choose on one half, report on the other
        rng = random.Random(0)
        a = sorted(rng.sample(all_q, len(all_q) // 2))
        b = [q for q in all_q if q not in set(a)]
        pick = best(legs, golden, a, list(fusion.SWEEP))
        out["held-out"] = {"chosen on half A": pick, "half B": {
            "hybrid chosen": score(fused(legs, pick), golden, b),
            "vector": score(runs["vector"], golden, b),
            "fts kiwi": score(runs["fts kiwi"], golden, b)}}
    return out


def table(results: list[dict]) -> str:
    lines = ["| set | model | split | " + " | ".join(SHOWN) + " |",
             "|---|---|---|" + "---|" * len(SHOWN)]
    for r in results:
        for split in r["metrics"]["vector"]:
            m = r["metrics"]
            cells = [f"{m[k][split]['ndcg@10']:.3f} / {m[k][split]['hit@5']:.3f}" for k in SHOWN]
            lines.append(f"| {r['set']} | {r['model']} | {split} (n={m['vector'][split]['n']}) | "
                         + " | ".join(cells) + " |")
    lines += ["", "nDCG@10 / hit@5. " + "; ".join(
        f"{r['set']} {r['model']}: chosen {r['chosen']}, best linear {r['linear']}, "
        f"{r['items']} items embedded in {r['embed_s']} s" for r in results)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--no-korquad", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "korean.json")
    args = ap.parse_args(argv)
    from bench.korquad import convert

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-korean-") as tmp:
        work = Path(tmp)
        kq = None if args.no_korquad else convert(work / "korquad")
        for model in args.models.split(","):
            sets = [("sample", SAMPLE / "manifest.jsonl", SAMPLE / "golden" / "queries.jsonl",
                     SAMPLE / "golden" / "qrels.tsv", ("caption_ko",))]
            if kq:
                sets.append(("korquad", kq.corpus, kq.queries, kq.qrels, ()))
            for name, corpus, queries, qrels, fields in sets:
                try:
                    results.append(measure(model, name, corpus, queries, qrels,
                                           work / model / name, fields))
                except Exception as exc:  # noqa: BLE001 - a model missing here is reported
                    print(f"skipped {model} on {name}: {type(exc).__name__}: {exc}")
                print(table(results[-1:]) if results else "", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    print("\n" + table(results))
    print("\n".join(f"{r['model']} KorQuAD held-out: {r['held-out']}" for r in results
                    if "held-out" in r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
