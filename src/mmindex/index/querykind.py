"""What kind of query this is: its language, its length and its modality.

One definition shared by search (a version's fusion may differ by segment, and search applies
the one that fits the query) and evaluation (every metric is reported per segment). It sits
in ``index`` so that both ``search`` and ``evaluation`` may import it (the stages' layers).

- language: the ``lang`` a golden query carries, else detected from the text: any Hangul
  syllable or jamo -> ``ko``; else any Latin letter -> ``en``; else ``other``.
- length: ``one-word`` when the text is a single whitespace-separated token, else ``multi-word``.
- modality: ``text``, ``image`` or ``text+image``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Hangul syllables, Jamo, compatibility Jamo, Jamo extended A/B
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")

LANGS = ("ko", "en", "other")
LENGTHS = ("one-word", "multi-word")
MODALITIES = ("text", "image", "text+image")


def lang_of(text: str | None, given: str | None = None) -> str:
    """``given`` when set (lower-cased, e.g. a golden query's ``lang``), else detected."""
    if given:
        return given.strip().lower()
    if not text:
        return "other"
    if _HANGUL.search(text):
        return "ko"
    return "en" if _LATIN.search(text) else "other"


def length_of(text: str | None) -> str:
    """``one-word`` or ``multi-word`` (an empty text counts as one word: image queries)."""
    return "multi-word" if text and len(text.split()) > 1 else "one-word"


def modality_of(text: str | None, image: object | None) -> str:
    if text and image:
        return "text+image"
    return "image" if image else "text"


@dataclass(frozen=True)
class QueryKind:
    """A query's segments; :meth:`key` names its cell of a per-segment fusion."""

    lang: str
    length: str
    modality: str

    @classmethod
    def of(cls, text: str | None, image: object | None = None,
           lang: str | None = None) -> QueryKind:
        return cls(lang_of(text, lang), length_of(text), modality_of(text, image))

    def key(self) -> str:
        """``lang/length``, e.g. ``ko/one-word``: the cell a fusion policy is fit per."""
        return f"{self.lang}/{self.length}"
