"""Qwen3-VL-Embedding inputs: instructions, media decoding and cost estimates (CPU only).

The resize rules are qwen-vl-utils' (``image_patch_size=16``), called directly so our pixels are
the reference recipe's pixels. See ``/work/shared/reference/qwen3-vl-embedding.md``.
"""

from __future__ import annotations

import io
import os
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mmindex.backends.base import LoadedItem
from mmindex.errors import ItemError

PATCH = 16
FACTOR = 32  # patch 16 x spatial merge 2: resized sides are multiples of this
# The most pixels a resize bound may ask for (qwen-vl-utils' own ceiling, 16384 * 28 * 28): a
# recipe with min_pixels = 10**9 went past 5 GB before it was killed (issue 23, item 5)
PIXEL_CAP = 16384 * 28 * 28  # 12,845,056


def check_pixel_limits(min_pixels: Any, max_pixels: Any, where: str) -> None:
    """Refuse resize bounds that are not ``0 < min_pixels <= max_pixels <= PIXEL_CAP``.

    Raises:
        ConfigError: naming ``where`` (the recipe file, the model) and the cap.
    """
    from mmindex.errors import ConfigError

    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (min_pixels, max_pixels))
    if not (ok and 0 < min_pixels <= max_pixels <= PIXEL_CAP):
        raise ConfigError(f"{where}: min_pixels={min_pixels!r}, max_pixels={max_pixels!r}. "
                          f"Help: need whole numbers with 0 < min_pixels <= max_pixels <= "
                          f"{PIXEL_CAP:,} (every image is resized to hold between the two).")
MIN_PIXELS = 4 * FACTOR * FACTOR  # 4,096
MAX_PIXELS = 1800 * FACTOR * FACTOR  # 1,843,200 (~1800 visual tokens)
FRAME_MIN_PIXELS = 128 * FACTOR * FACTOR  # qwen-vl-utils' per-frame floor for video files
FRAME_MAX_PIXELS = 768 * FACTOR * FACTOR  # 786,432
DOCUMENT_INSTRUCTION = "Represent the user's input."
QUERY_INSTRUCTION = "Retrieve images or text relevant to the user's query."
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpeg", ".mpg", ".ts",
                    ".flv", ".wmv", ".3gp"}


def normalize_instruction(instruction: str | None, default: str) -> str:
    """The recipe's instruction rule: strip; empty -> default; end with "." unless punctuation."""
    text = (instruction or "").strip()
    if not text:
        text = default
    if not unicodedata.category(text[-1]).startswith("P"):
        text += "."
    return text


@dataclass
class DecodedItem:
    """One item ready for the chat template: resized images, sampled video frames, text."""

    item_id: str
    text: str | None
    images: list[Any] = field(default_factory=list)  # PIL images, already resized
    video: Any = None  # (frames tensor TCHW float, metadata dict) from qwen-vl-utils
    visual_tokens: int = 0


def _extension(ref: str) -> str:
    return os.path.splitext(ref.split("?", 1)[0])[1].lower()


def local_path(ref: str) -> str | None:
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


def _image_format_error(ref: str, blob: bytes, item_id: str, cause: Exception) -> ItemError:
    from PIL import Image

    head = blob[:512].lstrip().lower()
    known = _extension(ref) in Image.registered_extensions()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head) or not known:
        return ItemError("unsupported_format", f"{ref}: not an image format we can decode "
                         f"({cause}). Help: convert it to PNG/JPEG/WebP.", item_id)
    return ItemError("corrupt_media", f"{ref}: cannot decode the image ({cause}). Help: "
                     "re-export or replace the file.", item_id)


def open_image(ref: str, blob: bytes, item_id: str) -> Any:
    """Decode fully (no conversion, no resize): a PIL image in its own mode.

    Raises:
        ItemError: ``media_too_large`` (a decompression bomb), ``unsupported_format`` or
            ``corrupt_media``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(blob))
        image.load()  # Image.open is lazy: force the decode so truncated files fail here
    except Image.DecompressionBombError as exc:
        raise ItemError("media_too_large", f"{ref}: {exc}. Help: downscale the image.",
                        item_id) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _image_format_error(ref, blob, item_id, exc) from exc
    return image


def decode_image(ref: str, blob: bytes, item_id: str, min_pixels: int, max_pixels: int,
                 patch_size: int = PATCH) -> Any:
    """Decode fully, composite RGBA on white, resize by the recipe's rules (sides multiples of
    ``patch_size`` x 2: 16 for Qwen3-VL, 14 for Qwen2-VL)."""
    from qwen_vl_utils import fetch_image

    image = open_image(ref, blob, item_id)
    try:
        return fetch_image({"image": image, "min_pixels": min_pixels, "max_pixels": max_pixels},
                           image_patch_size=patch_size)
    except ValueError as exc:  # aspect ratio over 200:1 (smart_resize)
        raise ItemError("unsupported_format", f"{ref}: {exc}. Help: crop the image.",
                        item_id) from exc


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
        reason = "corrupt_media" if _extension(ref) in VIDEO_EXTENSIONS else "unsupported_format"
        raise ItemError(reason, f"{ref}: cannot open the video ({exc}). Help: re-encode it as "
                        "H.264 MP4.", item_id) from exc


def decode_video(ref: str, loaded: LoadedItem, fps: float, max_frames: int) -> tuple[Any, dict]:
    """Sample frames like the recipe (decord, fps, max_frames, per-frame pixel limits)."""
    from qwen_vl_utils import fetch_video

    item_id = loaded.item.id
    path = local_path(ref)
    blob = None if path else media_bytes(loaded, ref)
    probe_video(ref, blob, path, item_id)
    tmp = None
    if path is None:  # decord reads files: spill the bytes
        with tempfile.NamedTemporaryFile(suffix=_extension(ref) or ".mp4", delete=False) as f:
            f.write(blob or b"")
            tmp = path = f.name
    try:
        (frames, metadata), _ = fetch_video(
            {"video": path, "fps": fps, "max_frames": max_frames}, image_patch_size=PATCH,
            return_video_sample_fps=True, return_video_metadata=True)
    except Exception as exc:  # decord / qwen-vl-utils raise assorted errors
        raise ItemError("corrupt_media", f"{ref}: cannot decode the video ({exc}). Help: "
                        "re-encode it as H.264 MP4.", item_id) from exc
    finally:
        if tmp:
            os.unlink(tmp)
    return frames, metadata


def image_tokens(height: int, width: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(visual tokens incl. start/end, resized pixels) of one image of this size."""
    from qwen_vl_utils import smart_resize

    h, w = smart_resize(height, width, factor=FACTOR, min_pixels=min_pixels,
                        max_pixels=max_pixels)
    return (h // FACTOR) * (w // FACTOR) + 2, h * w


def frame_group_tokens(frame_indices: Sequence[int], video_fps: float, group_tokens: int) -> int:
    """Tokens of a sampled video: per 2-frame group, its visual tokens and its prompt block.

    transformers writes each group as ``<12.5 seconds><|vision_start|>…<|vision_end|>``; the
    tokenizer splits the number into single digits, so the block costs ``len("12.5") + 5``.
    """
    indices = list(frame_indices)
    if len(indices) % 2:
        indices.append(indices[-1])
    total = 0
    for a, b in zip(indices[0::2], indices[1::2], strict=True):
        total += group_tokens + len(f"{(a + b) / 2 / video_fps:.1f}") + 5
    return total


def video_tokens(meta: dict[str, Any], fps: float, max_frames: int) -> tuple[int, int]:
    """(visual tokens, resized pixels) of a video file from its container metadata."""
    from qwen_vl_utils.vision_process import MODEL_SEQ_LEN, smart_nframes, smart_resize

    total = max(meta["frames"], 2)
    nframes = smart_nframes({"fps": fps, "max_frames": max_frames}, total_frames=total,
                            video_fps=meta["fps"])
    max_pixels = max(min(FRAME_MAX_PIXELS, MODEL_SEQ_LEN * FACTOR * FACTOR * 0.9 / nframes * 2),
                     int(FRAME_MIN_PIXELS * 1.05))
    h, w = smart_resize(meta["height"], meta["width"], factor=FACTOR,
                        min_pixels=FRAME_MIN_PIXELS, max_pixels=max_pixels)
    indices = [round(i * (total - 1) / max(nframes - 1, 1)) for i in range(nframes)]
    tokens = frame_group_tokens(indices, meta["fps"], (h // FACTOR) * (w // FACTOR))
    return tokens, nframes * h * w
