"""``python -m bench.fusion_cv``: hybrid fusions compared held out (k-fold), per data set.

For each model and set -- the sample golden set (with its one-word caption queries,
:mod:`bench.oneword`), KorQuAD 1.0 dev (:mod:`bench.korquad`, ``--korquad N`` questions) and
Vaswani (``--vaswani``) -- the items are embedded by :func:`run_embed` as the product does; each
query's two legs are searched once and every fusion of the candidate sweep fuses them
(:func:`mmindex.evaluation.fusion_sweep.spec_runs`). Then each way of choosing the hybrid fusion
is scored by 5-fold cross-validation (:func:`~mmindex.evaluation.fusion_sweep.cross_validate`:
each query ranked by the choice made without its fold), beside vector and full text alone:

- ``single``: one fusion for every query, the best of the sweep (what shipped before policies);
- ``rrf``: RRF(K=60) for every query, nothing fit;
- ``policy m=N, default D``: a fusion per segment with at least N fitting queries, the default D
  (``global``: the best fusion over all fitting queries; or ``rrf``) elsewhere;
- ``+dbsf``: the same, with distribution-based score fusion (``dbsf:W``) in the sweep.

On the sample, hit@1 of the one-word caption queries is also given per language: for the
fusion fit on the golden set before it had caption queries (``before``) and for the shipped
choice fit on the golden set now (``after``; ``unseen``: the caption queries not in it).
Results: markdown on stdout and ``bench-results/fusion_cv.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from mmindex.config import Settings
from mmindex.evaluation import evaluate_run, load_golden
from mmindex.evaluation import fusion_sweep as fs
from mmindex.evaluation.runner import golden_run, query_vectors
from mmindex.index import fusion
from mmindex.index.querykind import QueryKind
from mmindex.pipeline import run_embed
from mmindex.search import open_index

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
VASWANI = REPO.parents[1] / "shared" / "data" / "vaswani_npl"
MODELS = ("use-multilingual", "multilingual-e5-small-q4", "all-minilm-l6-v2")
WIDE = (*fusion.SWEEP, *fusion.DBSF)
CONFIGS = {  # name -> (sweep, fit_policy kwargs)
    "single": (fusion.SWEEP, {"min_queries": 10**9}),
    "rrf": (("rrf",), {"min_queries": 10**9, "fallback": "rrf"}),
    "policy m=5": (fusion.SWEEP, {"min_queries": 5}),
    "policy m=10": (fusion.SWEEP, {"min_queries": 10}),
    "policy m=20": (fusion.SWEEP, {"min_queries": 20}),
    "policy m=10, default rrf": (fusion.SWEEP, {"min_queries": 10, "fallback": "rrf"}),
    "single +dbsf": (WIDE, {"min_queries": 10**9}),
    "policy m=10 +dbsf": (WIDE, {"min_queries": 10}),
}
SHIPPED = "policy m=10"


def _union(golden_dir: Path, extra: list[dict], out: Path) -> tuple[Path, Path]:
    """The golden set plus ``extra`` queries (ids not already there), as one BEIR pair."""
    qs = [json.loads(x) for x in (golden_dir / "queries.jsonl").read_text(
        encoding="utf-8").splitlines() if x.strip()]
    have = {q["_id"] for q in qs}
    rels = (golden_dir / "qrels.tsv").read_text(encoding="utf-8").rstrip("\n").splitlines()
    for q in extra:
        if q["_id"] not in have:
            qs.append({k: q[k] for k in ("_id", "text", "lang")})
            rels.append(f"{q['_id']}\t{q['relevant']}\t2")
    out.mkdir(parents=True, exist_ok=True)
    (out / "queries.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n"
                                               for q in qs), encoding="utf-8")
    (out / "qrels.tsv").write_text("\n".join(rels) + "\n", encoding="utf-8")
    for img in (golden_dir / "images").glob("*"):
        (out / "images").mkdir(exist_ok=True)
        (out / "images" / img.name).write_bytes(img.read_bytes())
    return out / "queries.jsonl", out / "qrels.tsv"


def collect(model: str, name: str, corpus: Path, queries: Path, qrels: Path, work: Path,
            fields: tuple[str, ...] = ()) -> dict:
    s = Settings(db=str(work / "db"), model=model, cache_dir=work / "cache",
                 fts_metadata_fields=list(fields))
    t0 = time.perf_counter()
    r = run_embed(str(corpus), name, s)
    golden = load_golden(str(queries), str(qrels), name=name)
    idx = open_index(name, s.db, version=r.version, table=r.table, settings=s)
    vectors = query_vectors(idx, golden)
    runs = fs.spec_runs(idx, golden, vectors, WIDE)
    sides = {m: golden_run(idx, golden, m, vectors) for m in ("vector", "fts")}
    return {"golden": golden, "runs": runs, "sides": sides, "items": r.embedded,
            "seconds": round(time.perf_counter() - t0, 1),
            "kinds": {q.id: QueryKind.of(q.text).key() for q in golden.queries},
            "texts": {q.id: q.text for q in golden.queries}}


def _agg(run: dict, qrels: dict, qids) -> dict[str, float]:
    sub = {q: qrels[q] for q in qids}
    m = evaluate_run({q: run.get(q, []) for q in sub}, sub).aggregate
    return {k: round(m[k], 4) for k in ("ndcg@10", "hit@5", "hit@1")} | {"n": len(sub)}


def analyse(c: dict, qids: list[str]) -> dict:
    """Held-out figures of every config on ``qids``, and the sides alone."""
    qrels, runs, kinds = c["golden"].qrels, c["runs"], c["kinds"]
    scores = fs.per_query(runs, {q: qrels[q] for q in qids})
    out = {m: _agg(c["sides"][m], qrels, qids) for m in ("vector", "fts")}
    for name, (sweep, fit) in CONFIGS.items():
        held, pols = fs.cross_validate(runs, scores, kinds, qids, list(sweep), **fit)
        out[name] = _agg(held, qrels, qids) | {"fit on all": str(fs.fit_policy(
            scores, kinds, qids, list(sweep), **fit))}
    return out


def one_word(c: dict, golden_all: list[str], golden_old: list[str], unseen: set[str]) -> dict:
    """hit@1 of the caption queries by language: sides, before (single fit on the old golden
    set), after (the shipped config fit on the golden set now), and after on unseen ones."""
    qrels, runs, kinds = c["golden"].qrels, c["runs"], c["kinds"]
    sweep, fit = CONFIGS[SHIPPED]
    before = fs.fit_policy(fs.per_query(runs, {q: qrels[q] for q in golden_old}), kinds,
                           golden_old, list(fusion.SWEEP), min_queries=10**9)
    after = fs.fit_policy(fs.per_query(runs, {q: qrels[q] for q in golden_all}), kinds,
                          golden_all, list(sweep), **fit)
    out = {"before policy": str(before), "after policy": str(after)}
    for lang in ("ko", "en"):
        qs = [q for q in qrels if q.startswith(f"w-{lang}-")]
        apply = lambda pol, qq: {q: runs[pol.spec(c["texts"][q])][q] for q in qq}  # noqa: E731
        out[lang] = {"vector": _agg(c["sides"]["vector"], qrels, qs)["hit@1"],
                     "fts": _agg(c["sides"]["fts"], qrels, qs)["hit@1"],
                     "rrf": _agg(runs["rrf"], qrels, qs)["hit@1"],
                     "before": _agg(apply(before, qs), qrels, qs)["hit@1"],
                     "after": _agg(apply(after, qs), qrels, qs)["hit@1"],
                     "n": len(qs)}
        un = [q for q in qs if q in unseen]
        out[lang] |= {"after unseen": _agg(apply(after, un), qrels, un)["hit@1"],
                      "fts unseen": _agg(c["sides"]["fts"], qrels, un)["hit@1"],
                      "n unseen": len(un)}
    return out


def sets(work: Path, korquad: int, vaswani: bool) -> list[tuple]:
    from bench.oneword import caption_queries

    gq, gr = _union(SAMPLE / "golden", caption_queries(), work / "sample-golden")
    out = [("sample", SAMPLE / "manifest.jsonl", gq, gr, ("caption_ko",))]
    if korquad:
        from bench import korquad as kq

        kq.SAMPLE = korquad
        root = kq.KORQUAD if kq.KORQUAD.is_dir() else REPO.parents[1] / "shared" / "data" / \
            "korquad_v1"  # a worktree sits one level deeper than a checkout
        f = kq.convert(work / "korquad", root)
        out.append(("korquad", f.corpus, f.queries, f.qrels, ()))
    if vaswani:
        from mmindex.evaluation.trec import trec_to_beir

        beir = trec_to_beir(VASWANI, work / "vaswani")
        out.append(("vaswani", beir / "corpus.jsonl", beir / "queries.jsonl",
                    beir / "qrels" / "test.tsv", ()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--sets", default="sample,korquad")
    ap.add_argument("--korquad", type=int, default=1000, help="KorQuAD questions (of 5,774)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "fusion_cv.json")
    args = ap.parse_args(argv)
    from bench.oneword import in_golden

    results = []
    wanted = args.sets.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-fusion-") as tmp:
        work = Path(tmp)
        for name, corpus, queries, qrels, fields in sets(
                work, args.korquad if "korquad" in wanted else 0, "vaswani" in wanted):
            if name not in wanted:
                continue
            for model in args.models.split(","):
                c = collect(model, name, corpus, queries, qrels, work / model / name, fields)
                all_q = [q.id for q in c["golden"].queries if q.id in c["golden"].qrels]
                res = {"model": model, "set": name, "items": c["items"], "s": c["seconds"]}
                if name == "sample":
                    gold = [q for q in all_q if not q.startswith("w-") or q in in_golden()]
                    old = [q for q in gold if not q.startswith("w-")]
                    res["held-out"] = analyse(c, gold)
                    res["held-out (old golden)"] = analyse(c, old)
                    res["one-word"] = one_word(c, gold, old, {
                        q for q in all_q if q.startswith("w-") and q not in set(gold)})
                else:
                    res["held-out"] = analyse(c, all_q)
                results.append(res)
                print(json.dumps(res, ensure_ascii=False), flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
