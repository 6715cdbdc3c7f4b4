"""The exception tree of mmindex.

Every error the library raises on purpose derives from :class:`MMIndexError`::

    MMIndexError
    ├── ConfigError             bad settings or arguments; permanent, never retried
    ├── ModelUnavailableError   weights/backend cannot be loaded; permanent, fail fast
    ├── StorageError            source or database unreachable / I/O failed; retried only when
    │                           ``transient`` (timeouts, refused connections), not when missing
    ├── IndexBusyError          another run holds the index's writer lock
    ├── IndexNotFoundError      no such index, table, version or production pointer
    ├── GoldenSetError          golden set empty, unreadable or inconsistent; no promotion
    ├── WorkerLostError         a Ray actor or node died while embedding a group; transient
    └── ItemError               one item is bad; it is quarantined and the run goes on
        (``ItemError.reason`` is one of :data:`QUARANTINE_REASONS`)

Messages say what to do next ("Help: ..."). :func:`require` is the one check that an optional
extra (``pip install 'mmindex[models]'``) is installed. :func:`is_transient` is the one rule for
which failures are worth another attempt (Prefect's task retries ask it); :func:`is_cuda_oom` the
one test for a CUDA out-of-memory error (the stream splits such a batch). :func:`redact` is the
one place secrets are taken out of text the project prints or stores.
"""

from __future__ import annotations

import errno
import importlib.util
import re
from collections.abc import Iterable

# a full disk, a read-only file system, a quota: another attempt in 10 s will not help
PERMANENT_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES,
                              errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR})

QUARANTINE_REASONS = (
    "empty_item",  # no text, no image, no video
    "missing_media",  # a referenced file/URI does not exist
    "media_refused",  # outside the data roots, a URL scheme not allowed, or not a regular file
    "corrupt_media",  # exists but cannot be decoded
    "unsupported_format",  # decodable by nothing we know (e.g. .svg, .docx)
    "text_too_long",  # over the configured token limit
    "media_too_large",  # over the configured byte or pixel limit
    "bad_record",  # a manifest row that cannot become an item (no id, wrong types)
    "embed_failed",  # the model raised on this item alone (after batch bisection)
    "ocr_failed",  # tesseract failed or timed out on one of the item's images (setting ocr)
)


MASK = "***"
_SECRETS: set[str] = set()  # the configured secrets of this process (register_secrets)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@?#]*):[^/\s@?#]*@")
_QUERY_TOKEN = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:token|key|secret|password|passwd|pwd|signature|sig|auth|"
    r"credential)[a-z0-9_.-]*)=)[^&#\s\"'<>]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{4,}")


def register_secrets(*values: str | None) -> None:
    """Remember configured secrets (API keys, passwords) so :func:`redact` masks them anywhere
    (called when the settings are built). Values under 8 characters are not registered: masking
    a short common word everywhere would garble messages (URL passwords and the request's own
    key are masked by their position whatever their length)."""
    _SECRETS.update(v for v in values if isinstance(v, str) and len(v.strip()) >= 8)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret masked as ``***``: the registered settings secrets and
    ``secrets``, URL passwords (``https://user:***@host``), query tokens (``?token=***``,
    ``&api_key=***``) and ``Bearer`` credentials. Applied to every error message printed, logged
    or stored (``_runs``, ``_quarantine``) and to the settings shown by ``mmindex config``."""
    text = str(text)
    extra = {s for s in secrets if isinstance(s, str) and len(s) >= 4}
    for secret in sorted(_SECRETS | extra, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(rf"\1:{MASK}@", text)
    text = _QUERY_TOKEN.sub(rf"\1{MASK}", text)
    return _BEARER.sub(rf"\1 {MASK}", text)


def shorten(value: object, limit: int = 200) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters with ``… (N chars)`` after: a
    malformed 10 MB input line is named, never echoed whole."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} chars)"


#: the extra (pyproject.toml's optional-dependencies) that installs each optional module
EXTRAS = {"torch": "models", "torchvision": "models", "transformers": "models",
          "sentence_transformers": "models", "qwen_vl_utils": "models", "huggingface_hub": "models",
          "prefect": "prefect", "s3fs": "s3", "ray": "ray", "lance": "write", "scipy": "stats"}
_PYPI = {"lance": "pylance", "sentence_transformers": "sentence-transformers",
         "qwen_vl_utils": "qwen-vl-utils", "huggingface_hub": "huggingface-hub"}


class MMIndexError(Exception):
    """Base class of all mmindex errors."""


class ConfigError(MMIndexError):
    """Settings or arguments are invalid. Permanent: retrying cannot help."""


class ModelUnavailableError(MMIndexError):
    """The embedding model cannot be loaded (weights missing offline, bad path, bad spec)."""


class StorageError(MMIndexError):
    """The source or the database cannot be read or written.

    ``transient`` says whether another attempt may succeed: a timeout or a refused connection
    may; a missing file, a refused permission, a full or read-only disk will not (they are not
    retried, so a typo'd manifest fails in seconds, not after three back-offs).
    """

    def __init__(self, message: str, *, transient: bool = True):
        super().__init__(message)
        self.transient = transient


class IndexBusyError(MMIndexError):
    """Another run is writing this index."""


class IndexNotFoundError(MMIndexError):
    """The index, table, version or production pointer does not exist."""


class GoldenSetError(MMIndexError):
    """The golden set is empty, unreadable or does not match the index."""


class WorkerLostError(MMIndexError):
    """A Ray actor (or its node) died while embedding a group. Transient: the group is retried
    on a replacement actor and reuses what the lost one had staged."""


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

    Transient: timeouts and refused connections (a :class:`StorageError` marked ``transient``,
    ``TimeoutError``, ``ConnectionError``, other ``OSError``), a lost Ray actor or node
    (:class:`WorkerLostError`) and a CUDA out-of-memory that survived the batch split.
    Permanent: every other mmindex error (bad configuration, a missing model, a busy index, a
    broken golden set), and what another attempt cannot change: a missing file, a refused
    permission, a full or read-only disk.
    """
    if isinstance(exc, StorageError):
        return exc.transient
    if isinstance(exc, WorkerLostError):
        return True
    if isinstance(exc, MMIndexError):
        return False
    if is_cuda_oom(exc):
        return True
    if is_permanent_io(exc):
        return False
    return isinstance(exc, (OSError, TimeoutError, ConnectionError))


def is_permanent_io(exc: BaseException) -> bool:
    """An I/O failure another attempt cannot change: missing, refused, full, read-only."""
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError,
                        NotADirectoryError)):
        return True
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        return True
    text = f"{type(exc).__name__} {exc}"
    return any(s in text for s in ("Credential", "AccessDenied", "No space left",
                                   "Read-only file system", "Permission denied"))


def installed(module: str) -> bool:
    """Whether the top-level ``module`` can be imported (it is not imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it; a module without a spec
        return False


def require(module: str, what: str, error: type[MMIndexError] | None = None) -> None:
    """Raise ``error`` (default :class:`ModelUnavailableError`) naming the extra to install when
    ``module`` (a top-level name in :data:`EXTRAS`) is not installed; ``what`` needs it."""
    if not installed(module):
        extra = EXTRAS[module]
        raise (error or ModelUnavailableError)(
            f"{what} needs the Python package {_PYPI.get(module, module)}, which is not "
            f"installed (the core install leaves out the {extra!r} extra). Help: pip install "
            f"'mmindex[{extra}]' (in a checkout: pip install -c requirements.lock -e "
            f"'.[{extra}]').")
