"""Golden sets: the queries and relevance judgements (qrels) an index is evaluated on.

* queries: BEIR ``queries.jsonl`` (``{"_id": ..., "text": ...}`` per line), extended for
  multimodal queries with ``image`` (a path relative to the queries file, an absolute path or a
  URI), ``lang`` and ``segment`` (the query's own segments, reported and gated apart:
  ``{"subject": "math", "grade": "3"}``, or one name, ``"math"``, meaning ``segment=math``; see
  :mod:`mmindex.evaluation.segments`); or TREC topics
  (``<top><num>N</num><title>...</title></top>``).
* qrels: BEIR TSV ``query-id<TAB>corpus-id<TAB>score`` (header optional) or TREC
  ``qid 0 docid rel``; the format is recognised per line.

Queries without any relevant doc, and qrels for queries not in the queries file, cannot be
evaluated: they are dropped, logged, and listed in :attr:`GoldenSet.notes`. A set left with no
query, an unreadable file or a malformed line is a :class:`~mmindex.errors.GoldenSetError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmindex.errors import GoldenSetError, shorten
from mmindex.evaluation.segments import DIMENSIONS
from mmindex.evaluation.trec import LAYOUT_HELP, iter_qrels, iter_topics

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class GoldenQuery:
    """One evaluation query.

    Attributes:
        id: Query id, as in the qrels.
        text: Query text (Unicode NFC, stripped) or None for an image-only query.
        image: Resolved image reference: absolute local path or URI; None for a text query.
        lang: Language tag when given (``ko``, ``en``).
        metadata: Any other fields of the query row.
        segment: The query's own segments from its ``segment`` field, name -> value
            (``{"subject": "math"}``); the built-in ones (language, length, modality) are derived.
    """

    id: str
    text: str | None = None
    image: str | None = None
    lang: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    segment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GoldenSet:
    """Queries plus qrels, identified by a fingerprint of their normalised content.

    Attributes:
        name: Human name (the BEIR directory or the queries file stem).
        queries: Queries that have at least one relevant doc, in file order.
        qrels: query id -> {doc id: graded relevance}.
        sources: Paths the set was read from.
        fingerprint: sha256 of the normalised query ids, texts, languages, image bytes (URIs as
            written) and qrels; independent of file order, whitespace, qrels format, query
            metadata and segments (relabelling a segment keeps production comparable) and where
            the files live.
        notes: What was dropped while loading, and why.
    """

    name: str
    queries: list[GoldenQuery]
    qrels: dict[str, dict[str, int]]
    sources: tuple[str, ...]
    fingerprint: str
    notes: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        """Short form of :attr:`fingerprint` (12 hex digits), for index metadata and reports."""
        return self.fingerprint[:12]

    def __len__(self) -> int:
        return len(self.queries)


def load_golden_dir(
    directory: str | Path, split: str = "test", name: str | None = None
) -> GoldenSet:
    """Load a BEIR-layout directory: ``queries.jsonl`` and ``qrels/<split>.tsv``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise GoldenSetError(f"golden set directory {directory} does not exist. {LAYOUT_HELP}")
    return load_golden(
        directory / "queries.jsonl",
        directory / "qrels" / f"{split}.tsv",
        name=name or directory.name,
    )


def load_golden(
    queries_path: str | Path, qrels_path: str | Path, name: str | None = None
) -> GoldenSet:
    """Load a golden set from a queries file and a qrels file.

    Args:
        queries_path: BEIR/multimodal ``queries.jsonl`` or a TREC topics file.
        qrels_path: BEIR TSV or TREC qrels.
        name: Name of the set; defaults to the queries file's stem.

    Raises:
        GoldenSetError: a file is missing or malformed (the message names the line), or no query
            with a relevant doc remains.
    """
    queries_path, qrels_path = Path(queries_path), Path(qrels_path)
    text = _read(queries_path, "queries")
    if text.lstrip().startswith("<"):
        queries = trec_topics_to_queries(queries_path)
    else:
        queries = _parse_jsonl(text, queries_path)
    qrels = _parse_qrels(qrels_path)
    if not queries:
        raise GoldenSetError(f"{queries_path} has no queries. {LAYOUT_HELP}")
    if not qrels:
        raise GoldenSetError(f"{qrels_path} has no judgements. {LAYOUT_HELP}")

    ids = {q.id for q in queries}
    kept = [q for q in queries if any(g >= 1 for g in qrels.get(q.id, {}).values())]
    unknown, dropped = sorted(set(qrels) - ids), sorted(ids - {q.id for q in kept})
    notes = []
    if unknown:
        notes.append(f"dropped qrels of {len(unknown)} queries not in the queries: {unknown[:10]}")
    if dropped:
        notes.append(f"dropped {len(dropped)} queries without a relevant doc: {dropped[:10]}")
    for note in notes:
        log.warning("golden set %s: %s", queries_path, note)
    if not kept:
        raise GoldenSetError(
            f"no query in {queries_path} has a relevant doc in {qrels_path} ({'; '.join(notes)}). "
            "Help: check that the qrels' query ids are the queries' ids and some grades are >= 1."
        )
    kept_qrels = {q.id: qrels[q.id] for q in kept}
    return GoldenSet(
        name=name or queries_path.stem,
        queries=kept,
        qrels=kept_qrels,
        sources=(str(queries_path), str(qrels_path)),
        fingerprint=_fingerprint(kept, kept_qrels),
        notes=tuple(notes),
    )


def trec_topics_to_queries(path: str | Path) -> list[GoldenQuery]:
    """Read TREC topics (``<top><num>N</num><title>text</title></top>``; Vaswani/NPL style)."""
    return [GoldenQuery(qid, text) for qid, text in iter_topics(path)]


def trec_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read TREC (``qid 0 docno rel``) or BEIR TSV qrels into query id -> {doc id: grade}."""
    return _parse_qrels(Path(path))


def _read(path: Path, what: str) -> str:
    if not path.is_file():
        raise GoldenSetError(f"{what} file {path} does not exist. {LAYOUT_HELP}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldenSetError(
            f"cannot read {what} file {path}: {exc}. Help: it must be UTF-8 text."
        ) from exc


def _clean(text: Any) -> str | None:
    if text is None:
        return None
    text = unicodedata.normalize("NFC", str(text)).strip()  # one form for Korean (NFD != NFC)
    return text or None


def _parse_jsonl(text: str, path: Path) -> list[GoldenQuery]:
    queries: list[GoldenQuery] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GoldenSetError(f"{where} is not valid JSON ({exc.msg}). {LAYOUT_HELP}") from exc
        if not isinstance(row, dict):
            raise GoldenSetError(f"{where} is not a JSON object. {LAYOUT_HELP}")
        qid = row.pop("_id") if "_id" in row else row.pop("id", None)
        if qid is None or str(qid).strip() == "":
            raise GoldenSetError(f'{where} has no "_id". {LAYOUT_HELP}')
        qid = str(qid).strip()
        if qid in seen:
            raise GoldenSetError(f"{where}: query id {shorten(qid)} already used on line "
                                 f"{seen[qid]}.")
        seen[qid] = lineno
        text_, image = _clean(row.pop("text", None)), row.pop("image", None)
        lang = _clean(row.pop("lang", None))
        if text_ is None and not image:
            raise GoldenSetError(f'{where}: query {shorten(qid)} has neither "text" nor "image".')
        segment = _segment(row.pop("segment", None), where)
        metadata = dict(row.pop("metadata", None) or {}) | row
        queries.append(GoldenQuery(qid, text_, _resolve_image(image, path, where), lang, metadata,
                                   segment))
    return queries


def _segment(value: Any, where: str) -> dict[str, str]:
    """A query's ``segment`` field: a name (``"math"`` -> ``segment=math``) or a flat object
    of names to scalar values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        value = {"segment": value}
    out: dict[str, str] = {}
    for key, v in value.items():
        key, v = _clean(key), _clean(v) if isinstance(v, (str, int, float, bool)) else None
        if not key or v is None or "=" in key:
            raise GoldenSetError(
                f'{where}: "segment" must be a name or an object of names to text or numbers '
                f'(e.g. {{"subject": "math", "grade": "3"}}), got {value!r}.')
        if key in DIMENSIONS:
            raise GoldenSetError(
                f'{where}: segment {key!r} is built in (derived from the query). Help: give the '
                'language as the query\'s "lang" field, or rename the segment.')
        out[key] = v
    return out


def _resolve_image(image: Any, queries_path: Path, where: str) -> str | None:
    if not image:
        return None
    image = str(image)
    if "://" in image:
        return image
    resolved = (queries_path.parent / image).resolve()
    if not resolved.is_file():
        raise GoldenSetError(
            f"{where}: image {image!r} not found (looked for {resolved}). Help: image paths are "
            "relative to the queries file; fix the path or add the file."
        )
    return str(resolved)


def _parse_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for qid, doc, grade, where in iter_qrels(path):
        judged = qrels.setdefault(qid, {})
        if doc in judged and judged[doc] != grade:
            raise GoldenSetError(
                f"{where}: ({qid}, {doc}) judged {grade} here but {judged[doc]} "
                "earlier. Help: keep one judgement per query and doc."
            )
        judged[doc] = grade
    return qrels


def _fingerprint(queries: list[GoldenQuery], qrels: Mapping[str, Mapping[str, int]]) -> str:
    # metadata and segments are left out: they do not change what is evaluated
    digest = hashlib.sha256()
    for q in sorted(queries, key=lambda q: q.id):
        image = None
        if q.image and "://" not in q.image:  # local files: hash content, not where they live
            image = hashlib.sha256(Path(q.image).read_bytes()).hexdigest()
        elif q.image:
            image = q.image
        row = {"id": q.id, "text": q.text, "image": image, "lang": q.lang}
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    for qid in sorted(qrels):
        for doc in sorted(qrels[qid]):
            digest.update(f"{qid}\t{doc}\t{qrels[qid][doc]}\n".encode())
    return digest.hexdigest()
