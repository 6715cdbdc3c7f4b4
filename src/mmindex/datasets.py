"""Convert TREC-format test collections (e.g. Vaswani/NPL) into BEIR directories.

A BEIR directory is what the evaluation code and benchmarks read::

    out_dir/
      corpus.jsonl       {"_id": "1", "title": "", "text": "compact memories have ..."}
      queries.jsonl      {"_id": "1", "text": "MEASUREMENT OF DIELECTRIC CONSTANT ..."}
      qrels/test.tsv     query-id<TAB>corpus-id<TAB>score   (with this header)

Text normalisation: every run of whitespace (newlines, double spaces) becomes one space and the
ends are stripped; nothing else changes (case is kept). With all-MiniLM-L6-v2 this reproduces the
reference nDCG@10 = 0.4335 on Vaswani given in ``shared/data/README.md``.

Files are converted in one streaming pass each: one document is held in memory at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from mmindex.errors import ConfigError

_DOCNO = re.compile(r"<DOCNO>\s*(.*?)\s*</DOCNO>", re.S | re.I)
_NUM = re.compile(r"<num>\s*(?:Number:)?\s*(.*?)\s*</num>", re.S | re.I)
_TITLE = re.compile(r"<title>\s*(.*?)\s*(?:</title>|$)", re.S | re.I)


def normalize_text(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def _blocks(fh: TextIO, open_tag: str, close_tag: str) -> Iterator[str]:
    """Yield the text between each ``open_tag`` and ``close_tag``, one block at a time."""
    buf: list[str] = []
    inside = False
    for line in fh:
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
        raise ConfigError(
            f"{getattr(fh, 'name', 'TREC file')}: {open_tag} without a closing {close_tag}. "
            "Help: the file looks truncated; re-copy it from the collection."
        )


def iter_trec_docs(path: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(docno, normalised text)`` for each ``<DOC>`` in a TREC document file.

    Raises:
        ConfigError: a document has no ``<DOCNO>`` or the file is truncated.
    """
    with open(path, encoding="utf-8", errors="strict") as fh:
        for block in _blocks(fh, "<doc>", "</doc>"):
            m = _DOCNO.search(block)
            if not m:
                raise ConfigError(
                    f"{path}: a <DOC> has no <DOCNO>: {normalize_text(block)[:80]!r}. "
                    "Help: every document needs an id; fix or drop that document."
                )
            text = block[: m.start()] + " " + block[m.end():]
            yield m.group(1), normalize_text(text)


def iter_trec_topics(path: Path) -> Iterator[tuple[str, str]]:
    """Yield ``(query id, normalised title)`` for each ``<top>`` in a TREC topics file.

    Raises:
        ConfigError: a topic lacks ``<num>`` or ``<title>``.
    """
    with open(path, encoding="utf-8") as fh:
        for block in _blocks(fh, "<top>", "</top>"):
            num, title = _NUM.search(block), _TITLE.search(block)
            if not num or not title:
                raise ConfigError(
                    f"{path}: a <top> lacks <num> or <title>: {normalize_text(block)[:80]!r}. "
                    "Help: each topic needs both; fix the topics file."
                )
            # Older TREC topics leave <title> unclosed; stop at the next tag.
            text = re.split(r"<[a-z]+>", title.group(1), maxsplit=1, flags=re.I)[0]
            yield num.group(1), normalize_text(text)


def iter_trec_qrels(path: Path) -> Iterator[tuple[str, str, int]]:
    """Yield ``(query id, doc id, relevance)`` from a TREC qrels file (``qid iter docno rel``).

    Raises:
        ConfigError: a non-blank line does not have four fields with an integer relevance.
    """
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 4 or not fields[3].lstrip("-").isdigit():
                raise ConfigError(
                    f"{path}:{lineno}: expected 'qid iter docno rel', got {line.strip()!r}. "
                    "Help: qrels must be in TREC format (four whitespace-separated fields)."
                )
            yield fields[0], fields[2], int(fields[3])


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
        ConfigError: a source file is missing or malformed, or a document id repeats.
    """
    src, out = Path(src_dir), Path(out_dir)
    docs = _find(src, "corpus/doc-text.trec", "doc-text.trec")
    topics = _find(src, "query-text.trec", "topics.trec")
    qrels = _find(src, "qrels", "qrels.txt")
    (out / "qrels").mkdir(parents=True, exist_ok=True)

    seen: set[str] = set()  # ids only, so duplicates fail loudly without holding the texts
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for doc_id, text in iter_trec_docs(docs):
            if doc_id in seen:
                raise ConfigError(
                    f"{docs}: document id {doc_id!r} appears twice. "
                    "Help: ids must be unique; deduplicate the collection first."
                )
            seen.add(doc_id)
            row = {"_id": doc_id, "title": "", "text": text}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    with open(out / "queries.jsonl", "w", encoding="utf-8") as fh:
        for qid, text in iter_trec_topics(topics):
            fh.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")

    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, doc_id, rel in iter_trec_qrels(qrels):
            fh.write(f"{qid}\t{doc_id}\t{rel}\n")
    return out
