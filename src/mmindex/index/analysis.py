"""Korean-aware text analysis for full-text search, the same at index time and at query time.

LanceDB's tokenizers split Korean on spaces only, so "세포분열의" and "세포분열" share no token.
An :class:`Analyzer` turns text into space-separated tokens that LanceDB's ``whitespace``
tokenizer then indexes as they are (no stemming, no stop words):

- ``kiwi``: morphological analysis with kiwipiepy (Apache-2.0; its model ships in the
  ``kiwipiepy-model`` package, offline). Kept: nouns (NNG, NNP, NR), verb and adjective stems
  (VV, VA), roots (XR), foreign words (SL), numbers (SN) and Chinese characters (SH); particles,
  endings, suffixes, symbols and emoji are dropped. "세포분열의 단계를" -> "세포 분열 단계".
  A noun of 3+ syllables also gives its 2-syllable pieces: Kiwi keeps "장미꽃" and "농구공"
  whole in one sentence and splits them in another (sample golden set, Korean queries: nDCG@10
  0.612 -> 0.716; KorQuAD 0.947 both ways).
  Kiwi is built without its multi-word dictionary (:data:`KIWI_OPTIONS`): that dictionary
  (WikiData names of several words) loads in 1.6 s of the 2.9 s CPU a cold Korean ``mmindex
  search`` spent on Kiwi, and the tokens it gave were worse as often as better: a whole name
  "쇼와 천황" came out as one token whose 2-syllable pieces spanned the space ("와 천" ->
  one-syllable "와", "천"), while without it a few names split wrongly ("테드 번디" -> "테드 디").
  Sample: the same tokens for every document and query; KorQuAD 1.0 dev full text nDCG@10
  0.947 -> 0.948 (hit@5 0.980 both), docs/korean-search.md. Its typo dictionary is left out
  too (about 0.2 s of the load): not one token changed over the sample's 320 texts and
  KorQuAD dev's 1,964 (``python -m bench.kiwi_options``).
- ``ngram``: the fallback when kiwipiepy is not installed: character 2- and 3-grams of every
  Hangul run, other words as they are. "세포분열" -> "세포 포분 분열 세포분 포분열".

Latin words are cut by a regex before Kiwi sees the text: kiwipiepy 0.24.1 splits an English
word followed by a full stop at a different place on each call ("penguin." -> "pe" + "nguin."
or "peng" + "uin."), so the index and the query would disagree. Text without Hangul never
reaches Kiwi (Latin-only text is analysed at regex speed; Kiwi does ~50-70k chars/s here).

A cold ``mmindex search`` with Hangul in its query starts Kiwi in a child process first
(:func:`prefetch`): the child loads this file alone (not the mmindex package) and Kiwi, and
prints the query's tokens, while this process imports lancedb, opens the index and loads the
query model on the other core; :meth:`Analyzer.analyse` then takes the child's tokens (the
same code, so the same tokens). Kiwi holds the GIL while it loads, so a thread could not do
this. Any failure of the child falls back to loading Kiwi here.

Bad input never raises: control characters become spaces, lone surrogates are replaced, text is
NFC-normalised and fed to Kiwi in pieces of at most :data:`PIECE_CHARS`; a piece Kiwi fails on
is analysed with n-grams instead.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ANALYSIS_VERSION = 2  # bump when the tokens either analyser emits change (2: KIWI_OPTIONS)
KIWI_OPTIONS = {"load_multi_dict": False, "load_typo_dict": False}  # see the module docstring
PIECE_CHARS = 4000  # Kiwi's cost grows with a piece's length; pieces bound memory and time
MAX_TOKEN_CHARS = 32  # longer "words" (hashes, base64, run-on junk) are not search terms
KEEP_TAGS = frozenset({"NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SN", "SH"})
_KO = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"  # Hangul syllables and jamo
_HAN = "\u3400-\u9fff\uf900-\ufaff"  # CJK ideographs (Hanja)
# Words Kiwi is not asked about: foreign letters (SL) and numbers (SN), cut alike in every text
FIXED = re.compile(f"(?P<SL>(?:(?![{_KO}{_HAN}])[^\\W\\d_])+)|(?P<SN>\\d+(?:[.,]\\d+)*)")
_HAS_KOREAN = re.compile(f"[{_KO}{_HAN}]")
_RUNS = re.compile(f"(?P<KO>[{_KO}]+)|(?P<SH>[{_HAN}]+)|{FIXED.pattern}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")
INSTALL_HINT = "pip install kiwipiepy (Apache-2.0; the model ships in kiwipiepy-model)"


def clean(text: str) -> str:
    """NFC text with control characters as spaces and lone surrogates replaced (never raises)."""
    text = text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", text))


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def ngram_tokens(text: str) -> list[str]:
    """Character 2- and 3-grams of each Hangul run (a 1-char run as it is); other words whole."""
    out: list[str] = []
    for m in _RUNS.finditer(text):
        run = m.group()
        if m.lastgroup == "KO" and len(run) > 1:
            out += [run[i:i + n] for n in (2, 3) for i in range(len(run) - n + 1)]
        elif len(run) <= MAX_TOKEN_CHARS:
            out.append(run.lower())
    return out


@dataclass(frozen=True)
class Analyzer:
    """Turns text into the space-separated tokens stored in (and searched against) ``fts_text``.

    Attributes:
        name: ``kiwi`` or ``ngram``, recorded with the index so queries are analysed alike.
        version: what produced the tokens (the package version and :data:`ANALYSIS_VERSION`).
    """

    name: str
    version: str

    def analyse(self, text: str | None) -> str:
        """The tokens of ``text``, space-separated (``""`` for empty text)."""
        return self.analyse_many([text])[0]

    def analyse_many(self, texts: Iterable[str | None]) -> list[str]:
        """:meth:`analyse` for many texts at once (Kiwi runs them on its worker threads)."""
        cleaned = [clean(t) if t else "" for t in texts]
        if self.name != "kiwi":
            return [" ".join(ngram_tokens(t)) for t in cleaned]
        return _kiwi_analyse(cleaned)


def _kiwi_analyse(texts: list[str]) -> list[str]:
    if len(texts) == 1 and (done := _take(texts[0])) is not None:
        return [done]
    out: list[list[str]] = [[] for _ in texts]
    pieces: list[tuple[int, str]] = []
    for i, t in enumerate(texts):
        if not _HAS_KOREAN.search(t):  # no Hangul or Hanja: the regex words alone
            out[i] = [w for w in (m.group().lower() for m in FIXED.finditer(t))
                      if len(w) <= MAX_TOKEN_CHARS]
        else:
            pieces += [(i, p) for p in _pieces(t)]
    for (i, _), tokens in zip(pieces, _kiwi_tokens([p for _, p in pieces]), strict=True):
        out[i] += tokens
    return [" ".join(toks) for toks in out]


def _pieces(text: str) -> list[str]:
    """``text`` cut at whitespace into pieces of at most :data:`PIECE_CHARS` characters."""
    pieces, start = [], 0
    while len(text) - start > PIECE_CHARS:
        cut = text.rfind(" ", start, start + PIECE_CHARS)
        cut = cut if cut > start else start + PIECE_CHARS
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def _kiwi_tokens(pieces: list[str]) -> list[list[str]]:
    if not pieces:
        return []
    kiwi = _kiwi()
    try:
        return [_keep(tokens) for tokens in kiwi.tokenize(pieces, pretokenized=_fixed_spans)]
    except Exception:  # noqa: BLE001 - one bad piece must not lose the batch: one by one
        return [_one(kiwi, p) for p in pieces]


def _fixed_spans(piece: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.lastgroup) for m in FIXED.finditer(piece)]


def _one(kiwi, piece: str) -> list[str]:
    try:
        return _keep(kiwi.tokenize(piece, pretokenized=_fixed_spans(piece)))
    except Exception as exc:  # noqa: BLE001 - analysis must never stop a run
        log.warning("kiwipiepy failed on a %d-char piece (%s); indexed with n-grams instead",
                    len(piece), exc)
        return ngram_tokens(piece)


def _keep(tokens) -> list[str]:
    out: list[str] = []
    for t in tokens:
        tag, form = t.tag.split("-")[0], t.form.lower()
        if tag not in KEEP_TAGS or len(form) > MAX_TOKEN_CHARS or form.isspace():
            continue
        out.append(form)
        if tag in ("NNG", "NNP") and len(form) >= 3:  # compounds, split or not: see above
            out += [form[i:i + 2] for i in range(len(form) - 1)]
    return out


_CHILDREN: dict[str, Any] = {}  # cleaned query -> the child process analysing it
PREFETCH_CHARS = 8000  # a longer query is analysed here (its bytes would not fit a pipe)
_CHILD = ("import importlib.util, sys\n"
          "spec = importlib.util.spec_from_file_location('_mmindex_analysis', sys.argv[1])\n"
          "m = importlib.util.module_from_spec(spec)\n"
          "sys.modules[spec.name] = m\n"
          "spec.loader.exec_module(m)\n"
          "text = sys.stdin.buffer.read().decode('utf-8')\n"
          "sys.stdout.buffer.write(m._kiwi_analyse([text])[0].encode('utf-8'))\n")


def prefetch(text: str | None, when: str = "auto") -> bool:
    """Start analysing the query ``text`` with Kiwi in a child process (see the module
    docstring), as the ``search_prefetch`` setting ``when`` says (:mod:`.children`: ``auto``
    only on a spare core). Nothing happens for text without Hangul, a long text, Kiwi already
    loaded here, or kiwipiepy not installed. Whether a child is analysing ``text`` now."""
    cleaned = clean(text) if text else ""
    if (not _HAS_KOREAN.search(cleaned) or len(cleaned) > PREFETCH_CHARS
            or cleaned in _CHILDREN or _load_kiwi.cache_info().currsize
            or _kiwi_version() is None):
        return cleaned in _CHILDREN
    import sys

    from mmindex.index import children

    if not children.wanted(when):
        return False
    child = children.start([sys.executable, "-c", _CHILD, __file__], cleaned.encode("utf-8"))
    if child is not None:
        _CHILDREN[cleaned] = child
    return child is not None


def _take(cleaned: str) -> str | None:
    """The tokens a :func:`prefetch` child found for ``cleaned``; None without one or when it
    failed (the caller analyses here)."""
    from mmindex.index import children

    child = _CHILDREN.pop(cleaned, None)
    out = None if child is None else children.take(child, timeout=60)
    return None if out is None else out.decode("utf-8")


_KIWI_LOCK = threading.Lock()  # one load when several threads analyse at once


def _kiwi():
    with _KIWI_LOCK:
        return _load_kiwi()


@functools.cache
def _load_kiwi():
    """Kiwi, loaded once per process when a text with Hangul is first analysed (1.3 s CPU
    here). It holds the GIL while it loads, so loading it on a thread overlaps nothing."""
    from kiwipiepy import Kiwi

    return Kiwi(**KIWI_OPTIONS)


@functools.cache
def get_analyzer(name: str | None = None) -> Analyzer:
    """The analyser called ``name`` (default: ``kiwi`` when installed, else ``ngram``).

    A missing kiwipiepy is reported once per process, with what to install; the n-gram
    fallback is used instead (also for an index built with Kiwi, whose queries then match
    less well).
    """
    if name in (None, "kiwi"):
        version = _kiwi_version()
        if version is None:
            log.warning("kiwipiepy is not installed: Korean full-text search falls back to "
                        "character n-grams. Help: %s", INSTALL_HINT)
        else:
            return Analyzer("kiwi", f"kiwipiepy-{version}/a{ANALYSIS_VERSION}")
    return Analyzer("ngram", f"ngram23/a{ANALYSIS_VERSION}")


def _kiwi_version() -> str | None:
    """kiwipiepy's version, None when it is not installed. Read from its package metadata, not
    by importing it (0.1-0.2 s): an index's English queries never need Kiwi."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("kiwipiepy") is None:
        return None
    try:
        return importlib.metadata.version("kiwipiepy")
    except importlib.metadata.PackageNotFoundError:  # importable without metadata (a source tree)
        import kiwipiepy

        return kiwipiepy.__version__
