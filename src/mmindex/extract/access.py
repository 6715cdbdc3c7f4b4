"""Which media a manifest may make the worker read, and reading them within bounds.

A manifest is data from elsewhere; its media references must not turn the worker into a file
reader or an HTTP client for whoever wrote it. A fault-injection pass showed both: ``../`` paths,
absolute paths and symlinks were read wherever they pointed (``/etc/passwd`` whole), an
``http://`` reference made the worker send a request, ``/dev/zero`` grew memory past 6 GiB in
17 s, and a FIFO hung the run. So:

- :class:`MediaPolicy` admits a reference only under a data root: the manifest's folder, plus the
  ``media_roots`` setting (local folders after symlinks are resolved, or object-store prefixes of
  the manifest's kind); other URL schemes (``http``, ``https``, ...) only when listed in
  ``media_url_schemes``. A refused item is quarantined as ``media_refused``; the message names the
  reference and the roots, never the file's content.
- :func:`read_local` / :func:`read_remote` read regular files only (a FIFO or a device is
  refused before anything is read), check the size before reading and enforce it while reading.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mmindex.errors import ItemError
from mmindex.extract.filesystem import is_local, normalize, scheme_of


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _root(location: str) -> str:
    """A root in comparable form: a real local path, or ``scheme://bucket/prefix`` normalised."""
    if is_local(location):
        return os.path.realpath(normalize(location))
    scheme, rest = location.split("://", 1)
    return f"{scheme.lower()}://{posixpath.normpath(rest).strip('/')}"


def _under(path: str, root: str, sep: str) -> bool:
    return path == root or path.startswith(root.rstrip(sep) + sep)


@dataclass(frozen=True)
class MediaPolicy:
    """The data roots media may come from, and the URL schemes allowed anywhere."""

    roots: tuple[str, ...]
    schemes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def for_source(cls, manifest_dir: str, extra_roots: Iterable[str] = (),
                   schemes: Iterable[str] = ()) -> MediaPolicy:
        """The manifest's folder and ``extra_roots`` (the ``media_roots`` setting)."""
        return cls(tuple(dict.fromkeys(_root(r) for r in (manifest_dir, *extra_roots))),
                   frozenset(s.lower() for s in schemes))

    def admit(self, ref: str, item_id: str | None = None) -> str:
        """``ref`` as it will be read (a local path with symlinks resolved), or ItemError
        ``media_refused`` when it is outside every root or of a scheme not allowed."""
        scheme = scheme_of(ref)
        if is_local(ref):
            real = os.path.realpath(normalize(ref))
            if any(_under(real, r, os.sep) for r in self.roots if "://" not in r):
                return real
        elif scheme in self.schemes:
            return ref
        else:
            key = _root(ref)
            if any(_under(key, r, "/") for r in self.roots if r.startswith(f"{scheme}://")):
                return ref
            if not any(r.startswith(f"{scheme}://") for r in self.roots):
                raise ItemError(
                    "media_refused",
                    f"{ref}: {scheme}:// media are not allowed. Help: list the scheme in the "
                    "media_url_schemes setting if the worker may fetch such URLs", item_id)
        raise ItemError(
            "media_refused",
            f"{ref} is outside the data roots ({', '.join(self.roots)}). Help: add its folder "
            "to the media_roots setting, or move it beside the manifest", item_id)


def read_remote(fs: Any, path: str, ref: str, max_bytes: int,
                item_id: str | None = None) -> bytes:
    """The bytes of one object-store object, never more than ``max_bytes`` read.

    Raises:
        ItemError: ``missing_media`` (a "directory") or ``media_too_large``.
        The filesystem's own exceptions (not found, network, credentials) pass through.
    """
    info = fs.info(path)
    if info.get("type") == "directory":
        raise ItemError("missing_media", f"{ref} is a directory, not a file", item_id)
    size = info.get("size")
    if size is not None and size > max_bytes:
        raise _too_large(ref, max_bytes, item_id, size)
    with fs.open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)  # the store reported no size, or the object grew
    if len(data) > max_bytes:
        raise _too_large(ref, max_bytes, item_id)
    return data


def read_local(path: str, ref: str, max_bytes: int, item_id: str | None = None) -> bytes:
    """The bytes of one local regular file, never more than ``max_bytes`` read.

    Raises:
        ItemError: ``missing_media`` (a directory), ``media_refused`` (a FIFO, a device, a
            socket) or ``media_too_large``. ``FileNotFoundError`` passes through.
    """
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ItemError("missing_media", f"{ref} is a directory, not a file", item_id)
        if not stat.S_ISREG(st.st_mode):
            raise ItemError("media_refused", f"{ref} is not a regular file (a FIFO, device or "
                            "socket). Help: media must be files", item_id)
        if st.st_size > max_bytes:
            raise _too_large(ref, max_bytes, item_id, st.st_size)
        os.set_blocking(fd, True)
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:  # the file grew after the size check
        raise _too_large(ref, max_bytes, item_id)
    return data


def _too_large(ref: str, max_bytes: int, item_id: str | None, size: int | None = None
               ) -> ItemError:
    what = f"{ref} is {_mib(size)}" if size is not None else f"{ref} is"
    return ItemError("media_too_large",
                     f"{what}, over the {_mib(max_bytes)} limit (max_media_bytes)", item_id)
