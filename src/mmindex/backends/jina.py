"""The ``jina`` backend: jina-clip-v2 and jina-embeddings-v4, which ship their own model code.

Their Hugging Face folders hold Python modelling code that ``trust_remote_code=True`` runs, so
this backend loads a folder only when all of these hold, and says which one failed otherwise:

1. the folder is on disk (a local directory or the Hugging Face cache; never downloaded);
2. it is *explicitly allowed*: it lies in a folder listed in ``trust_remote_code_dirs``
   (a setting; nothing is allowed by default) -- :class:`~mmindex.errors.ConfigError` if not;
3. its code is on disk too: every module that ``config.json``'s ``auto_map`` names is in the
   folder, or in the cached code repository it points to (``jinaai/jina-clip-implementation``
   for jina-clip-v2) -- :class:`ModelUnavailableError` if not;
4. every code file it would run -- those modules and the sibling modules they import,
   transitively -- resolves (symlinks followed) inside an allowed folder -- ``ConfigError`` if
   not (:mod:`mmindex.backends.remotecode`).

Only then is ``trust_remote_code=True`` passed, with ``local_files_only=True``. The model is used
through Jina's own API: ``encode_text`` / ``encode_image``. jina-clip-v2's shape
(``encode_text(sentences, task=...)``: queries with ``task="retrieval.query"``, documents without)
and jina-embeddings-v4's (``encode_text(texts=..., task="retrieval", prompt_name="query" |
"passage")``) are told apart by the signature. An item with text and images gets the mean of its
unit text vector and unit image vectors, renormalised (one vector per item, as the index
stores); video items are quarantined.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.backends import media
from mmindex.backends.base import Batch, Embedder, Encoded, LoadedItem, Role, require_content
from mmindex.backends.remotecode import check_allowed
from mmindex.backends.weights import resolve_model_dir, weights_digest
from mmindex.errors import ConfigError, ItemError, ModelUnavailableError
from mmindex.items import Cost

CHARS_PER_TOKEN = 3  # cost estimate only


@dataclass
class JinaInput:
    """One decoded item: its text (or None) and its RGB images."""

    text: str | None
    images: list[Any] = field(default_factory=list)
    tokens: int = 0


@dataclass
class JinaBatch(Batch):
    items: list[JinaInput]
    role: Role

    @property
    def num_tokens(self) -> int:
        return sum(x.tokens for x in self.items)

    padded_tokens = num_tokens

    def __len__(self) -> int:
        return len(self.items)


class JinaEmbedder(Embedder):
    """A Jina remote-code model from an allowed local folder (rules in the module docstring).

    Raises:
        ConfigError: the folder (or the code it uses) is not in ``allowed_dirs``.
        ModelUnavailableError: the folder or its code is not on disk, or it does not load.
    """

    backend = "jina"
    modalities = frozenset({"text", "image"})

    def __init__(self, model_id_or_path: str, *, allowed_dirs: Sequence[str],
                 device: str = "auto"):
        from mmindex.backends.device import resolve_device

        self.model_id = model_id_or_path
        self.model_dir, commit = resolve_model_dir(model_id_or_path)
        check_allowed(model_id_or_path, self.model_dir, allowed_dirs)
        self.revision = commit or weights_digest(self.model_dir)
        self.device = resolve_device(device)
        try:
            from transformers import AutoModel

            self.model = AutoModel.from_pretrained(
                str(self.model_dir), trust_remote_code=True, local_files_only=True).to(
                self.device).eval()
        except (OSError, ValueError, ImportError, KeyError) as exc:
            raise ModelUnavailableError(f"cannot load {self.model_dir}: {exc}") from exc
        self.v4_shape = "prompt_name" in inspect.signature(self.model.encode_text).parameters
        self.full_dims = int(self._texts(["dims probe"], "document").shape[1])

    def fingerprint(self) -> dict[str, Any]:
        local = self.model_dir.name if Path(self.model_id).expanduser().is_dir() else None
        return {"backend": self.backend, "model": local or self.model_id,
                "revision": self.revision, "api": "v4" if self.v4_shape else "clip-v2",
                "fusion": "mean of unit text and image vectors"}

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        item = loaded.item
        return Cost(tokens=len(item.text.encode()) // CHARS_PER_TOKEN + 1 + 256 * len(item.images))

    def count_tokens(self, text: str) -> int:
        return len(text.encode()) // CHARS_PER_TOKEN + 1

    def decode(self, loaded: LoadedItem) -> JinaInput:
        item = loaded.item
        require_content(item)
        if item.video:
            raise ItemError("unsupported_format", f"{item.video}: the jina backend does not embed "
                            "video. Help: use qwen3-vl-embedding-2b for video.", item.id)
        images = [_rgb(ref, media.media_bytes(loaded, ref), item.id) for ref in item.images]
        return JinaInput(item.text if item.text.strip() else None, images,
                         self.count_tokens(item.text))

    def collate(self, decoded: Sequence[JinaInput], role: Role = "document") -> JinaBatch:
        if role not in ("document", "query"):
            raise ConfigError(f"unknown role {role!r}. Help: use 'document' or 'query'.")
        return JinaBatch(list(decoded), role)

    def _texts(self, texts: list[str], role: Role) -> np.ndarray:
        if self.v4_shape:
            out = self.model.encode_text(texts=texts, task="retrieval",
                                         prompt_name="query" if role == "query" else "passage")
        elif role == "query":
            out = self.model.encode_text(texts, task="retrieval.query")
        else:
            out = self.model.encode_text(texts)
        return _unit(out)

    def _images(self, images: list[Any]) -> np.ndarray:
        if self.v4_shape:
            return _unit(self.model.encode_image(images=images, task="retrieval"))
        return _unit(self.model.encode_image(images))

    def forward(self, batch: JinaBatch) -> Encoded:
        import torch

        with torch.inference_mode():
            texts = [x.text for x in batch.items if x.text is not None]
            images = [im for x in batch.items for im in x.images]
            tv = iter(self._texts(texts, batch.role) if texts else [])
            iv = iter(self._images(images) if images else [])
            out = []
            for x in batch.items:
                parts = ([next(tv)] if x.text is not None else []) + [next(iv) for _ in x.images]
                out.append(np.mean(parts, axis=0))
        return Encoded(_unit(np.stack(out)))


def _rgb(ref: str, blob: bytes, item_id: str) -> Any:
    """Decode fully (the model resizes itself); transparent pixels on white."""
    from mmindex.backends.images import rgb_on_white

    return rgb_on_white(media.open_image(ref, blob, item_id))


def _unit(vectors: Any) -> np.ndarray:
    """Rows as float32 unit vectors, whatever the model returned (array, tensor, list of them)."""
    if isinstance(vectors, list | tuple):
        vectors = [v.float().cpu().numpy() if hasattr(v, "cpu") else np.asarray(v)
                   for v in vectors]
    elif hasattr(vectors, "cpu"):
        vectors = vectors.float().cpu().numpy()
    v = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
