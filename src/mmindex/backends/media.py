"""Media bytes and decoding that every backend shares (CPU only, no model rules).

Where an item's bytes come from (the reader stage, else a local file), opening an image fully
so that a truncated file fails in ``decode`` and not in the batch, probing a video's container,
and the :class:`~mmindex.errors.ItemError` reason each failure gets (``missing_media``,
``corrupt_media``, ``unsupported_format``, ``media_too_large``). Resize rules are the models'
own (e.g. :mod:`mmindex.backends.qwen3vl_inputs` for the Qwen-VL family).
"""

from __future__ import annotations

import io
import os
from typing import Any

from mmindex.backends.base import LoadedItem
from mmindex.errors import ItemError

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpeg", ".mpg", ".ts",
                    ".flv", ".wmv", ".3gp"}


def extension(ref: str) -> str:
    """The lower-case file extension of a media reference (``.png``), query string dropped."""
    return os.path.splitext(ref.split("?", 1)[0])[1].lower()


def local_path(ref: str) -> str | None:
    """The local file ``ref`` names (``file://`` or a plain path), or None."""
    path = ref[len("file://"):] if ref.startswith("file://") else ref
    return path if "://" not in path and os.path.isfile(path) else None


def media_bytes(loaded: LoadedItem, ref: str) -> bytes:
    """The bytes of ``ref``: from the reader stage, else from a local file."""
    blob = loaded.blobs.get(ref)
    if blob is None and (path := local_path(ref)):
        with open(path, "rb") as f:
            blob = f.read()
    if blob is None:
        raise ItemError("missing_media", f"{ref}: no bytes were read for it. Help: check that the "
                        "file exists and is readable from this machine.", loaded.item.id)
    return blob


def image_format_error(ref: str, blob: bytes, item_id: str, cause: Exception) -> ItemError:
    """``unsupported_format`` for SVG or an extension PIL does not know, else ``corrupt_media``."""
    from PIL import Image

    head = blob[:512].lstrip().lower()
    known = extension(ref) in Image.registered_extensions()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head) or not known:
        return ItemError("unsupported_format", f"{ref}: not an image format we can decode "
                         f"({cause}). Help: convert it to PNG/JPEG/WebP.", item_id)
    return ItemError("corrupt_media", f"{ref}: cannot decode the image ({cause}). Help: "
                     "re-export or replace the file.", item_id)


def open_image(ref: str, blob: bytes, item_id: str) -> Any:
    """The image decoded fully (PIL, its own mode; the caller converts and resizes).

    Raises:
        ItemError: ``media_too_large`` (a decompression bomb), ``unsupported_format`` or
            ``corrupt_media`` (:func:`image_format_error`).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(blob))
        image.load()  # Image.open is lazy: force the decode so truncated files fail here
    except Image.DecompressionBombError as exc:
        raise ItemError("media_too_large", f"{ref}: {exc}. Help: downscale the image.",
                        item_id) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise image_format_error(ref, blob, item_id, exc) from exc
    return image


def probe_video(ref: str, blob: bytes | None, path: str | None, item_id: str) -> dict[str, Any]:
    """Container metadata via PyAV (no decoding): frames, fps, width, height."""
    import av

    try:
        with av.open(path if path else io.BytesIO(blob or b"")) as container:
            if not container.streams.video:
                raise ItemError("unsupported_format", f"{ref}: no video stream. Help: embed the "
                                "audio's transcript as text instead.", item_id)
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 24.0
            frames = stream.frames
            if not frames and stream.duration and stream.time_base:
                frames = int(float(stream.duration * stream.time_base) * fps)
            if not frames and container.duration:
                frames = int(container.duration / 1_000_000 * fps)
            return {"frames": int(frames), "fps": fps, "width": stream.codec_context.width,
                    "height": stream.codec_context.height}
    except ItemError:
        raise
    except Exception as exc:  # PyAV raises many error types for undecodable input
        reason = "corrupt_media" if extension(ref) in VIDEO_EXTENSIONS else "unsupported_format"
        raise ItemError(reason, f"{ref}: cannot open the video ({exc}). Help: re-encode it as "
                        "H.264 MP4.", item_id) from exc
