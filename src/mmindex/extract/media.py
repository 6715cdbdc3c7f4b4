"""Reading an item's media bytes from storage, and cheap checks on image headers.

What is the item's fault and what is the system's is decided here: a missing file or key, a file
over the byte limit, or an image that cannot be identified is an :class:`ItemError` (the item is
quarantined, the run goes on); a refused connection or rejected credentials is a
:class:`StorageError` (the run fails fast, and is retried as a whole).
"""

from __future__ import annotations

import io
from typing import Any

from mmindex.errors import ItemError, MMIndexError
from mmindex.extract.filesystem import filesystem_for, storage_error
from mmindex.items import Item

DEFAULT_MAX_BYTES = 64 * 1024 * 1024

# Magic numbers of image formats PIL reads: a file that starts like one but does not open is
# corrupt; anything else PIL cannot identify is a format we do not support (svg, pdf, docx...).
_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def read_blob(ref: str, *, storage_options: dict[str, Any] | None = None,
              max_bytes: int = DEFAULT_MAX_BYTES, item_id: str | None = None) -> bytes:
    """Read one media file or object, checking its size before reading it.

    Raises:
        ItemError: ``missing_media`` (no such file/key, or a directory) or ``media_too_large``.
        StorageError: The store cannot be reached or refuses the credentials.
    """
    try:
        fs, path = filesystem_for(ref, storage_options)
        info = fs.info(path)
        if info.get("type") == "directory":
            raise ItemError("missing_media", f"{ref} is a directory, not a file", item_id)
        size = info.get("size")
        if size is not None and size > max_bytes:
            raise ItemError(
                "media_too_large",
                f"{ref} is {_mib(size)}, over the {_mib(max_bytes)} limit (max_media_bytes)",
                item_id,
            )
        data = fs.cat_file(path)
    except FileNotFoundError:
        raise ItemError("missing_media", f"{ref} does not exist", item_id) from None
    except IsADirectoryError:
        raise ItemError("missing_media", f"{ref} is a directory, not a file", item_id) from None
    except MMIndexError:
        raise
    except Exception as exc:  # network, credentials, permissions: not this item's fault
        raise storage_error(exc, "read media", ref) from exc
    if len(data) > max_bytes:  # the store reported no size, or the file grew meanwhile
        raise ItemError(
            "media_too_large", f"{ref} is over the {_mib(max_bytes)} limit", item_id
        )
    return data


def read_blobs(item: Item, *, storage_options: dict[str, Any] | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, bytes]:
    """Read every media reference of ``item`` (images, then video).

    Returns:
        ``{ref: bytes}`` in ``item.media`` order (a reference used twice is read once).

    Raises:
        ItemError: ``missing_media`` or ``media_too_large`` for the first bad reference.
        StorageError: The store cannot be reached or refuses the credentials.
    """
    blobs: dict[str, bytes] = {}
    for ref in item.media:
        if ref not in blobs:
            blobs[ref] = read_blob(
                ref, storage_options=storage_options, max_bytes=max_bytes, item_id=item.id
            )
    return blobs


def image_header(data: bytes, *, item_id: str | None = None) -> tuple[int, int, str]:
    """``(width, height, format)`` of an encoded image, read from its header (no pixel decode).

    Raises:
        ItemError: ``unsupported_format`` when no image reader recognises the bytes (SVG, PDF,
            documents), ``corrupt_media`` when the header is broken, ``media_too_large`` when
            PIL refuses it as a decompression bomb.
    """
    from PIL import Image, UnidentifiedImageError

    looks_like_image = data.startswith(_IMAGE_MAGIC) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            fmt = img.format or "unknown"
    except Image.DecompressionBombError as exc:
        raise ItemError("media_too_large", f"image refused as a decompression bomb ({exc})",
                        item_id) from None
    except UnidentifiedImageError:
        if looks_like_image:
            raise ItemError("corrupt_media", "image header is broken", item_id) from None
        head = data[:16].lstrip()[:8]
        raise ItemError(
            "unsupported_format",
            f"not an image format we can read (starts with {head!r}); convert it to "
            "PNG/JPEG/WebP",
            item_id,
        ) from None
    except Exception as exc:  # PIL raises SyntaxError/OSError/ValueError on broken headers
        raise ItemError("corrupt_media", f"image header is broken ({exc})", item_id) from exc
    if width <= 0 or height <= 0:
        raise ItemError("corrupt_media", f"image has size {width}x{height}", item_id)
    return width, height, fmt


def check_image_limits(data: bytes, max_pixels: int, *,
                       item_id: str | None = None) -> tuple[int, int, str]:
    """Reject an image with more than ``max_pixels`` pixels before anything decodes it.

    Returns:
        ``(width, height, format)`` from :func:`image_header`.

    Raises:
        ItemError: ``media_too_large`` above the limit, or any :func:`image_header` error.
    """
    width, height, fmt = image_header(data, item_id=item_id)
    if width * height > max_pixels:
        raise ItemError(
            "media_too_large",
            f"image is {width}x{height} = {width * height:,} pixels, over the {max_pixels:,} "
            "limit (max_image_pixels)",
            item_id,
        )
    return width, height, fmt

