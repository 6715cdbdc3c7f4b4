"""The CLI as a user runs it: `mmindex embed | search | versions | evaluate | promote | rollback`.

The multimodal case uses the tiny random-weight Qwen3-VL (the real Qwen3-VL-Embedding code path);
the search/evaluation cases use the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def mmindex(*args: str, db: Path, cache: Path | None = None, check: bool = True) -> dict | str:
    env = dict(os.environ, MMINDEX_DB=str(db), MMINDEX_CONFIG=os.devnull)
    if cache is not None:
        env["MMINDEX_CACHE_DIR"] = str(cache)
    p = subprocess.run([sys.executable, "-m", "mmindex", *args], capture_output=True,
                       text=True, env=env, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(
            f"mmindex {' '.join(args)} failed ({p.returncode}):\n{p.stderr[-3000:]}"
        )
    if "--json" in args and p.returncode == 0:
        return json.loads(p.stdout)
    return p.stdout + p.stderr


def make_video(path: Path, frames: int = 8) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(frames):
            arr = np.full((64, 64, 3), (i * 30) % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture
def multimodal(tmp_path: Path) -> Path:
    media = tmp_path / "media"
    media.mkdir()
    Image.new("RGB", (96, 64), (250, 200, 0)).save(media / "sun.png")
    Image.new("RGBA", (48, 80), (0, 120, 255, 128)).save(media / "sea.png")
    (media / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(64))
    make_video(media / "clip.mp4")
    rows = [
        {"id": "text-en", "text": "Which planet is closest to the sun?", "subject": "science"},
        {"id": "text-ko", "text": "태양에 가장 가까운 행성은 무엇인가?", "subject": "science"},
        {"id": "image", "image": "media/sun.png"},
        {"id": "text-image", "text": "The sea on a map", "image": "media/sea.png"},
        {"id": "video", "text": "a short clip", "video": "media/clip.mp4"},
        {"id": "corrupt", "text": "a broken photo", "image": "media/broken.jpg"},
        {"id": "missing", "text": "a lost figure", "image": "media/lost.png"},
    ]
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


@pytest.mark.slow
def test_multimodal_manifest_with_tiny_qwen3_vl(multimodal, tmp_path, tiny_qwen_dir):
    db, cache = tmp_path / "db", tmp_path / "cache"
    model = f"qwen3-vl:{tiny_qwen_dir}"
    first = mmindex("embed", str(multimodal), "--index", "mm", "--model", model, "--no-prefect",
                    "--json", db=db, cache=cache)
    assert first["embedded"] == 5 and first["quarantined"] == 2
    assert first["quarantine_reasons"] == {"corrupt_media": 1, "missing_media": 1}
    assert first["throughput"]["items_per_s"] > 0 and first["throughput"]["tokens"] > 0
    import lancedb

    tbl = lancedb.connect(str(db)).open_table(first["table"])
    ids = tbl.to_arrow()["id"].to_pylist()
    assert sorted(ids) == ["image", "text-en", "text-image", "text-ko", "video"]
    assert tbl.schema.field("vector").type.list_size == 64  # the tiny model's hidden size

    again = mmindex("embed", str(multimodal), "--index", "mm", "--model", model, "--no-prefect",
                    "--json", db=db, cache=cache)
    assert again["embedded"] == 0 and again["skipped_unchanged"] == 5
    assert again["version"] == first["version"] and again["rows"] == 5

    rows = [json.loads(line) for line in multimodal.read_text().splitlines()]
    Image.new("RGB", (96, 64), (10, 10, 10)).save(multimodal.parent / "media" / "sun.png")
    changed = mmindex("embed", str(multimodal), "--index", "mm", "--model", model,
                      "--no-prefect", "--json", db=db, cache=cache)
    assert changed["embedded"] == 1 and changed["updated"] == 1 and changed["rows"] == 5
    assert rows  # the manifest itself did not change: only the image bytes did

    versions = mmindex("versions", "--index", "mm", "--json", db=db)
    assert [r["status"] for r in versions["runs"]] == ["committed"] * 3
    assert versions["production"] is None  # never evaluated: nothing is promoted


@pytest.fixture(scope="module")
def text_index(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli-text")
    docs = {"d1": "The mitochondria is the powerhouse of the cell",
            "d2": "Photosynthesis turns light into chemical energy in chloroplasts",
            "d3": "Newton's second law: force equals mass times acceleration",
            "d4": "The French Revolution began in 1789",
            "d5": "Water boils at 100 degrees Celsius at sea level"}
    corpus = tmp / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n"
                              for k, v in docs.items()))
    queries = tmp / "queries.jsonl"
    qs = {"q1": "what produces energy in cells", "q2": "how do plants use sunlight",
          "q3": "F = m a", "q4": "when did the revolution in France start"}
    queries.write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in qs.items()))
    qrels = tmp / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\nq4\td4\t1\n")
    return corpus, tmp


def test_embed_json_search_versions_evaluate_promote_rollback(text_index):
    corpus, tmp = text_index
    db = tmp / "db"
    out = mmindex("embed", str(corpus), "--index", "facts", "--model", "all-minilm-l6-v2",
                  "--no-prefect", "--json", db=db)
    for key in ("version", "embedded", "skipped_unchanged", "quarantined"):
        assert isinstance(out[key], int), key
    assert out["embedded"] == 5 and "items_per_s" in out["throughput"]
    v1 = out["version"]
    # not promoted yet: search says what to do
    err = mmindex("search", "--index", "facts", "energy", db=db, check=False)
    assert "no production version" in err and "Help" in err
    ev = mmindex("evaluate", "--index", "facts", "--version", str(v1), "--queries",
                 str(tmp / "queries.jsonl"), "--qrels", str(tmp / "qrels.tsv"), "--mode",
                 "vector", "--no-gate", "--json", db=db)
    m = ev["metrics"]["vector"]
    assert {"ndcg@10", "recall@10", "mrr@10", "hit@5"} <= set(m)
    assert m["hit@5"] == 1.0 and m["mrr@10"] > 0.7
    # --json carries the intervals, the per-segment figures and every query's values
    lo, hi = ev["intervals"]["vector"]["mrr@10"]
    assert lo <= m["mrr@10"] <= hi and ev["confidence"]["n_resamples"] > 0
    assert set(ev["per_query"]["vector"]) == {"q1", "q2", "q3", "q4"}
    assert ev["query_segments"]["q3"] == ["lang=en", "length=multi-word", "modality=text"]
    assert ev["segments"]["vector"]["lang=en"]["queries"] == 4
    assert any("fewer than 20 golden queries" in w for w in ev["warnings"])
    mmindex("promote", "--index", "facts", "--version", str(v1), "--reason", "first", db=db)
    hits = mmindex("search", "--index", "facts", "how do plants use sunlight", "-k", "3",
                   "--json", db=db)
    assert hits["version"] == v1 and hits["results"][0]["id"] == "d2"
    assert len(hits["results"]) == 3 and hits["results"][0]["score"] > hits["results"][1]["score"]

    corpus.write_text(corpus.read_text() + json.dumps(
        {"_id": "d6", "title": "", "text": "DNA is a double helix"}) + "\n")
    v2 = mmindex("embed", str(corpus), "--index", "facts", "--model", "all-minilm-l6-v2",
                 "--no-prefect", "--json", db=db)["version"]
    mmindex("promote", "--index", "facts", "--version", str(v2), "--reason", "second", db=db)
    rb = mmindex("rollback", "--index", "facts", "--reason", "test rollback", "--json", db=db)
    assert rb["version"] == v1
    info = mmindex("versions", "--index", "facts", "--json", db=db)
    assert info["production"]["version"] == v1 and info["production"]["reason"] == "test rollback"


def test_bad_model_spec_and_missing_source_fail_fast_with_help(tmp_path):
    out = mmindex("embed", str(tmp_path / "nope.jsonl"), "--index", "x", "--model", "hash",
                  "--no-prefect", db=tmp_path / "db", check=False)
    assert "StorageError" in out and "Help" in out
    src = tmp_path / "m.jsonl"
    src.write_text('{"id": "a", "text": "x"}\n')
    out = mmindex("embed", str(src), "--index", "x", "--model", "qwen3-vl-embedding-8b",
                  "--no-prefect", db=tmp_path / "db", check=False)
    assert "ModelUnavailableError" in out and "Help" in out


@pytest.mark.slow
def test_operator_commands_indexes_quarantine_versions_maintain(tmp_path):
    """What an operator reaches for after a few nights: the indexes, what keeps being
    quarantined, one row per version (a rollback marked), maintenance in words."""
    db = tmp_path / "db"
    src = tmp_path / "m.jsonl"
    rows = [{"id": "a", "text": "alpha particles"}, {"id": "b", "text": "beta decay"},
            {"id": "bad/img", "image": "missing.png"}, {"id": "bad/empty", "text": ""}]
    versions = []
    for night, extra in enumerate(["gamma rays", "delta waves", "epsilon"]):
        rows.append({"id": f"n{night}", "text": extra})
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        versions.append(mmindex("embed", str(src), "--index", "ops", "--model", "hash",
                                "--no-prefect", "--json", db=db)["version"])
    for v in versions:
        mmindex("promote", "--index", "ops", "--version", str(v), "--reason", "ok", db=db)
    mmindex("rollback", "--index", "ops", "--reason", "bad night", db=db)

    listed = mmindex("indexes", "--json", db=db)
    assert [r["index"] for r in listed] == ["ops"]
    [ops] = listed
    assert ops["model"] == "hash" and ops["dims"] == 32
    assert ops["production"]["version"] == versions[1] and ops["rows"] == 4
    assert ops["last_run"]["status"] == "committed"
    text = mmindex("indexes", db=db)
    assert text.splitlines()[1].split()[:5] == ["ops", "hash", "32", f"v{versions[1]}", "4"]

    q = mmindex("quarantine", "--index", "ops", "--json", db=db)
    assert {(r["item_id"], r["reason"], r["runs"]) for r in q["items"]} == {
        ("bad/img", "missing_media", 3), ("bad/empty", "empty_item", 3)}
    assert all(r["first_seen"] < r["last_seen"] and r["current"] for r in q["items"])
    text = mmindex("quarantine", "--index", "ops", db=db)
    assert "2 quarantined item(s)" in text and "over 3 run(s)" in text
    assert "bad/img" in text and "does not exist" in text
    assert "nothing quarantined since" in mmindex("quarantine", "--index", "ops", "--since",
                                                  "2999-01-01", db=db)

    text = mmindex("versions", "--index", "ops", db=db)
    lines = {line.split()[0].lstrip("*") or line.split()[1]: line for line in text.splitlines()
             if line.strip().lstrip("* ").startswith("v")}
    first, second, third = (f"v{v}" for v in versions)
    assert "(1st)" in lines[first] and "was production" in lines[first]
    assert "production" in lines[second] and lines[second].startswith("*")
    assert "rolled back" in lines[third] and f"rolled back to {second}" in lines[third]
    assert "LanceDB's version number" in text  # why a table's first version is not v1

    text = mmindex("maintain", "--index", "ops", db=db)
    assert text.startswith("index ops:") and "{" not in text, text
    assert "ops__hash__d32: compacted; versions" in text and "production" in text


def test_help_names_each_default_once_and_never_none():
    from mmindex.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        text = " ".join(sub.format_help().split())
        assert "(default: None)" not in text and "(default: False)" not in text, name
        assert "(default 10) (default: 10)" not in text, name
        for line in sub.format_help().split("\n  -"):
            assert " ".join(line.split()).count("default") <= 1, (name, line)
