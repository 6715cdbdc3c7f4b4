"""A remote manifest read from the store once per run: the plan's pass keeps a local copy.

A run reads its manifest twice: the plan's pass (:func:`~mmindex.extract.segments.scan`: the
groups' offsets, the repeated ids, the ids for ``deletion_policy=delete``), then each group its
own bytes. From an object store that was 2x the manifest's bytes (issue 23, item 9). Now, for a
non-local manifest, the plan's pass writes the bytes it reads to a *spool* file as it parses them
(:class:`Tee`; a Parquet file is copied first, then scanned, since its reader jumps about the
file). The spool is named by the index, the run and the object's identity (size, ETag or
modification time), lives in ``<cache_dir>/spool`` and is kept only when every byte of the object
arrived. The groups that run on the same host find it and read their byte ranges from local
disk; the others (Ray actors on other nodes) range-read the store as before. The groups also read
the very bytes the plan cut, even if the object is replaced meanwhile.

The spool goes when the run commits or fails (:func:`remove`); a killed run's is removed by the
next run of the same index in the same database (:func:`clear_stale`, under the index's writer
lock). A spool that cannot be written (no room, no permission) is dropped with a warning: the run
goes on reading the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def _hash(*parts: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:n]


def spool_path(directory: str | Path, db: str, index: str, run_id: str, uri: str,
               identity: dict[str, Any]) -> Path:
    """Where run ``run_id`` of ``index`` in database ``db`` spools the object ``uri`` as it is
    now (``identity``): ``<index>+<hash of db>+<hash of the run, uri, identity>.spool`` ('+' is
    in no index name)."""
    return Path(directory) / f"{index}+{_hash(db, n=8)}+{_hash(run_id, uri, identity)}.spool"


def prepare(uri: str, identity: dict[str, Any], db: str, index: str, run_id: str,
            directory: str | Path | None) -> Path | None:
    """Where the plan's pass of run ``run_id`` copies the manifest ``uri``: None for a local
    one, or without a ``directory`` (``spool_manifest`` off). Earlier runs' spools of ``index``
    in ``db`` are removed first (:func:`clear_stale`)."""
    from mmindex.extract.filesystem import is_local

    if directory is None or is_local(uri):
        return None
    clear_stale(directory, db, index)
    return spool_path(directory, db, index, run_id, uri, identity)


def clear_stale(directory: str | Path, db: str, index: str) -> None:
    """Remove the spools of earlier runs of ``index`` in ``db`` (a killed run's): the caller
    holds that index's writer lock, so none of them is in use."""
    d, prefix = Path(directory), f"{index}+{_hash(db, n=8)}+"
    if d.is_dir():
        for p in d.iterdir():
            if p.name.startswith(prefix) and ".spool" in p.name:
                try:
                    p.unlink(missing_ok=True)
                except OSError as exc:  # best effort: a leftover never stops a run
                    log.warning("cannot remove the old spool %s: %s", p, exc)


def remove(spool: dict[str, Any] | None) -> None:
    """Remove a run's spool (``RunPlan.spool``) from this host, if it is here (best effort: a
    committed run never fails for it; the next run of the index removes a leftover)."""
    if spool:
        try:
            Path(spool["path"]).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot remove the spool %s: %s", spool["path"], exc)


def usable(spool: dict[str, Any] | None) -> str | None:
    """The local path of a run's spool when this host holds it whole, else None."""
    if not spool:
        return None
    p = Path(spool["path"])
    try:
        return str(p) if p.is_file() and p.stat().st_size == spool["size"] else None
    except OSError:
        return None


class Tee:
    """A binary file read through, every byte read also written to ``<path>.part``; renamed to
    ``path`` by :meth:`finish` when all ``size`` bytes came through. A failed write (a full disk)
    drops the copy, never the read."""

    def __init__(self, f: Any, path: Path, size: int | None):
        self.f, self.path, self.size, self.n = f, path, size, 0
        self.part = path.with_name(path.name + ".part")
        self.out: Any = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.out = open(self.part, "wb")  # noqa: SIM115 - closed by finish/abort
        except OSError as exc:
            log.warning("cannot spool the manifest to %s (%s): the groups read the store",
                        self.part, exc)

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.n += len(data)
        if self.out is not None and data:
            try:
                self.out.write(data)
            except OSError as exc:
                self._drop(exc)
        return data

    def _drop(self, exc: OSError) -> None:
        log.warning("spooling the manifest to %s failed (%s): the groups read the store",
                    self.part, exc)
        self.abort()

    def finish(self) -> bool:
        """The reader is done: read what it left (a decompressor may stop short), keep the copy
        if it is whole. True when the spool is in place."""
        if self.out is None:
            return False
        while self.read(CHUNK):
            pass
        if self.out is None:
            return False
        try:
            self.out.close()  # a full disk may only say so now
        except OSError as exc:
            self._drop(exc)
            return False
        self.out = None
        if self.size is not None and self.n != self.size:
            log.warning("spooled %d bytes of a %d-byte manifest: dropped", self.n, self.size)
            self.part.unlink(missing_ok=True)
            return False
        os.replace(self.part, self.path)
        return True

    def abort(self) -> None:
        """Drop the partial copy (the pass failed or stopped early); a no-op after finish."""
        if self.out is not None:
            out, self.out = self.out, None
            try:
                out.close()
            except OSError:
                pass  # already failing: the copy is dropped either way
            self.part.unlink(missing_ok=True)


def open_read(stack: ExitStack, fs: Any, path: str, compression: str | None,
              spool: Path | None, size: int | None, **opts: Any) -> tuple[Any, Tee | None]:
    """``fs.open(path, "rb", compression=...)`` on ``stack``, with a :class:`Tee` between the
    store's bytes and the decompressor when ``spool`` is given (the spool holds the bytes as
    stored). Returns the file to read and the tee (None without a spool)."""
    raw = stack.enter_context(fs.open(path, "rb", **opts))
    tee = None
    if spool is not None:
        raw = tee = Tee(raw, spool, size)
        stack.callback(tee.abort)
    if compression is not None:
        from fsspec.compression import compr

        if compression not in compr:
            raise ValueError(f"Compression type {compression} not supported")
        raw = stack.enter_context(compr[compression](raw, mode="rb"))
    return raw, tee
