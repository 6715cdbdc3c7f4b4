"""TREC test collections (e.g. Vaswani/NPL): the one parser of TREC documents, topics and qrels,
and their conversion into a BEIR directory.

The golden-set loader (:mod:`mmindex.evaluation.golden`) reads topics and qrels with
:func:`iter_topics` and :func:`iter_qrels`; :func:`trec_to_beir` uses the same functions, so a
collection is parsed one way wherever it is read. A BEIR directory is what the evaluation code
and benchmarks read::

    out_dir/
      corpus.jsonl       {"_id": "1", "title": "", "text": "compact memories have ..."}
      queries.jsonl      {"_id": "1", "text": "MEASUREMENT OF DIELECTRIC CONSTANT ..."}
      qrels/test.tsv     query-id<TAB>corpus-id<TAB>score   (with this header)

Text normalisation: every run of whitespace (newlines, double spaces) becomes one space and the
ends are stripped; nothing else changes (case is kept). With all-MiniLM-L6-v2 this reproduces the
reference nDCG@10 = 0.4335 on Vaswani given in ``shared/data/README.md``.

Files are read in one streaming pass each: one document is held in memory at a time. A bad
document is a :class:`ConfigError` (the corpus is wrong); a bad topic or judgement is a
:class:`GoldenSetError` (the golden set is wrong). Both name the file and line and say what to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from mmindex.errors import ConfigError, GoldenSetError, MMIndexError, shorten

_DOCNO = re.compile(r"<DOCNO>\s*(.*?)\s*</DOCNO>", re.S | re.I)
_NUM = re.compile(r"<num>\s*(?:Number:)?\s*([^<\s]+)", re.I)
# Older TREC topics leave <title> unclosed; the title ends at the next tag.
_TITLE = re.compile(r"<title>\s*(?:Topic:)?(.*?)(?=<|\Z)", re.S | re.I)

MAX_GRADE = 1000  # |grade| of a qrels line: TREC and BEIR grades are small integers
LAYOUT_HELP = (
    "Help: a golden set is a queries file (BEIR queries.jsonl: one JSON object per line with "
    '"_id" and "text" and/or "image"; or TREC topics) plus a qrels file (TSV '
    "query-id<TAB>corpus-id<TAB>score, or TREC 'qid 0 docid rel')."
)


def normalize_text(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def _lines(path: Path, what: str, error: type[MMIndexError]) -> Iterator[str]:
    """The lines of a UTF-8 text file (a BOM is dropped); a missing or undecodable file is
    ``error`` naming it."""
    if not path.is_file():
        raise error(f"{what} file {path} does not exist. {LAYOUT_HELP}")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            yield from fh
    except UnicodeDecodeError as exc:
        raise error(f"cannot read {what} file {path}: {exc}. Help: it must be UTF-8 text.") \
            from exc


def _blocks(lines: Iterator[str], path: Path, open_tag: str, close_tag: str,
            error: type[MMIndexError]) -> Iterator[str]:
    """Yield the text between each ``open_tag`` and ``close_tag``, one block at a time."""
    buf: list[str] = []
    inside = False
    for line in lines:
        rest = line
        while rest:
            if not inside:
                start = rest.lower().find(open_tag)
                if start < 0:
                    break
                rest = rest[start + len(open_tag):]
                inside = True
            end = rest.lower().find(close_tag)
            if end < 0:
                buf.append(rest)
                break
            buf.append(rest[:end])
            yield "".join(buf)
            buf, inside = [], False
            rest = rest[end + len(close_tag):]
    if inside:
        raise error(
            f"{path}: {open_tag} without a closing {close_tag}. "
            "Help: the file looks truncated; re-copy it from the collection."
        )


def iter_docs(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield ``(docno, normalised text)`` for each ``<DOC>`` in a TREC document file.

    Raises:
        ConfigError: a document has no ``<DOCNO>`` or the file is truncated.
    """
    path = Path(path)
    lines = _lines(path, "documents", ConfigError)
    for block in _blocks(lines, path, "<doc>", "</doc>", ConfigError):
        m = _DOCNO.search(block)
        if not m:
            raise ConfigError(
                f"{path}: a <DOC> has no <DOCNO>: {normalize_text(block)[:80]!r}. "
                "Help: every document needs an id; fix or drop that document."
            )
        yield m.group(1), normalize_text(block[: m.start()] + " " + block[m.end():])


def iter_topics(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield ``(query id, normalised title)`` for each ``<top>`` in a TREC topics file
    (``<num> Number: 301`` and ``<num>1</num>`` styles; closed or unclosed ``<title>``).

    Raises:
        GoldenSetError: a topic lacks ``<num>`` or title text, or a number repeats.
    """
    path = Path(path)
    seen: set[str] = set()
    lines = _lines(path, "topics", GoldenSetError)
    for i, block in enumerate(_blocks(lines, path, "<top>", "</top>", GoldenSetError), 1):
        num, title = _NUM.search(block), _TITLE.search(block)
        text = normalize_text(title.group(1)) if title else ""
        if not num or not text:
            raise GoldenSetError(
                f"{path} topic #{i} lacks <num> or <title> text: "
                f"{normalize_text(block)[:80]!r}. {LAYOUT_HELP}"
            )
        qid = num.group(1)
        if qid in seen:
            raise GoldenSetError(f"{path}: topic number {qid} appears twice. "
                                 "Help: topic numbers are query ids; keep each once.")
        seen.add(qid)
        yield qid, text


def iter_qrels(path: str | Path) -> Iterator[tuple[str, str, int, str]]:
    """Yield ``(query id, doc id, grade, where)`` from TREC (``qid iter docno rel``) or BEIR TSV
    (``query-id<TAB>corpus-id<TAB>score``, header optional) qrels; ``where`` is "FILE line N".

    Raises:
        GoldenSetError: a non-blank line is neither form, or its grade is not an integer.
    """
    path = Path(path)
    first = True
    for lineno, line in enumerate(_lines(path, "qrels", GoldenSetError), 1):
        fields = [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]
        if not any(fields):
            continue
        grade = _grade(fields[-1])
        header, first = first and grade is None and not _numeric(fields[-1]), False
        if header:  # BEIR's "query-id corpus-id score", or any first line without a grade
            continue
        # BEIR TSV: 3 tab-separated fields; TREC: 4 (``qid iter docno rel``), tabs or spaces
        allowed = (3, 4) if "\t" in line else (4,)
        if grade is None or len(fields) not in allowed or not all(fields):
            raise GoldenSetError(
                f"{path} line {lineno}: expected 'query-id<TAB>doc-id<TAB>grade' or "
                f"'qid 0 docid grade' (grades are integers within ±{MAX_GRADE}), got "
                f"{shorten(line.strip())}. {LAYOUT_HELP}"
            )
        yield fields[0], fields[-2], grade, f"{path} line {lineno}"


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _grade(value: str) -> int | None:
    try:
        number = float(value)
    except ValueError:
        return None
    if not number.is_integer() or abs(number) > MAX_GRADE:  # 1e300 is no relevance grade
        return None
    return int(number)


def _find(src: Path, *candidates: str) -> Path:
    for name in candidates:
        if (src / name).is_file():
            return src / name
    raise ConfigError(
        f"{src}: none of {', '.join(candidates)} exists. "
        "Help: point at a TREC collection directory laid out like shared/data/vaswani_npl."
    )


def trec_to_beir(src_dir: str | Path, out_dir: str | Path) -> Path:
    """Convert a TREC collection directory into a BEIR directory.

    ``src_dir`` holds ``corpus/doc-text.trec`` (or ``doc-text.trec``), ``query-text.trec`` and
    ``qrels``, as in the Vaswani/NPL collection shipped with Terrier.

    Args:
        src_dir: The TREC collection directory.
        out_dir: Where to write the BEIR files (created; existing files are overwritten).

    Returns:
        ``out_dir`` as a Path.

    Raises:
        ConfigError: a source file is missing, a document is malformed or an id repeats.
        GoldenSetError: a topic or a judgement is malformed.
    """
    src, out = Path(src_dir), Path(out_dir)
    docs = _find(src, "corpus/doc-text.trec", "doc-text.trec")
    topics = _find(src, "query-text.trec", "topics.trec")
    qrels = _find(src, "qrels", "qrels.txt")
    (out / "qrels").mkdir(parents=True, exist_ok=True)

    seen: set[str] = set()  # ids only, so duplicates fail loudly without holding the texts
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for doc_id, text in iter_docs(docs):
            if doc_id in seen:
                raise ConfigError(
                    f"{docs}: document id {shorten(doc_id)} appears twice. "
                    "Help: ids must be unique; deduplicate the collection first."
                )
            seen.add(doc_id)
            row = {"_id": doc_id, "title": "", "text": text}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    with open(out / "queries.jsonl", "w", encoding="utf-8") as fh:
        for qid, text in iter_topics(topics):
            fh.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")

    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, doc_id, rel, _ in iter_qrels(qrels):
            fh.write(f"{qid}\t{doc_id}\t{rel}\n")
    return out
