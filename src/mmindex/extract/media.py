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
from mmindex.extract.access import MediaPolicy, read_local, read_remote
from mmindex.extract.filesystem import filesystem_for, is_local, normalize, storage_error
from mmindex.items import Item

DEFAULT_MAX_BYTES = 64 * 1024 * 1024

# Magic numbers of image formats PIL reads: a file that starts like one but does not open is
# corrupt; anything else PIL cannot identify is a format we do not support (svg, pdf, docx...).
_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
)


def read_blob(ref: str, *, storage_options: dict[str, Any] | None = None,
              max_bytes: int = DEFAULT_MAX_BYTES, item_id: str | None = None,
              policy: MediaPolicy | None = None) -> bytes:
    """Read one media file or object within ``max_bytes`` (checked before and while reading).

    Args:
        policy: the data roots a manifest's references must stay under (None: no restriction,
            for references a user typed, e.g. an image query).

    Raises:
        ItemError: ``missing_media`` (no such file/key, or a directory), ``media_refused``
            (outside the roots, a URL scheme not allowed, not a regular file) or
            ``media_too_large``.
        StorageError: The store cannot be reached or refuses the credentials.
    """
    if policy is not None:
        ref_to_read = policy.admit(ref, item_id)
    else:
        ref_to_read = ref
    try:
        if is_local(ref_to_read):
            return read_local(normalize(ref_to_read), ref, max_bytes, item_id)
        fs, path = filesystem_for(ref_to_read, storage_options)
        return read_remote(fs, path, ref, max_bytes, item_id)
    except FileNotFoundError:
        raise ItemError("missing_media", f"{ref} does not exist", item_id) from None
    except IsADirectoryError:
        raise ItemError("missing_media", f"{ref} is a directory, not a file", item_id) from None
    except MMIndexError:
        raise
    except Exception as exc:  # network, credentials, permissions: not this item's fault
        raise storage_error(exc, "read media", ref) from exc


def read_blobs(item: Item, *, storage_options: dict[str, Any] | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES,
               policy: MediaPolicy | None = None) -> dict[str, bytes]:
    """Read every media reference of ``item`` (images, then video).

    Returns:
        ``{ref: bytes}`` in ``item.media`` order (a reference used twice is read once).

    Raises:
        ItemError: ``missing_media``, ``media_refused`` or ``media_too_large`` for the first bad
            reference.
        StorageError: The store cannot be reached or refuses the credentials.
    """
    blobs: dict[str, bytes] = {}
    for ref in item.media:
        if ref not in blobs:
            blobs[ref] = read_blob(ref, storage_options=storage_options, max_bytes=max_bytes,
                                   item_id=item.id, policy=policy)
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
        # the message names no byte of the file: a quarantine row must not copy its content
        raise ItemError(
            "unsupported_format",
            "not an image format we can read; convert it to PNG/JPEG/WebP", item_id,
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

