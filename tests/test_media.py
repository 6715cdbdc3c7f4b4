"""Reading media bytes and checking image headers: the right quarantine reason for each fault."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from mmindex.errors import ItemError
from mmindex.extract.media import check_image_limits, image_header, read_blobs
from mmindex.items import Item


def png_bytes(width: int, height: int, color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims any size, with (almost) no pixel data: how a bomb starts."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b""))
            + _chunk(b"IEND", b""))


def test_read_blobs_reads_every_ref_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"AAA")
    (tmp_path / "v.mp4").write_bytes(b"VIDEO")
    item = Item("x", images=(str(tmp_path / "a.png"), f"file://{tmp_path}/a.png"),
                video=str(tmp_path / "v.mp4"))
    blobs = read_blobs(item)
    assert list(blobs) == list(item.media)
    assert list(blobs.values()) == [b"AAA", b"AAA", b"VIDEO"]


def test_missing_file_is_missing_media(tmp_path: Path) -> None:
    item = Item("x", images=(str(tmp_path / "gone.png"),))
    with pytest.raises(ItemError) as e:
        read_blobs(item)
    assert e.value.reason == "missing_media" and e.value.item_id == "x"
    assert "gone.png" in str(e.value)
    with pytest.raises(ItemError, match="missing_media"):
        read_blobs(Item("d", images=(str(tmp_path),)))  # a directory is not an image


def test_file_over_the_byte_limit_is_media_too_large(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(b"x" * 2000)
    item = Item("x", images=(str(tmp_path / "big.png"),))
    with pytest.raises(ItemError) as e:
        read_blobs(item, max_bytes=1000)
    assert e.value.reason == "media_too_large"
    assert read_blobs(item, max_bytes=2000)[str(tmp_path / "big.png")] == b"x" * 2000


def test_image_header_reads_size_and_format() -> None:
    assert image_header(png_bytes(30, 20)) == (30, 20, "PNG")
    buf = io.BytesIO()
    Image.new("RGB", (8, 5)).save(buf, "JPEG")
    assert image_header(buf.getvalue()) == (8, 5, "JPEG")
    assert image_header(png_header_only(4000, 3000)) == (4000, 3000, "PNG")  # no pixel data


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
    b"PK\x03\x04\x14\x00\x06\x00word/document.xml",  # .docx
    b"",
])
def test_non_images_are_unsupported_format(data: bytes) -> None:
    with pytest.raises(ItemError) as e:
        image_header(data)
    assert e.value.reason == "unsupported_format"


def test_broken_png_header_is_corrupt_media() -> None:
    good = png_bytes(10, 10)
    for broken in (good[:12], good[:16] + b"\x00" * 8 + good[24:]):
        with pytest.raises(ItemError) as e:
            image_header(broken)
        assert e.value.reason == "corrupt_media"


def test_pixel_limit_is_checked_before_decoding() -> None:
    with pytest.raises(ItemError) as e:
        check_image_limits(png_header_only(9000, 9000), max_pixels=64_000_000)
    assert e.value.reason == "media_too_large" and "81,000,000" in str(e.value)
    with pytest.raises(ItemError, match="media_too_large"):  # beyond PIL's own bomb guard
        check_image_limits(png_header_only(100_000, 100_000), max_pixels=10**12)
    assert check_image_limits(png_bytes(40, 30), max_pixels=1200) == (40, 30, "PNG")
