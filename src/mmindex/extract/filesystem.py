"""Where bytes live: fsspec filesystems for local paths and object stores (sources and media).

A location is a local path (absolute or relative), a ``file://`` URI, or an object-store URI
(``s3://bucket/key``, ``gs://…``, ``az://…``). :func:`filesystem_for` turns it into a cached
fsspec filesystem and the path that filesystem understands; :func:`ref_resolver` resolves a
manifest's media references against the manifest's directory; :func:`storage_error` turns a
low-level failure (connection refused, bad credentials) into a :class:`StorageError` with Help.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import threading
from collections.abc import Callable
from typing import Any

from mmindex.errors import ConfigError, StorageError, require

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_LOCAL = {"file", "local"}

# botocore retries a refused connection 5 times with backoff by default; a wrong endpoint must fail
# the run in seconds, so we bound it and let the caller (Prefect task retries) decide whether to
# try again. s3fs's own retries (timeouts, dropped transfers) are kept. User config_kwargs win.
_S3_DEFAULTS: dict[str, Any] = {
    "config_kwargs": {
        "connect_timeout": 5,
        "read_timeout": 60,
        "retries": {"max_attempts": 2, "mode": "standard"},
    },
}

_cache: dict[tuple[str, int, str], Any] = {}
_lock = threading.Lock()


def scheme_of(location: str) -> str:
    """The URI scheme (``s3``, ``file``), or ``"file"`` for a plain local path."""
    m = _SCHEME.match(location)
    return m.group(1).lower() if m else "file"


def is_local(location: str) -> bool:
    """True for plain paths and ``file://`` URIs."""
    return scheme_of(location) in _LOCAL


def normalize(location: str) -> str:
    """Absolute local path for local locations (``file://`` stripped); URIs unchanged."""
    if not is_local(location):
        return location
    path = _SCHEME.sub("", location) if _SCHEME.match(location) else location
    return os.path.abspath(os.path.expanduser(path))


def _options_for(protocol: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    opts = dict(storage_options or {})
    if protocol in ("s3", "s3a"):
        merged = {k: v for k, v in _S3_DEFAULTS.items() if k != "config_kwargs"}
        merged.update(opts)
        config = dict(_S3_DEFAULTS["config_kwargs"])
        config.update(opts.get("config_kwargs") or {})
        merged["config_kwargs"] = config
        return merged
    return opts


def filesystem_for(location: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The (cached) fsspec filesystem for ``location`` and the path within it.

    ``storage_options`` (``endpoint_url``, ``key``, ``secret``, ``client_kwargs``, …) go to the
    object-store filesystem; local paths ignore them. One instance is kept per
    (protocol, options), so worker threads share connection pools.

    Raises:
        StorageError: The protocol has no installed fsspec implementation or bad options.
    """
    import fsspec

    protocol = scheme_of(location)
    if protocol in _LOCAL:
        protocol, opts = "file", {}
        path = normalize(location)
    else:
        opts = _options_for(protocol, storage_options)
        path = location
        if protocol in ("s3", "s3a"):
            require("s3fs", f"reading {location}", ConfigError)
    # The pid is in the key because async clients do not survive a fork.
    key = (protocol, os.getpid(), json.dumps(opts, sort_keys=True, default=repr))
    with _lock:
        fs = _cache.get(key)
        if fs is None:
            try:
                fs = fsspec.filesystem(protocol, **opts)
            except (ImportError, ValueError, TypeError) as exc:
                raise StorageError(
                    f"cannot open a {protocol}:// filesystem for {location}: {exc}\n"
                    "Help: check the URI scheme and the storage options (endpoint_url, key, "
                    "secret); object stores other than s3 need their fsspec package installed."
                ) from exc
            _cache[key] = fs
    if protocol != "file":
        path = fs._strip_protocol(location)
    return fs, path


def parent_of(location: str) -> str:
    """The directory holding ``location`` (a local path or a URI ending without a slash)."""
    if is_local(location):
        return os.path.dirname(normalize(location))
    scheme, rest = location.split("://", 1)
    return f"{scheme}://{posixpath.dirname(rest.rstrip('/'))}"


def ref_resolver(base_dir: str) -> Callable[[str], str]:
    """A function resolving a manifest's media references against the manifest's directory.

    URIs (``s3://…``, ``file://…``, ``https://…``) and absolute local paths are kept as they
    are; relative references are joined to ``base_dir`` (a local directory or an object-store
    prefix) with ``.``/``..`` collapsed.
    """
    if is_local(base_dir):
        head, prefix = "", normalize(base_dir)
    else:
        scheme, rest = base_dir.split("://", 1)
        bucket, _, prefix = rest.partition("/")
        head, prefix = f"{scheme}://{bucket}", "/" + prefix
    prefix = prefix.rstrip("/")

    def resolve(ref: str) -> str:
        if ref.startswith("/") or ("://" in ref and _SCHEME.match(ref)):
            return ref
        joined = f"{prefix}/{ref}"
        # normpath is the slow part of resolving millions of refs; most need none.
        if ref.startswith(".") or "/." in ref or "//" in ref:
            joined = posixpath.normpath(joined)
        return head + joined

    return resolve


def storage_error(exc: BaseException, action: str, location: str) -> StorageError:
    """A :class:`StorageError` for a systemic failure (network, credentials, permissions);
    permanent (not retried) when another attempt cannot help (permissions, credentials, a
    missing file, a full or read-only disk)."""
    from mmindex.errors import is_permanent_io

    permanent = is_permanent_io(exc)
    if isinstance(exc, PermissionError) or "Credential" in type(exc).__name__:
        hint = "check the credentials (key/secret or the environment) and the bucket's permissions"
    elif permanent:
        hint = "check the path, the permissions and the free space; retrying will not help"
    else:
        hint = (
            "check that the store is reachable (endpoint_url, network) and retry; "
            "for object stores pass storage_options such as endpoint_url, key and secret"
        )
    return StorageError(
        f"cannot {action} {location}: {type(exc).__name__}: {exc}\nHelp: {hint}.",
        transient=not permanent,
    )
