"""The checks every query passes before anything is embedded or searched.

A query is refused (:class:`~mmindex.errors.ConfigError`) when its text is longer than the
``max_query_chars`` setting (a 1 MB query made full-text search peak at about 1 GB), when it is
only whitespace and has no image, or when ``k`` / ``rerank_top`` is not a positive count. The CLI
calls it before opening the index; :meth:`~mmindex.search.Index.search` and
:meth:`~mmindex.search.Index.ranked` at their entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmindex.errors import ConfigError

DEFAULT_MAX_QUERY_CHARS = 10_000
MAX_K = 100_000


def check_query(text: str | None, image: str | Path | None = None, *, k: int = 10,
                rerank_top: int | None = None, settings: Any = None,
                need_content: bool = True) -> None:
    """Refuse a query that is too long, empty (when ``need_content``), or asks for a ``k`` or
    ``rerank_top`` outside ``1..100,000``.

    Raises:
        ConfigError: which, and what to do.
    """
    limit = getattr(settings, "max_query_chars", None) or DEFAULT_MAX_QUERY_CHARS
    if text is not None and len(text) > limit:
        raise ConfigError(
            f"the query is {len(text):,} characters; at most {limit:,} are accepted. Help: "
            "shorten it, or raise the max_query_chars setting (MMINDEX_MAX_QUERY_CHARS).")
    if need_content and not (text or "").strip() and not image:
        raise ConfigError("the query is empty (no text but whitespace, and no image). Help: "
                          "give the query text, an image (--image PATH), or both.")
    for name, value in (("k", k), ("rerank_top", rerank_top)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 1 <= value <= MAX_K):
            raise ConfigError(f"{name}={value!r}: a number of results from 1 to {MAX_K:,}. "
                              f"Help: pass {name} within that range.")
