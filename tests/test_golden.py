"""Golden sets load from BEIR, TREC and multimodal files, fingerprint stably, and fail precisely."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import pytest

from mmindex.errors import GoldenSetError
from mmindex.evaluation import (
    evaluate_run,
    load_golden,
    load_golden_dir,
    trec_qrels,
    trec_topics_to_queries,
)

VASWANI = Path("/work/shared/data/vaswani_npl")
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5d6d5c40000000049454e44ae426082"
)


def write_beir(root: Path, queries: list[dict], qrels: str) -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "queries.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries), encoding="utf-8"
    )
    (root / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    return root


QUERIES = [
    {"_id": "q1", "text": "삼각형의 넓이", "lang": "ko"},
    {"_id": "q2", "text": "area of a circle", "lang": "en", "metadata": {"grade": 7}},
    {"_id": "q3", "image": "img/fig.png"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq2\td3\t1\nq3\td4\t1\nq3\td5\t0\n"


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    root = write_beir(tmp_path / "mathset", QUERIES, QRELS)
    (root / "img").mkdir()
    (root / "img" / "fig.png").write_bytes(PNG)
    return root


def test_beir_dir_with_text_image_and_lang_queries(beir: Path):
    g = load_golden_dir(beir)
    assert g.name == "mathset" and len(g) == 3 and g.notes == ()
    q1, q2, q3 = g.queries
    assert (q1.text, q1.lang, q2.metadata) == ("삼각형의 넓이", "ko", {"grade": 7})
    assert q3.text is None and q3.image == str((beir / "img" / "fig.png").resolve())
    assert g.qrels == {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1}, "q3": {"d4": 1, "d5": 0}}
    assert len(g.fingerprint) == 64 and g.version == g.fingerprint[:12]
    perfect = {qid: {d: float(r) for d, r in judged.items()} for qid, judged in g.qrels.items()}
    assert evaluate_run(perfect, g.qrels).aggregate["ndcg@10"] == pytest.approx(1.0)


def test_qrels_without_header_and_trec_qrels_give_the_same_set(beir: Path, tmp_path: Path):
    plain = tmp_path / "plain.tsv"
    plain.write_text(QRELS.split("\n", 1)[1])
    trec = tmp_path / "trec.txt"
    trec.write_text(
        "".join(
            f"{q} 0 {d} {r}\n" for q, d, r in (ln.split("\t") for ln in QRELS.split("\n")[1:-1])
        )
    )
    reference = load_golden_dir(beir)
    for qrels in (plain, trec):
        g = load_golden(beir / "queries.jsonl", qrels)
        assert g.qrels == reference.qrels and g.fingerprint == reference.fingerprint


def test_fingerprint_ignores_order_location_and_unicode_form_but_not_content(
    beir: Path, tmp_path: Path
):
    version = load_golden_dir(beir).version
    moved = tmp_path / "elsewhere" / "mathset"
    shutil.copytree(beir, moved)
    nfd = [dict(q) for q in reversed(QUERIES)]
    nfd[-1]["text"] = unicodedata.normalize("NFD", nfd[-1]["text"]) + "  "  # same text, decomposed
    write_beir(moved, nfd, QRELS.replace("q1\td1\t2\n", "") + "q1\td1\t2\n")
    assert load_golden_dir(moved).version == version
    write_beir(moved, nfd, QRELS.replace("q1\td1\t2", "q1\td1\t1"))
    assert load_golden_dir(moved).version != version  # a grade changed
    write_beir(moved, nfd, QRELS)
    (moved / "img" / "fig.png").write_bytes(PNG + b"\0")
    assert load_golden_dir(moved).version != version  # the query image changed


def test_unevaluable_queries_and_stray_qrels_are_dropped_with_notes(tmp_path: Path):
    root = write_beir(
        tmp_path,
        QUERIES[:2]
        + [{"_id": "q9", "text": "only non-relevant"}, {"_id": "q8", "text": "unjudged"}],
        "q1\td1\t1\nq2\td3\t1\nq9\td1\t0\nq7\td1\t1\n",
    )
    g = load_golden_dir(root)
    assert [q.id for q in g.queries] == ["q1", "q2"] and set(g.qrels) == {"q1", "q2"}
    assert any("q7" in n for n in g.notes) and any("q8" in n and "q9" in n for n in g.notes)


@pytest.mark.parametrize(
    ("queries", "qrels", "message"),
    [
        (
            '{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": \n',
            "q1\td\t1\n",
            r"queries.jsonl line 2 is not valid JSON",
        ),
        ('{"_id": "q1", "text": "a"}\n\n{"text": "b"}\n', "q1\td\t1\n", r"line 3 has no \"_id\""),
        (
            '{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n',
            "q1\td\t1\n",
            r"line 2: query id 'q1' already used on line 1",
        ),
        ('{"_id": "q1", "text": "  "}\n', "q1\td\t1\n", r"neither \"text\" nor \"image\""),
        ('{"_id": "q1", "image": "missing.png"}\n', "q1\td\t1\n", r"image 'missing.png' not found"),
        ('{"_id": "q1", "text": "a"}\n', "q1\td\t1\nq1\td2\n", r"test.tsv line 2: expected"),
        ('{"_id": "q1", "text": "a"}\n', "q1\td\t1\nq1\td\thigh\n", r"test.tsv line 2: expected"),
        (
            '{"_id": "q1", "text": "a"}\n',
            "q1\td\t1\nq1\td\t2\n",
            r"line 2: \(q1, d\) judged 2 here but 1",
        ),
        ("\n\n", "q1\td\t1\n", r"has no queries"),
        ('{"_id": "q1", "text": "a"}\n', "query-id\tcorpus-id\tscore\n", r"has no judgements"),
        (
            '{"_id": "q1", "text": "a"}\n',
            "q2\td\t1\nq1\td\t0\n",
            r"no query .* has a relevant doc.*Help",
        ),
    ],
)
def test_bad_golden_sets_fail_with_the_line_and_a_help(
    tmp_path: Path, queries: str, qrels: str, message: str
):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "queries.jsonl").write_text(queries)
    (tmp_path / "qrels" / "test.tsv").write_text(qrels)
    with pytest.raises(GoldenSetError, match=message):
        load_golden_dir(tmp_path)


def test_missing_files_say_what_a_golden_set_looks_like(tmp_path: Path):
    with pytest.raises(
        GoldenSetError, match=r"queries\.jsonl does not exist.*Help: a golden set is"
    ):
        load_golden(tmp_path / "queries.jsonl", tmp_path / "qrels.tsv")
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n')
    with pytest.raises(GoldenSetError, match=r"qrels file .*test\.tsv does not exist"):
        load_golden_dir(tmp_path)
    with pytest.raises(GoldenSetError, match="directory .* does not exist"):
        load_golden_dir(tmp_path / "nope")


def test_vaswani_trec_topics_and_qrels():
    queries = trec_topics_to_queries(VASWANI / "query-text.trec")
    qrels = trec_qrels(VASWANI / "qrels")
    assert len(queries) == 93 and len(qrels) == 93
    assert queries[0].id == "1"
    assert (
        queries[0].text
        == "MEASUREMENT OF DIELECTRIC CONSTANT OF LIQUIDS BY THE USE OF MICROWAVE TECHNIQUES"
    )
    assert sum(len(v) for v in qrels.values()) == 2083 and qrels["1"]["1239"] == 1
    g = load_golden(VASWANI / "query-text.trec", VASWANI / "qrels", name="vaswani")
    assert len(g) == 93 and g.notes == () and g.qrels == qrels


def test_classic_trec_topic_layout(tmp_path: Path):
    topics = tmp_path / "topics.txt"
    topics.write_text(
        "<top>\n<num> Number: 301\n<title> International Organized Crime\n\n<desc> Description:\n"
        "Identify organizations.\n</top>\n<top>\n<num> Number: 302 \n<title>Poliomyelitis\n</top>\n"
    )
    assert [(q.id, q.text) for q in trec_topics_to_queries(topics)] == [
        ("301", "International Organized Crime"),
        ("302", "Poliomyelitis"),
    ]
