"""What every text-only backend shares: which items it can embed, and its batch of strings.

The media policy is one rule for all text models (sentence-transformers, the packaged
multilingual-e5 4-bit and multilingual USE): an item with text is embedded from its text, its
media ignored for the vector but kept in the item's references (and so in the index row); an item
with media and no text cannot be represented and is quarantined as ``unsupported_format``; an item
with neither is ``empty_item``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mmindex.backends.base import Batch, LoadedItem, Role, require_content
from mmindex.errors import ItemError


def item_text(loaded: LoadedItem, model_id: str) -> str:
    """The text a text-only model embeds for ``loaded``.

    Raises:
        ItemError: ``empty_item`` without text or media; ``unsupported_format`` for media only.
    """
    item = loaded.item
    require_content(item)
    if item.text.strip():
        return item.text
    raise ItemError(
        "unsupported_format",
        f"item {item.id}: text-only model {model_id} cannot embed an item with media "
        "and no text. Help: use a multimodal model (--model qwen3-vl-embedding-2b), or "
        "add text (caption/OCR) to the item.", item.id)


@dataclass(frozen=True)
class TextInput:
    """One decoded item of a text-only model: its text and its token count."""

    text: str
    tokens: int


@dataclass
class PlainTextBatch(Batch):
    """A batch for models that take plain strings (their own tokenizer runs inside ``forward``).

    Attributes:
        texts: The items' texts, in order, without prompt (the model adds its own).
        role: ``"query"`` or ``"document"``.
        num_tokens: Tokens the model computes (these engines pack tokens without padding).
    """

    texts: list[str]
    role: Role
    num_tokens: int

    @property
    def padded_tokens(self) -> int:
        return self.num_tokens  # no padding: both engines concatenate the batch's tokens

    def __len__(self) -> int:
        return len(self.texts)


def decode_text(loaded: LoadedItem, model_id: str, count: Callable[[str], int]) -> TextInput:
    """:func:`item_text` plus its token count: the reader's cost estimate when it made one
    (``loaded.cost``), else ``count(text)`` (queries and :func:`~mmindex.backends.embed_items`)."""
    text = item_text(loaded, model_id)
    tokens = loaded.cost.tokens if loaded.cost is not None else count(text)
    return TextInput(text, tokens)


def collate_texts(decoded: Sequence[TextInput], role: Role) -> PlainTextBatch:
    """One batch of strings; the prompt for ``role`` is the model's business in ``forward``."""
    return PlainTextBatch([d.text for d in decoded], role, sum(d.tokens for d in decoded))
