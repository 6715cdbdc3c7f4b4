"""A manifest cannot make the worker read outside its data roots, fetch URLs, read devices or
FIFOs, or read more than the size limit: each such item is quarantined in seconds, with a reason
and a message that holds no byte of the file, and the run goes on."""

from __future__ import annotations

import http.server
import io
import json
import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from mmindex.config import Settings
from mmindex.errors import ItemError
from mmindex.extract import MediaPolicy
from mmindex.extract.media import read_blob
from mmindex.index import connect, ledger
from mmindex.pipeline import run_embed


def png(path: Path) -> Path:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


class Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"\x89PNG fake")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def loopback_http():
    Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Recorder.hits
    server.shutdown()


@pytest.fixture
def corpus(tmp_path: Path, loopback_http) -> tuple[Path, dict[str, str], list[str]]:
    """A manifest in ``data/`` with one good item and one of every kind of escape."""
    url, hits = loopback_http
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    png(data / "img" / "ok.png")
    outside = png(tmp_path / "outside.png")
    (data / "img" / "link.png").symlink_to(outside)
    (data / "img" / "zero.png").symlink_to("/dev/zero")
    os.mkfifo(data / "img" / "fifo.png")
    refs = {
        "good": "img/ok.png",
        "dotdot": "../outside.png",
        "absolute": str(outside),
        "passwd": "/etc/passwd",
        "symlink": "img/link.png",
        "devzero": "/dev/zero",
        "devzero-link": "img/zero.png",
        "fifo": "img/fifo.png",
        "http": f"{url}/figure.png",
    }
    rows = [{"id": k, "text": f"item {k}", "images": [v]} for k, v in refs.items()]
    (data / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data / "manifest.jsonl", refs, hits


def test_escapes_are_quarantined_in_seconds_and_the_run_goes_on(tmp_path, corpus) -> None:
    manifest, refs, hits = corpus
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache",
                 media_roots=["/dev"])  # even a root that holds devices reads no device
    t0 = time.perf_counter()
    r = run_embed(str(manifest), "items", s)
    elapsed = time.perf_counter() - t0
    assert elapsed < 60  # a FIFO or /dev/zero would hang or exhaust memory instead
    assert r.embedded == 1 and r.quarantined == len(refs) - 1
    assert r.quarantine_reasons == {"media_refused": len(refs) - 1}
    bad = {q["item_id"]: q["message"] for q in ledger.quarantined(connect(s), "items")}
    assert set(bad) == set(refs) - {"good"}
    passwd = open("/etc/passwd").read()
    for item, message in bad.items():  # no byte of any file in any message
        assert passwd[:8] not in message and "root:" not in message, (item, message)
    assert "not a regular file" in bad["fifo"] and "not a regular file" in bad["devzero-link"]
    assert "not allowed" in bad["http"] and "media_url_schemes" in bad["http"]
    assert hits == []  # the worker sent no request


def test_listed_roots_and_schemes_are_read(tmp_path, corpus) -> None:
    manifest, refs, hits = corpus
    policy = MediaPolicy.for_source(str(manifest.parent), [str(tmp_path)], ["http"])
    assert read_blob(refs["absolute"], policy=policy).startswith(b"\x89PNG")
    linked = read_blob(str(manifest.parent / refs["symlink"]), policy=policy)
    assert linked.startswith(b"\x89PNG")
    assert read_blob(refs["http"], policy=policy) == b"\x89PNG fake" and hits
    with pytest.raises(ItemError, match="media_refused"):
        read_blob("/etc/passwd", policy=policy)


def test_the_size_limit_holds_before_and_while_reading(tmp_path) -> None:
    big = tmp_path / "big.png"
    with open(big, "wb") as fh:  # 4 GiB, sparse: reading it would take minutes and memory
        fh.truncate(4 << 30)
    policy = MediaPolicy.for_source(str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(ItemError, match="media_too_large"):
        read_blob(str(big), max_bytes=1 << 20, policy=policy)
    assert time.perf_counter() - t0 < 5


def test_a_huge_manifest_line_is_a_bad_record_read_in_bounded_pieces(tmp_path) -> None:
    import resource

    from mmindex.extract import open_source

    manifest = tmp_path / "m.jsonl"
    with open(manifest, "w") as fh:
        fh.write(json.dumps({"id": "a", "text": "fine"}) + "\n")
        fh.write('{"id": "huge", "text": "' + "x" * (40 * 2**20) + '"}\n')  # a 40 MB line
        fh.write(json.dumps({"id": "b", "text": "fine too"}) + "\n")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = [x for c in open_source(str(manifest), max_record_bytes=2**20).iter_chunks() for x in c]
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    assert [getattr(x, "id", None) for x in rows] == ["a", None, "b"]
    assert rows[1].reason == "bad_record" and "max_record_bytes" in rows[1].message
    assert grown_mib < 20  # the 40 MB line was never held whole
