"""Segments of a golden set: every metric reported (and gated) per kind of query.

A query belongs to one segment of each built-in dimension, named ``dimension=value``:

- ``lang=``: the query's ``lang`` field, else detected from its text (Hangul -> ``ko``, Latin ->
  ``en``, else ``other``; :mod:`mmindex.index.querykind`, the definition search uses too);
- ``length=one-word`` or ``length=multi-word``;
- ``modality=text``, ``modality=image`` or ``modality=text+image``;

and to the segments its ``segment`` field names: ``{"segment": {"subject": "math", "grade": 3}}``
gives ``subject=math`` and ``grade=3``; ``"segment": "math"`` gives ``segment=math``.

Small segments say little. With fewer than :data:`MIN_SEGMENT_QUERIES` queries the report warns
and a gate rule on the segment is not applied (the decision says so). Why 20: on the sample
golden set the 95 % bootstrap interval of hybrid nDCG@10 over 20 random queries is 0.30 wide
(median of 20 draws; 0.43 at 10 queries, 0.23 at 30, 0.13 at all 82), as wide as the gap between
full text and hybrid on its Korean queries; below 20 no difference worth gating can show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from mmindex.evaluation.metrics import EvalMetrics
from mmindex.index.querykind import QueryKind, lang_of

MIN_SEGMENT_QUERIES = 20
DIMENSIONS = ("lang", "length", "modality")  # built in, in this order; reserved in `segment`
MIN_LANG_SHARE = 0.05  # a language on fewer sampled rows than this is not "in the index"
LANG_SAMPLE = 2_000  # rows read to find the index's languages (0.25 s on the sample's 82)

QuerySegments = Mapping[str, Sequence[str]]  # query id -> its segment labels


def labels_of(text: str | None, image: Any = None, lang: str | None = None,
              custom: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The segment labels of one query (``lang=ko``, ``length=one-word``, ...)."""
    kind = QueryKind.of(text, image, lang)
    out = [f"lang={kind.lang}", f"length={kind.length}", f"modality={kind.modality}"]
    return tuple(out + [f"{k}={v}" for k, v in sorted((custom or {}).items())])


def query_segments(queries: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """Query id -> segment labels, for golden queries (:class:`~.golden.GoldenQuery`)."""
    return {q.id: labels_of(q.text, q.image, q.lang, q.segment) for q in queries}


def members(segments: QuerySegments) -> dict[str, list[str]]:
    """Segment label -> its query ids; labels ordered by dimension (built-ins first), then value."""
    out: dict[str, list[str]] = {}
    for qid, labels in segments.items():
        for label in labels:
            out.setdefault(label, []).append(qid)
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0].split("=", 1)[0], 99),
                                                    kv[0])))


def matching(pattern: str, labels: Iterable[str]) -> list[str]:
    """The labels a gate key names: itself, or every value of a dimension for ``lang=*``."""
    dim, _, value = pattern.partition("=")
    if value == "*":
        return [lab for lab in labels if lab.split("=", 1)[0] == dim]
    return [lab for lab in labels if lab == pattern]


def subset(metrics: EvalMetrics, qids: Iterable[str]) -> EvalMetrics:
    """``metrics`` restricted to ``qids``: per-query values kept, aggregates re-averaged over them
    (metrics with no per-query values, like diversity, are dropped)."""
    import math

    keep = [q for q in qids if q in metrics.per_query]
    per_query = {q: metrics.per_query[q] for q in keep}
    names = [n for n in metrics.aggregate if keep and all(n in per_query[q] for q in keep)]
    aggregate = {n: math.fsum(per_query[q][n] for q in keep) / len(keep) for n in names}
    wanted = set(keep)
    return replace(metrics, aggregate=aggregate, per_query=per_query,
                   missing_queries=tuple(q for q in metrics.missing_queries if q in wanted),
                   ignored_queries=(), extra={})


def by_segment(metrics: EvalMetrics, segments: QuerySegments) -> dict[str, EvalMetrics]:
    """Segment label -> ``metrics`` of that segment's queries."""
    return {label: subset(metrics, qids) for label, qids in members(segments).items()}


def small_segment_warnings(segments: QuerySegments,
                           minimum: int = MIN_SEGMENT_QUERIES) -> list[str]:
    """One line naming the segments with fewer than ``minimum`` queries (none: no line)."""
    small = [f"{label} ({len(qids)})" for label, qids in members(segments).items()
             if len(qids) < minimum]
    if not small:
        return []
    return [f"{len(small)} segments have fewer than {minimum} golden queries: "
            f"{', '.join(small)}. Their figures say little (wide intervals) and a gate rule on "
            "them is not applied. Help: add queries of those kinds to the golden set"]


def index_languages(rows: Iterable[tuple[Sequence[str | None], str | None]],
                    min_share: float = MIN_LANG_SHARE) -> dict[str, float]:
    """Languages present in indexed text: language -> share of rows that carry it.

    Args:
        rows: per item, its texts (e.g. ``text`` and the analysed ``fts_text``, which holds a
            Korean caption kept in metadata), each counted for its detected language
            (:func:`~mmindex.index.querykind.lang_of`), and its manifest ``lang`` tag or None.
        min_share: languages on fewer rows than this share are left out (a stray loanword).
    """
    counts: dict[str, int] = {}
    n = 0
    for texts, tag in rows:
        n += 1
        langs = {lang_of(t) for t in texts if t and t.strip()} | ({lang_of(None, tag)} if tag
                                                                 else set())
        for lang in langs - {"other"}:
            counts[lang] = counts.get(lang, 0) + 1
    return {lang: c / n for lang, c in sorted(counts.items()) if n and c / n >= min_share}


def table_languages(table: Any, sample: int = LANG_SAMPLE) -> dict[str, float]:
    """:func:`index_languages` of up to ``sample`` rows spread evenly over a LanceDB table
    (deterministic: the same version gives the same answer)."""
    import json

    cols = [c for c in ("text", "fts_text", "metadata") if c in table.schema.names]
    n = table.count_rows()
    if not n or not cols:
        return {}
    step = max(1, n // sample)
    # LanceDB's own take (no pylance: the core install reads without it)
    rows = (table.take_offsets(list(range(0, n, step))[:sample]).select(cols).to_arrow()
            .to_pylist())

    def tag(meta: str | None) -> str | None:
        try:
            lang = json.loads(meta).get("lang") if meta else None
        except (ValueError, AttributeError):  # not JSON, or not an object
            return None
        return str(lang) if lang else None
    return index_languages(([r.get("text"), r.get("fts_text")], tag(r.get("metadata")))
                           for r in rows)


def coverage_warnings(index_langs: Mapping[str, float], segments: QuerySegments,
                      minimum: int = MIN_SEGMENT_QUERIES) -> list[str]:
    """One line per language of the index with fewer than ``minimum`` golden queries."""
    have = {lab.split("=", 1)[1]: len(q) for lab, q in members(segments).items()
            if lab.startswith("lang=")}
    return [f"language {lang} is in {share:.0%} of the indexed items but has "
            f"{have.get(lang, 0)} golden queries (< {minimum}): its search quality is "
            f"{'not measured' if not have.get(lang) else 'barely measured'}. Help: add "
            f"{lang} queries to the golden set"
            for lang, share in index_langs.items() if have.get(lang, 0) < minimum]
