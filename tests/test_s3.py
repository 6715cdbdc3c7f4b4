"""Manifests and media in an S3-compatible object store (a real moto server on loopback)."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmindex.errors import ItemError, StorageError
from mmindex.extract.media import image_header, read_blobs
from mmindex.extract.sources import open_source
from mmindex.items import BadRecord, Item

if TYPE_CHECKING:
    from s3server import S3Server

pytest_plugins = ["s3server"]  # the s3_server / s3_bucket fixtures (tests/s3server.py)

ROWS = [
    {"id": "a", "text": "그림을 보고 답하시오.", "images": ["img/a.png"], "grade": 3},
    {"id": "b", "text": "two figures", "images": ["img/b.png", "../shared/c.png"], "grade": 4},
    {"id": "c", "text": "absent figure", "images": ["img/missing.png"], "grade": 5},
]


def _png(color: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (6, 4), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def corpus(s3_server: S3Server, s3_bucket: str) -> str:
    """Manifests (jsonl + parquet) and images under ``s3://bucket/exams/2026``; returns it."""
    prefix = f"{s3_bucket}/exams/2026"
    s3_server.put(f"{prefix}/manifest.jsonl",
                  "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS).encode())
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(ROWS), sink)
    s3_server.put(f"{prefix}/manifest.parquet", sink.getvalue().to_pybytes())
    s3_server.put(f"{prefix}/img/a.png", _png("red"))
    s3_server.put(f"{prefix}/img/b.png", _png("blue"))
    s3_server.put(f"{s3_bucket}/exams/shared/c.png", _png("green"))
    return prefix


@pytest.mark.parametrize("name", ["manifest.jsonl", "manifest.parquet"])
def test_reads_manifest_and_media_from_s3(s3_server: S3Server, corpus: str, name: str) -> None:
    opts = s3_server.storage_options
    src = open_source(f"{corpus}/{name}", storage_options=opts)
    assert src.uri == f"{corpus}/{name}" and "secret" not in json.dumps(src.describe())
    items = [x for chunk in src.iter_chunks() for x in chunk]
    assert [i.id for i in items] == ["a", "b", "c"]
    assert items[1].images == (f"{corpus}/img/b.png", corpus.rsplit("/", 1)[0] + "/shared/c.png")
    assert items[0].metadata == {"grade": 3}

    blobs = read_blobs(items[1], storage_options=opts)
    assert [image_header(b) for b in blobs.values()] == [(6, 4, "PNG"), (6, 4, "PNG")]
    with pytest.raises(ItemError) as e:
        read_blobs(items[2], storage_options=opts)
    assert e.value.reason == "missing_media" and e.value.item_id == "c"
    with pytest.raises(ItemError, match="media_too_large"):
        read_blobs(items[0], storage_options=opts, max_bytes=10)


def test_bad_rows_in_s3_manifest_are_quarantined(s3_server: S3Server, s3_bucket: str) -> None:
    uri = s3_server.put(f"{s3_bucket}/m.jsonl", b'{"id": "a"}\nnot json\n{"id": "a"}\n')
    out = [x for c in open_source(uri, storage_options=s3_server.storage_options).iter_chunks()
           for x in c]
    assert isinstance(out[0], Item)
    assert [type(x) for x in out[1:]] == [BadRecord, BadRecord]


def test_missing_manifest_key_is_a_storage_error(s3_server: S3Server, s3_bucket: str) -> None:
    with pytest.raises(StorageError, match="not found"):
        open_source(f"{s3_bucket}/nope/manifest.jsonl", storage_options=s3_server.storage_options)


def test_unreachable_endpoint_fails_fast_with_storage_error() -> None:
    from s3server import closed_port

    opts = {"endpoint_url": f"http://127.0.0.1:{closed_port()}", "key": "x", "secret": "x"}
    with pytest.raises(StorageError, match="Help:"):
        open_source("s3://bucket/manifest.jsonl", storage_options=opts)
    with pytest.raises(StorageError, match="Help:"):
        read_blobs(Item("a", images=("s3://bucket/a.png",)), storage_options=opts)


def test_wrong_credentials_are_a_storage_error_not_a_bad_item(s3_bucket: str,
                                                             s3_server: S3Server) -> None:
    # moto accepts any key by default; an anonymous request to a private bucket is refused.
    s3_server.put(f"{s3_bucket}/a.png", _png("red"))
    opts = {"endpoint_url": s3_server.endpoint_url, "anon": True}
    with pytest.raises(StorageError, match="credentials"):
        read_blobs(Item("a", images=(f"{s3_bucket}/a.png",)), storage_options=opts)
