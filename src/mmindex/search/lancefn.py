"""The index's model as a LanceDB embedding function, so plain LanceDB can embed a query.

Each index table records, in its schema metadata (``embedding_functions``, LanceDB's own key),
the embedding function ``mmindex`` with the model spec, its dimensions and the query instruction
the index was built with. Once the function is registered (``import mmindex`` does it when
LanceDB is imported, before or after), plain LanceDB embeds string queries with the index's own
model::

    import lancedb, mmindex
    tbl = lancedb.connect(".mmindex/db").open_table("sample__use-multilingual__d512")
    tbl.search("펭귄", query_type="hybrid").limit(5).to_polars()

Queries are embedded in the ``query`` role (the model's query instruction); rows added without
a vector are embedded in the ``document`` role. The model is loaded once per process, from the
settings of the working directory (``cache_dir``, ``device``, trusted folders, API keys: nothing
secret is stored on the table). Without mmindex installed, LanceDB cannot resolve ``mmindex``:
string queries then fail, vector queries work as before.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

NAME = "mmindex"


def table_metadata(model: str, dims: int, query_instruction: str | None = None
                   ) -> dict[str, str]:
    """The schema metadata that names ``model`` as the table's embedding function."""
    return {"embedding_functions": json.dumps([{
        "name": NAME,
        "model": {"model": model, "dims": dims, "query_instruction": query_instruction},
        "source_column": "text",
        "vector_column": "vector",
    }], indent=2)}


def embed(model: str, dims: int, query_instruction: str | None, texts: list[str],
          role: str) -> list[np.ndarray]:
    """Vectors of ``texts`` with ``model`` (loaded once per process) in ``role``."""
    from mmindex.backends import embed_items, load_embedder
    from mmindex.config import load_settings
    from mmindex.items import Item

    s = load_settings()
    emb = load_embedder(model, device=s.device, cache_dir=s.cache_dir,
                        query_instruction=query_instruction, settings=s)
    items = [Item(id=f"q{i}", text=t or "") for i, t in enumerate(texts)]
    out = embed_items(emb, items, role=role, dims=dims)  # type: ignore[arg-type]
    return list(np.asarray(out, np.float32))


_CLASS: list[Any] = []


def register() -> Any:
    """Register the ``mmindex`` embedding function with LanceDB (once); the class."""
    if _CLASS:
        return _CLASS[0]
    from lancedb.embeddings import EmbeddingFunction, get_registry

    registry = get_registry()
    try:
        _CLASS.append(registry.get(NAME))
        return _CLASS[0]
    except KeyError:
        pass

    class MmindexEmbeddings(EmbeddingFunction):
        """An mmindex index's model (spec, dims, query instruction) for LanceDB."""

        model: str
        dims: int
        query_instruction: str | None = None
        max_retries: int = 0  # a local model: a failure is not transient

        def ndims(self) -> int:
            return self.dims

        def compute_query_embeddings(self, query: Any, *args: Any, **kwargs: Any):
            if not isinstance(query, str):
                raise TypeError(f"the mmindex embedding function embeds text queries, not "
                                f"{type(query).__name__}. Help: use mmindex.open_index(...)"
                                ".search(image=...) for an image query.")
            return embed(self.model, self.dims, self.query_instruction, [query], "query")

        def compute_source_embeddings(self, texts: Any, *args: Any, **kwargs: Any):
            return embed(self.model, self.dims, self.query_instruction,
                         list(self.sanitize_input(texts)), "document")

    MmindexEmbeddings.__module__ = __name__
    registry.register(NAME)(MmindexEmbeddings)
    _CLASS.append(MmindexEmbeddings)
    return MmindexEmbeddings
