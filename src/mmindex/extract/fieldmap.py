"""Which manifest columns mean what: the :class:`FieldMap`.

A field left unset (None) takes the format's default (:data:`DEFAULT_FIELDS`, or
:data:`BEIR_FIELDS` for BEIR corpora), so ``--field metadata=-`` on a BEIR corpus keeps BEIR's
id and text columns. Columns the user names explicitly must exist in the manifest's header or
schema; default columns may be absent (a manifest without images has no ``images`` column).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mmindex.errors import ConfigError

ALL_REMAINING = "*"
_KEYS = ("id", "text", "images", "video", "metadata", "text_sep")
_ALIASES = {"image": "images", "meta": "metadata", "sep": "text_sep"}


def _names(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(n.strip() for n in value.split(",") if n.strip())
    return tuple(value)


@dataclass(frozen=True)
class FieldMap:
    """Which manifest columns hold the id, text, media and metadata of an item.

    Every attribute left None takes the format's default when the source is opened.

    Attributes:
        id: Column with the item id (string or integer). Default ``id`` (BEIR: ``_id``).
        text: Column(s) with text, joined with ``text_sep``; empty ones are skipped.
            Default ``text`` (BEIR: ``title``, ``text``).
        images: Column(s) with image references: each holds a string, a list of strings or
            (CSV) a JSON list in a string. Default ``images`` and ``image``. ``()`` = none.
        video: Column with one video reference. Default ``video``; ``""`` = none.
        metadata: Columns carried as metadata. None = every column not used above.
        text_sep: Separator between text columns. Default newline (BEIR: a space).
    """

    id: str | None = None
    text: tuple[str, ...] | None = None
    images: tuple[str, ...] | None = None
    video: str | None = None
    metadata: tuple[str, ...] | None = None
    text_sep: str | None = None

    def __post_init__(self) -> None:
        # Accept "a,b" strings and lists; store tuples so maps are hashable and comparable.
        for name in ("text", "images", "metadata"):
            object.__setattr__(self, name, _names(getattr(self, name)))
        if self.id == "":
            raise ConfigError("the id field cannot be empty\nHelp: pass --field id=COLUMN.")

    @classmethod
    def parse(cls, specs: Iterable[str]) -> FieldMap:
        """Build a map from ``KEY=VALUE`` strings (the CLI's ``--field`` options).

        Keys: ``id``; ``text``, ``images``, ``metadata`` (comma-separated columns; for
        ``metadata`` ``*`` = all remaining, ``-`` or empty = none; ``images=`` = none);
        ``video`` (empty = none); ``text_sep`` (backslash escapes such as ``\\n`` work).

        Raises:
            ConfigError: A spec is not ``KEY=VALUE`` or names an unknown key.
        """
        changes: dict[str, Any] = {}
        for spec in specs:
            key, sep, value = spec.partition("=")
            key = _ALIASES.get(key.strip().lower(), key.strip().lower())
            if not sep or key not in _KEYS:
                raise ConfigError(
                    f"bad field spec {spec!r}\nHelp: use KEY=COLUMN with KEY one of "
                    f"{', '.join(_KEYS)} (e.g. --field id=item_id --field text=question,passage)."
                )
            if key == "text_sep":
                changes[key] = value.encode().decode("unicode_escape")
            elif key == "metadata":
                value = value.strip()
                changes[key] = None if value == ALL_REMAINING else ("" if value == "-" else value)
            else:
                changes[key] = value.strip()
        return cls(**changes)

    def with_defaults(self, default: FieldMap) -> FieldMap:
        """This map with unset fields taken from ``default``."""
        unset = {k: getattr(default, k) for k in _KEYS if getattr(self, k) is None}
        return dataclasses.replace(self, **unset)

    def explicit_columns(self) -> set[str]:
        """Columns this map names itself (they must exist in the manifest)."""
        names = [self.id, self.video, *(self.text or ()), *(self.images or ())]
        return {n for n in names if n} | set(self.metadata or ())

    def used_columns(self) -> set[str]:
        """Columns that feed id, text and media (the rest is metadata by default)."""
        names = [self.id, self.video, *(self.text or ()), *(self.images or ())]
        return {n for n in names if n}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for lineage."""
        return {
            "id": self.id,
            "text": None if self.text is None else list(self.text),
            "images": None if self.images is None else list(self.images),
            "video": self.video,
            "metadata": ALL_REMAINING if self.metadata is None else list(self.metadata),
            "text_sep": self.text_sep,
        }


DEFAULT_FIELDS = FieldMap(
    id="id", text=("text",), images=("images", "image"), video="video", text_sep="\n"
)
"""Defaults for jsonl, csv and parquet manifests."""

BEIR_FIELDS = FieldMap(id="_id", text=("title", "text"), images=(), video="", text_sep=" ")
"""BEIR ``corpus.jsonl``: text = title + " " + text, or text alone when the title is empty."""
