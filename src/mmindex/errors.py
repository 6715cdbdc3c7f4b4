"""The exception tree of mmindex.

Every error the library raises on purpose derives from :class:`MMIndexError`::

    MMIndexError
    ├── ConfigError             bad settings or arguments; permanent, never retried
    ├── ModelUnavailableError   weights/backend cannot be loaded; permanent, fail fast
    ├── StorageError            source or database unreachable / I/O failed; transient, retried
    ├── IndexBusyError          another run holds the index's writer lock
    ├── IndexNotFoundError      no such index, table, version or production pointer
    ├── GoldenSetError          golden set empty, unreadable or inconsistent; no promotion
    └── ItemError               one item is bad; it is quarantined and the run goes on
        (``ItemError.reason`` is one of :data:`QUARANTINE_REASONS`)

Messages say what to do next ("Help: ..."). :func:`is_transient` is the one rule for which
failures are worth another attempt (Prefect's task retries ask it); :func:`is_cuda_oom` the one
test for a CUDA out-of-memory error (the stream splits such a batch).
"""

from __future__ import annotations

QUARANTINE_REASONS = (
    "empty_item",  # no text, no image, no video
    "missing_media",  # a referenced file/URI does not exist
    "corrupt_media",  # exists but cannot be decoded
    "unsupported_format",  # decodable by nothing we know (e.g. .svg, .docx)
    "text_too_long",  # over the configured token limit
    "media_too_large",  # over the configured byte or pixel limit
    "bad_record",  # a manifest row that cannot become an item (no id, wrong types)
    "embed_failed",  # the model raised on this item alone (after batch bisection)
)


class MMIndexError(Exception):
    """Base class of all mmindex errors."""


class ConfigError(MMIndexError):
    """Settings or arguments are invalid. Permanent: retrying cannot help."""


class ModelUnavailableError(MMIndexError):
    """The embedding model cannot be loaded (weights missing offline, bad path, bad spec)."""


class StorageError(MMIndexError):
    """The source or the database cannot be read or written. Usually transient."""


class IndexBusyError(MMIndexError):
    """Another run is writing this index."""


class IndexNotFoundError(MMIndexError):
    """The index, table, version or production pointer does not exist."""


class GoldenSetError(MMIndexError):
    """The golden set is empty, unreadable or does not match the index."""


class ItemError(MMIndexError):
    """One item cannot be embedded. It goes to quarantine with ``reason``; the run continues."""

    def __init__(self, reason: str, message: str, item_id: str | None = None):
        if reason not in QUARANTINE_REASONS:
            raise ValueError(f"unknown quarantine reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.item_id = item_id

    def __str__(self) -> str:  # "corrupt_media: cannot decode a.png (...)"
        return f"{self.reason}: {self.args[0]}"


def is_cuda_oom(exc: BaseException) -> bool:
    """True for torch's CUDA out-of-memory error (by name: torch need not be imported)."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def is_transient(exc: BaseException) -> bool:
    """True for failures that another attempt may not hit.

    Transient: storage I/O and timeouts (:class:`StorageError`, ``OSError``, ``TimeoutError``,
    ``ConnectionError``) and a CUDA out-of-memory that survived the batch split. Permanent: every
    other mmindex error (bad configuration, a missing model, a busy index, a broken golden set).
    """
    if isinstance(exc, StorageError):
        return True
    if isinstance(exc, MMIndexError):
        return False
    if is_cuda_oom(exc):
        return True
    return isinstance(exc, (OSError, TimeoutError, ConnectionError))
