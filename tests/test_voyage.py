"""voyage-multimodal-3 over HTTP, against a loopback stub of Voyage's documented endpoint.

The stub (tests/voyage_stub.py) checks the request format and answers with vectors a test can
recompute, so these tests see what a user would: the right vectors in the right order, waits on
429, retries on 5xx, a permanent error for a bad key, a refused item quarantined, and the key
never written anywhere.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from voyage_stub import VoyageStub, stub_vector

from mmindex.backends import embed_items, load_embedder
from mmindex.backends.voyage import ApiBatch, VoyageEmbedder
from mmindex.config import Settings
from mmindex.errors import ConfigError, StorageError
from mmindex.items import Item

REPO = Path(__file__).resolve().parents[1]
KEY = "vk-test-SECRET-4f2a9c"


@pytest.fixture
def stub():
    with VoyageStub(KEY) as s:
        yield s


def _png(path: Path, color=(200, 30, 30), fmt="PNG") -> bytes:
    Image.new("RGB", (40, 30), color).save(path, fmt)
    return path.read_bytes()


def test_request_format_and_vectors_match_the_documented_contract(stub, tmp_path):
    png = _png(tmp_path / "a.png")
    bmp = tmp_path / "b.bmp"
    _png(bmp, (10, 200, 10), "BMP")
    emb = VoyageEmbedder(api_key=KEY, base_url=stub.base_url)
    items = [Item("t", "a red square"), Item("it", "two", images=(str(tmp_path / "a.png"),)),
             Item("i", "", images=(str(bmp),))]
    docs = embed_items(emb, items, role="document")
    query = embed_items(emb, [Item("q", "a red square")], role="query")

    sent = stub.requests[0]
    assert sent["model"] == "voyage-multimodal-3" and sent["input_type"] == "document"
    assert stub.headers[0]["Authorization"] == f"Bearer {KEY}"
    contents = [x["content"] for x in sent["inputs"]]
    assert contents[0] == [{"type": "text", "text": "a red square"}]
    assert contents[1][0]["image_base64"] == \
        "data:image/png;base64," + base64.b64encode(png).decode()
    assert contents[1][1] == {"type": "text", "text": "two"}
    # BMP is not accepted by the API: re-encoded as PNG, same pixels
    head, _, data = contents[2][0]["image_base64"].partition(";base64,")
    assert head == "data:image/png"
    assert Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB").getpixel((0, 0)) == \
        (10, 200, 10)
    expected = np.stack([stub_vector(c, "document") for c in contents])
    np.testing.assert_allclose(docs, expected, atol=1e-6)
    np.testing.assert_allclose(query[0], stub_vector(contents[0], "query"), atol=1e-6)
    assert not np.allclose(query[0], docs[0])  # input_type changes the vector


def test_batches_stay_within_the_documented_request_limits(stub):
    emb = VoyageEmbedder(api_key=KEY, base_url=stub.base_url)
    assert [e - s for s, e in emb.requests_of(ApiBatch([{}] * 2500, "document", [1] * 2500))] \
        == [1000, 1000, 500]
    heavy = ApiBatch([{}] * 25, "document", [30_000] * 25)  # 320k tokens per request at most
    assert [e - s for s, e in emb.requests_of(heavy)] == [10, 10, 5]
    items = [Item(f"x{i}", f"item {i}") for i in range(1001)]
    vectors = embed_items(emb, items)
    assert [len(r["inputs"]) for r in stub.requests] == [1000, 1]  # the stub refuses > 1000
    np.testing.assert_allclose(vectors[1000], stub_vector(
        [{"type": "text", "text": "item 1000"}], "document"), atol=1e-6)


def test_429_waits_retry_after_and_5xx_backs_off(stub, caplog):
    stub.faults = [(429, "1"), (500, None), (503, None)]
    emb = VoyageEmbedder(api_key=KEY, base_url=stub.base_url, backoff_s=0.05)
    with caplog.at_level(logging.WARNING, logger="mmindex.backends.apiclient"):
        v = embed_items(emb, [Item("a", "hello")])
    assert stub.statuses == [429, 500, 503, 200]
    waits = [r.getMessage() for r in caplog.records]
    assert "HTTP 429" in waits[0] and waits[0].endswith("in 1.0 s")  # Retry-After honoured
    assert waits[1].endswith("in 0.1 s") and waits[2].endswith("in 0.2 s")  # doubling backoff
    np.testing.assert_allclose(v[0], stub_vector([{"type": "text", "text": "hello"}],
                                                 "document"), atol=1e-6)


def test_retries_exhausted_is_a_transient_run_error(stub):
    stub.faults = [(500, None)] * 3
    emb = VoyageEmbedder(api_key=KEY, base_url=stub.base_url, max_retries=2, backoff_s=0.01)
    with pytest.raises(StorageError, match="still failing after 2 retries") as err:
        embed_items(emb, [Item("a", "hello")])
    assert err.value.transient and len(stub.requests) == 3


def test_a_bad_key_fails_at_once_without_retries(stub):
    emb = VoyageEmbedder(api_key="wrong-key", base_url=stub.base_url, backoff_s=0.01)
    with pytest.raises(ConfigError, match="refused the API key .*HTTP 401") as err:
        embed_items(emb, [Item("a", "hello")])
    assert "wrong-key" not in str(err.value)
    assert stub.statuses == [401]


def test_no_key_is_a_clear_config_error():
    with pytest.raises(ConfigError, match="MMINDEX_VOYAGE_API_KEY"):
        load_embedder("voyage-multimodal-3", settings=Settings(), reuse=False)


def test_the_key_is_masked_in_settings_and_redacted_records():
    s = Settings(voyage_api_key=KEY)
    assert KEY not in repr(s) and KEY not in json.dumps(s.model_dump(mode="json"))
    assert s.transport()["voyage_api_key"] == KEY  # a worker can rebuild the settings...
    assert Settings.redact(s.transport())["voyage_api_key"] == "set"  # ...records say "set"
    assert Settings(**s.transport()).voyage_api_key.get_secret_value() == KEY
    from mmindex.cli.configdoc import effective, effective_text

    shown = effective_text(effective(s, {k: "default" for k in Settings.model_fields}))
    assert KEY not in shown and 'voyage_api_key' in shown and '"**********"' in shown


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmindex", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_embed_run_over_the_sample_through_the_stub_never_records_the_key(stub, tmp_path,
                                                                         caplog):
    manifest = tmp_path / "manifest.jsonl"
    rows = (REPO / "data/sample/manifest.jsonl").read_text().splitlines()
    sample = REPO / "data/sample"
    fixed = []
    for line in rows:  # media paths relative to the sample folder
        row = json.loads(line)
        for k in ("image", "video"):
            if row.get(k):
                row[k] = str(sample / row[k])
        fixed.append(json.dumps(row))
    fixed.append(json.dumps({"id": "poison", "text": "POISON pill"}))  # the API refuses it
    manifest.write_text("\n".join(fixed) + "\n")
    db = tmp_path / "db"
    env = dict(os.environ, MMINDEX_DB=str(db), MMINDEX_CONFIG=os.devnull,
               MMINDEX_VOYAGE_API_KEY=KEY, MMINDEX_VOYAGE_BASE_URL=stub.base_url,
               MMINDEX_MEDIA_ROOTS=json.dumps([str(sample)]))
    stub.faults = [(429, "0"), (500, None)]  # the run rides over both
    p = _cli("embed", str(manifest), "--index", "vs", "--model", "voyage-multimodal-3",
             "--no-prefect", "--json", "--dims", "256", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    videos = sum(1 for r in rows if json.loads(r).get("video"))
    assert out["inserted"] == len(rows) - videos
    assert out["quarantine_reasons"] == {"unsupported_format": videos, "embed_failed": 1}
    # the re-run and a search, in this process (their log records are checked below)
    from mmindex.pipeline import run_embed
    from mmindex.search import open_index

    settings = Settings(db=str(db), model="voyage-multimodal-3", dims=256, voyage_api_key=KEY,
                        voyage_base_url=stub.base_url, media_roots=[str(sample)])
    with caplog.at_level(logging.DEBUG):
        again = run_embed(str(manifest), "vs", settings).to_dict()
        assert again["inserted"] == 0 and again["skipped_unchanged"] == len(rows) - videos
        index = open_index("vs", version=out["version"], settings=settings)
        results = index.ranked(None, index.embed_query("a penguin"), k=10, mode="vector")
    assert len(results) == 10
    assert stub.requests[-1]["input_type"] == "query"
    assert stub.requests[-1]["inputs"] == [{"content": [{"type": "text", "text": "a penguin"}]}]

    def cut(v):  # --dims 256: Matryoshka truncation, renormalised
        return v[:256] / np.linalg.norm(v[:256])

    q = cut(stub_vector([{"type": "text", "text": "a penguin"}], "query"))
    docs = {json.dumps(x["content"]): x["content"] for r in stub.requests
            if r["input_type"] == "document" for x in r["inputs"]}
    best = max(float(q @ cut(stub_vector(c, "document"))) for c in docs.values()
               if "POISON" not in json.dumps(c))
    assert results[0][1] == pytest.approx(best, abs=1e-4)  # the stub's vectors, stored
    # the key: in no output, no log line, no byte of the database (ledger included)
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)
    for text in (p.stdout, p.stderr):
        assert KEY not in text
    for f in db.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
    from mmindex.index import connect, ledger

    run = ledger.runs(connect(Settings(db=str(db))), "vs")[-1]
    assert json.loads(run["config"])["settings"]["voyage_api_key"] == "set"


def test_an_outage_fails_the_run_and_the_rerun_resumes_from_staged_rows(stub, tmp_path):
    from mmindex.index import connect, ledger
    from mmindex.pipeline import run_embed

    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document {i}"}) + "\n"
                                for i in range(10)))
    settings = Settings(db=str(tmp_path / "db"), model="voyage-multimodal-3",
                        voyage_api_key=KEY, voyage_base_url=stub.base_url, api_max_retries=1,
                        max_batch_items=4, stage_rows=1, prep_workers=1)
    stub.fail_after = 1  # the first batch is answered, then the service is down
    with pytest.raises(StorageError, match="still failing after 1 retries"):
        run_embed(str(manifest), "out", settings)
    assert ledger.runs(connect(settings), "out")[-1]["status"] == "failed"
    stub.fail_after, before = None, len(stub.requests)
    result = run_embed(str(manifest), "out", settings).to_dict()
    assert result["inserted"] == 10 and result["reused_staged"] == 4  # nothing asked twice
    assert sum(len(r["inputs"]) for r in stub.requests[before:]) == 6


HTML = b"<html><body><h1>502 Bad Gateway</h1><p>upstream sleeping</p></body></html>"


@pytest.mark.parametrize(("status", "body"), [(200, HTML), (400, HTML), (200, b'{"data": []}'),
                                              (200, b'{"data": [{"index": 0}]}')],
                         ids=["200-html", "400-html", "200-no-vectors", "200-no-embedding"])
def test_a_server_that_answers_garbage_fails_the_run_and_blames_no_item(stub, tmp_path, status,
                                                                        body):
    """Not the API's answer (a proxy's page, a truncated or empty body): a service fault.
    Retried, then the run fails with a clear error; no item is quarantined, and the next run
    embeds them all."""
    from mmindex.index import connect, ledger
    from mmindex.pipeline import run_embed

    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document {i}"}) + "\n"
                                for i in range(10)))
    settings = Settings(db=str(tmp_path / "db"), model="voyage-multimodal-3",
                        voyage_api_key=KEY, voyage_base_url=stub.base_url, api_max_retries=2,
                        max_batch_items=4, stage_rows=1, prep_workers=1)
    stub.raw_after = (1, status, body)  # the first batch is answered, then garbage
    with pytest.raises(StorageError, match="still failing after 2 retries.*no item was "
                                           "quarantined") as err:
        run_embed(str(manifest), "out", settings)
    assert err.value.transient
    db = connect(settings)
    assert ledger.runs(db, "out")[-1]["status"] == "failed"
    assert ledger.quarantined(db, "out") == []
    stub.raw_after = None
    result = run_embed(str(manifest), "out", settings).to_dict()
    assert result["inserted"] == 10 and result["quarantined"] == 0
    assert ledger.quarantined(db, "out") == []


def test_a_server_that_echoes_the_key_never_gets_it_printed_or_stored(stub, tmp_path):
    """401, 503 and 400 bodies quoting the key, and a password in voyage_base_url: neither is in
    stderr, stdout, ``_runs``, ``_quarantine`` or any byte of the database."""
    wrong, password = "vk-wrong-SECRET-81d3e7", "pw-SECRET-5c6b"
    stub.echo_key = True
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "ok", "text": "fine"}) + "\n"
                        + json.dumps({"id": "poison", "text": "POISON pill"}) + "\n")
    db = tmp_path / "db"
    env = dict(os.environ, MMINDEX_DB=str(db), MMINDEX_CONFIG=os.devnull,
               MMINDEX_VOYAGE_API_KEY=KEY, MMINDEX_VOYAGE_BASE_URL=stub.base_url,
               MMINDEX_API_MAX_RETRIES="1")
    args = ["--model", "voyage-multimodal-3", "--no-prefect", "--json"]
    outputs = []
    stub.faults = [(503, None)]  # an echoing 503 (retried), then an echoing 400 (quarantined)
    p = _cli("embed", str(manifest), "--index", "a", *args, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads(p.stdout)["quarantine_reasons"] == {"embed_failed": 1}
    outputs.append(p)
    stub.fail_after = 0  # an echoing 503 until the run gives up
    outputs.append(_cli("embed", str(manifest), "--index", "b", *args, env=env))
    stub.fail_after = None  # a wrong key, echoed in the 401
    outputs.append(_cli("embed", str(manifest), "--index", "c", *args,
                        env=dict(env, MMINDEX_VOYAGE_API_KEY=wrong)))
    userinfo = stub.base_url.replace("http://", f"http://user:{password}@")
    outputs.append(_cli("embed", str(manifest), "--index", "d", *args,
                        env=dict(env, MMINDEX_VOYAGE_BASE_URL=userinfo)))
    outputs.append(_cli("config", env=dict(env, MMINDEX_VOYAGE_BASE_URL=userinfo)))
    assert [o.returncode for o in outputs] == [0, 2, 2, 2, 0], [o.stderr for o in outputs]
    assert "HTTP 503" in outputs[1].stderr and "HTTP 401" in outputs[2].stderr
    assert "user:***@127.0.0.1" in outputs[4].stdout
    secrets = (KEY, wrong, password)
    for o in outputs:
        for secret in secrets:
            assert secret not in o.stdout + o.stderr, (secret, o.stderr[-2000:])
    from mmindex.index import connect, ledger

    con = connect(Settings(db=str(db)))
    errors = [ledger.runs(con, i)[-1]["error"] for i in "bcd"]
    assert all(errors) and "(request key: ***)" in errors[0], errors
    [poison] = ledger.quarantined(con, "a")
    assert "(request key: ***)" in poison["message"], poison
    for f in db.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert not any(s.encode() in data for s in secrets), f
