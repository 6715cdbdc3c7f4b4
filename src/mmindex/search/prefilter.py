"""``where=``: a LanceDB SQL filter applied before the ranking, in every search mode.

LanceDB prefilters a vector, full-text or hybrid query with ``.where(sql, prefilter=True)``: the
ranking only sees matching rows, so ``k`` results come back whenever ``k`` rows match (a
postfilter would keep the matches among the best ``k``: 5 of 10). Hybrid
(:mod:`mmindex.index.fusion`) and multivector (:mod:`mmindex.index.multivector`) build their own
queries, so they get the table wrapped in :class:`Prefiltered`, whose every ``search()`` carries
the filter (LanceDB's hybrid builder passes it to both of its legs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mmindex.errors import ConfigError

EXAMPLE = "id LIKE 'animals/%'"


class Prefiltered:
    """``table`` whose searches are all prefiltered by the SQL ``where``; everything else is
    the table's own."""

    def __init__(self, table: Any, where: str) -> None:
        self._table, self._where = table, where

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self._table.search(*args, **kwargs).where(self._where, prefilter=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


@contextmanager
def where_errors(where: str | None, table: Any) -> Iterator[None]:
    """LanceDB's complaint about a bad ``where`` as a :class:`ConfigError` naming the columns."""
    try:
        yield
    except (ValueError, RuntimeError, OSError) as exc:
        if not where:
            raise
        from mmindex.search.pipeline import shown_columns

        raise ConfigError(
            f"where {where!r}: LanceDB cannot apply this filter ({_first_line(exc)}). Help: a "
            f"SQL condition on the table's columns ({', '.join(shown_columns(table.schema))}), "
            f"e.g. \"{EXAMPLE}\"; quote strings with '...'.") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
