"""A version's fusion policy: one fusion per query segment, a default for the rest.

A segment is :meth:`mmindex.index.querykind.QueryKind.key` of the query *as search sees it*
(language detected from the text, one word or more: ``ko/one-word``, ``en/multi-word``, ...).
The evaluation fits the policy on the golden set (:mod:`mmindex.evaluation.fusion_sweep`) and
stores it on the version's hybrid row of ``_evaluations`` (column ``fusion``: the policy as JSON;
rows written before policies hold one spec, read as a policy with that default and no segments).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mmindex.index.fusion.specs import DEFAULT, EVALUATIONS, reranker
from mmindex.index.querykind import QueryKind
from mmindex.index.tables import sql_str, table_exists


@dataclass(frozen=True)
class FusionPolicy:
    """``segments``: segment key -> fusion spec; ``default``: every other query's fusion."""

    default: str = DEFAULT
    segments: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec in (self.default, *self.segments.values()):
            reranker(spec)  # a bad spec fails here, with what to use

    def spec(self, text: str | None) -> str:
        """The fusion for a query with this text."""
        return self.segments.get(QueryKind.of(text).key(), self.default)

    def to_json(self) -> str:
        return json.dumps({"default": self.default, "segments": dict(sorted(
            self.segments.items()))}, ensure_ascii=False)

    @classmethod
    def from_stored(cls, value: str) -> FusionPolicy:
        """A stored policy: JSON, or one spec (a row written before policies)."""
        if value.lstrip().startswith("{"):
            d = json.loads(value)
            return cls(d.get("default") or DEFAULT, dict(d.get("segments") or {}))
        return cls(value)

    def __str__(self) -> str:
        rest = "else " if self.segments else ""
        return "; ".join([*(f"{k}: {v}" for k, v in sorted(self.segments.items())),
                          f"{rest}{self.default}"])


def spec_for(fusion: FusionPolicy | str, text: str | None) -> str:
    """The fusion spec a query gets from a policy (or from one spec, for every query)."""
    return fusion.spec(text) if isinstance(fusion, FusionPolicy) else fusion


def fusion_of(db: Any, table: str, version: int) -> FusionPolicy | None:
    """The fusion policy the evaluation fit for ``table`` at ``version`` (latest evaluation
    wins); None when that version was never evaluated in hybrid mode."""
    if not table_exists(db, EVALUATIONS):
        return None
    tbl = db.open_table(EVALUATIONS)
    if "fusion" not in tbl.schema.names:  # written before fusions were chosen
        return None
    rows = (tbl.search().where(f"table_name = {sql_str(table)} AND version = {int(version)} "
                               "AND mode = 'hybrid' AND fusion IS NOT NULL")
            .select(["fusion", "at"]).limit(None).to_arrow().to_pylist())
    return FusionPolicy.from_stored(max(rows, key=lambda r: r["at"])["fusion"]) if rows else None
