"""The unit of work: an :class:`Item` read from a source, and what the pipeline derives from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Item:
    """One thing to embed.

    Attributes:
        id: Stable identifier, unique within the source.
        text: Text content ("" when none).
        images: Image references: absolute local paths or URIs (``s3://…``, ``file://…``),
            already resolved against the manifest's location by the source reader.
        video: Optional video reference (file path/URI), resolved the same way.
        metadata: Extra manifest columns, carried into the index unchanged (JSON-able values).
    """

    id: str
    text: str = ""
    images: tuple[str, ...] = ()
    video: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def media(self) -> tuple[str, ...]:
        """All media references, images first, then the video."""
        return self.images + ((self.video,) if self.video else ())

    @property
    def is_empty(self) -> bool:
        return not self.text.strip() and not self.images and not self.video


@dataclass(frozen=True)
class Cost:
    """Estimated model cost of one item: sequence tokens (text + visual) and visual pixels."""

    tokens: int
    pixels: int = 0


@dataclass(frozen=True)
class BadRecord:
    """A manifest row that could not become an :class:`Item`; it is quarantined, not embedded."""

    reason: str  # one of mmindex.errors.QUARANTINE_REASONS
    message: str
    id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
