"""The ``voyage`` backend: Voyage AI's multimodal embeddings over HTTP (voyage-multimodal-3).

Request and response follow Voyage's documented ``POST {base}/multimodalembeddings``::

    {"model": "voyage-multimodal-3", "input_type": "document" | "query", "truncation": true,
     "inputs": [{"content": [{"type": "text", "text": "..."},
                             {"type": "image_base64", "image_base64": "data:image/png;base64,."}]}]}
    -> {"object": "list", "model": "...", "usage": {"total_tokens": N, ...},
        "data": [{"object": "embedding", "index": 0, "embedding": [1024 floats]}, ...]}

One item is one input: its images (in order) then its text, interleaved in one vector. The
documented limits are kept on our side so a request is never refused for its size: at most
1,000 inputs and 320,000 tokens (an image counts one token per 560 pixels) per request, images at
most 16 million pixels and 20 MB, formats PNG, JPEG, WebP and GIF (other decodable formats are
re-encoded as PNG). Video is not accepted by this model: such an item is quarantined.
Retries, rate limits and errors: :mod:`mmindex.backends.apiclient`.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmindex.backends import apiclient
from mmindex.backends.base import Batch, Embedder, Encoded, LoadedItem, Role, require_content
from mmindex.backends.media import media_bytes
from mmindex.errors import ConfigError, ItemError, register_secrets
from mmindex.items import Cost

DIMS = {"voyage-multimodal-3": 1024}
MAX_INPUTS = 1000  # per request
MAX_REQUEST_TOKENS = 320_000  # per request, all inputs together
MAX_INPUT_TOKENS = 32_000  # context length of one input (longer text is truncated by the API)
PIXELS_PER_TOKEN = 560
MAX_IMAGE_PIXELS = 16_000_000
MAX_IMAGE_BYTES = 20 * 1024 * 1024
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
CHARS_PER_TOKEN = 3  # cost estimate only (the API counts with its own tokenizer)


@dataclass
class ApiBatch(Batch):
    """One batch of API inputs (the request's ``inputs``) and its estimated tokens."""

    inputs: list[dict[str, Any]]
    role: Role
    tokens: list[int]

    @property
    def num_tokens(self) -> int:
        return sum(self.tokens)

    @property
    def padded_tokens(self) -> int:
        return self.num_tokens  # an API has no padding we pay for

    def __len__(self) -> int:
        return len(self.inputs)


def _text_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // CHARS_PER_TOKEN) if text else 0


def _image_part(ref: str, blob: bytes, item_id: str) -> tuple[dict[str, str], int]:
    """The ``image_base64`` content part of one image, and its tokens (pixels / 560)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as image:
            fmt, (width, height) = image.format, image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ItemError("media_too_large", f"{ref}: {width}x{height} pixels; Voyage "
                                f"accepts at most {MAX_IMAGE_PIXELS:,}. Help: downscale it.",
                                item_id)
            image.load()
            if fmt not in FORMATS:  # e.g. BMP, TIFF: decodable here, not accepted there
                out = io.BytesIO()
                image.convert("RGBA" if "A" in image.getbands() else "RGB").save(out, "PNG")
                blob, fmt = out.getvalue(), "PNG"
    except ItemError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ItemError("corrupt_media", f"{ref}: cannot decode the image ({exc}). Help: "
                        "re-export it as PNG or JPEG.", item_id) from None
    if len(blob) > MAX_IMAGE_BYTES:
        raise ItemError("media_too_large", f"{ref}: {len(blob):,} bytes; Voyage accepts at most "
                        f"{MAX_IMAGE_BYTES:,}. Help: recompress or downscale it.", item_id)
    url = f"data:{FORMATS[fmt]};base64,{base64.b64encode(blob).decode('ascii')}"
    return {"type": "image_base64", "image_base64": url}, -(-width * height // PIXELS_PER_TOKEN)


def _vectors(body: dict[str, Any], n: int, dims: int) -> np.ndarray:
    """The ``n`` embeddings of an answer, in input order.

    Raises:
        ValueError: not ``n`` embeddings of ``dims`` floats: a service fault (retried, no item
            blamed), not an item's.
    """
    data = body.get("data")
    if not isinstance(data, list) or len(data) != n:
        raise ValueError(f"{len(data) if isinstance(data, list) else 'no'} embeddings for "
                         f"{n} inputs")
    try:
        rows = sorted(data, key=lambda d: d["index"])
        vectors = np.asarray([d["embedding"] for d in rows], dtype=np.float32)
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"unreadable embeddings ({type(exc).__name__})") from None
    if vectors.shape != (n, dims) or not np.isfinite(vectors).all():
        raise ValueError(f"embeddings of shape {vectors.shape}, not ({n}, {dims}) finite floats")
    return vectors


class VoyageEmbedder(Embedder):
    """voyage-multimodal-3 through Voyage AI's HTTP API.

    Args:
        model: The API's model name.
        api_key: The key (sent only in the ``Authorization`` header).
        base_url: API root, e.g. ``https://api.voyageai.com/v1``.
        timeout_s: Seconds one request may take.
        max_retries: Retries after 429, 5xx or a timeout.
        backoff_s: First backoff wait (doubled at each retry) when no Retry-After is given.

    Raises:
        ConfigError: no key, or a model this backend does not know.
    """

    backend = "voyage"
    modalities = frozenset({"text", "image"})
    max_tokens = MAX_INPUT_TOKENS

    def __init__(self, model: str = "voyage-multimodal-3", *, api_key: str | None,
                 base_url: str = "https://api.voyageai.com/v1", timeout_s: float = 60.0,
                 max_retries: int = 5, backoff_s: float = 0.5):
        import httpx

        if model not in DIMS:
            raise ConfigError(f"unknown Voyage model {model!r}. Help: use {', '.join(DIMS)}.")
        if not api_key:
            raise ConfigError(
                f"{model} needs a Voyage AI API key. Help: set MMINDEX_VOYAGE_API_KEY (or "
                "voyage_api_key in mmindex.toml); it is a secret setting, never recorded.")
        self.model_id = model
        self.full_dims = DIMS[model]
        self.url = base_url.rstrip("/") + "/multimodalembeddings"
        self.max_retries, self.backoff_s = max_retries, backoff_s
        register_secrets(api_key)  # masked in every message of this process
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._client = httpx.Client(timeout=timeout_s)
        self.requests = 0  # HTTP requests that returned vectors (for reports and tests)

    def fingerprint(self) -> dict[str, Any]:
        """Model name, dims and the input mapping (not the URL or key: they do not change
        the vectors)."""
        return {"backend": self.backend, "model": self.model_id, "dims": self.full_dims,
                "content": "images-then-text", "truncation": True}

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        from PIL import Image

        item = loaded.item
        tokens, pixels = _text_tokens(item.text), 0
        for ref in item.images:
            try:
                with Image.open(io.BytesIO(media_bytes(loaded, ref))) as image:
                    p = image.size[0] * image.size[1]
            except Exception:  # decode() reports it
                p = 0
            pixels += p
            tokens += -(-p // PIXELS_PER_TOKEN)
        return Cost(tokens=min(tokens, MAX_INPUT_TOKENS), pixels=pixels)

    def count_tokens(self, text: str) -> int:
        return _text_tokens(text)

    def decode(self, loaded: LoadedItem) -> tuple[list[dict[str, str]], int]:
        """The item's content list and its tokens.

        Raises:
            ItemError: ``empty_item``, ``unsupported_format`` (video), ``missing_media``,
                ``corrupt_media`` or ``media_too_large``.
        """
        item = loaded.item
        require_content(item)
        if item.video:
            raise ItemError("unsupported_format", f"{item.video}: {self.model_id} does not "
                            "embed video. Help: use qwen3-vl-embedding-2b for video items.",
                            item.id)
        content, tokens = [], 0
        for ref in item.images:
            part, t = _image_part(ref, media_bytes(loaded, ref), item.id)
            content.append(part)
            tokens += t
        if item.text.strip():
            content.append({"type": "text", "text": item.text})
            tokens += _text_tokens(item.text)
        return content, min(tokens, MAX_INPUT_TOKENS)

    def collate(self, decoded: Sequence[tuple[list[dict[str, str]], int]],
                role: Role = "document") -> ApiBatch:
        if role not in ("document", "query"):
            raise ConfigError(f"unknown role {role!r}. Help: use 'document' or 'query'.")
        return ApiBatch([{"content": c} for c, _ in decoded], role, [t for _, t in decoded])

    def requests_of(self, batch: ApiBatch) -> list[tuple[int, int]]:
        """``(start, end)`` of each request: within the documented input and token limits."""
        out, start, tokens = [], 0, 0
        for i, t in enumerate(batch.tokens):
            if i > start and (i - start >= MAX_INPUTS or tokens + t > MAX_REQUEST_TOKENS):
                out.append((start, i))
                start, tokens = i, 0
            tokens += t
        if batch.tokens:
            out.append((start, len(batch.tokens)))
        return out

    def forward(self, batch: ApiBatch) -> Encoded:
        """One request per :meth:`requests_of` slice; rows in input order, L2-normalised."""
        parts = []
        for start, end in self.requests_of(batch):
            payload = {"model": self.model_id, "input_type": batch.role, "truncation": True,
                       "inputs": batch.inputs[start:end]}
            n = end - start
            parts.append(apiclient.post_json(
                self._client, self.url, payload, headers=self._headers,
                max_retries=self.max_retries, backoff_s=self.backoff_s, service="Voyage AI",
                check=lambda body, n=n: _vectors(body, n, self.full_dims)))
            self.requests += 1
        vectors = np.concatenate(parts) if parts else np.zeros((0, self.full_dims), np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return Encoded((vectors / np.maximum(norms, 1e-12)).astype(np.float32))

    def close(self) -> None:
        self._client.close()
