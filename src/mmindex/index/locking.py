"""One writer per index: an advisory lock file beside a local LanceDB directory.

For a local database the lock is ``<db>/.locks/<index>.lock`` (``fcntl.flock``, released by
the kernel if the process dies, so a crashed run never leaves a stale lock). For object-store
databases no file lock is possible; there the Prefect flow's global concurrency limit
(``mmindex-writer-<index>``) is the guard.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from mmindex.errors import IndexBusyError
from mmindex.extract.filesystem import is_local, normalize
from mmindex.index.db import storage_guard


@contextlib.contextmanager
def writer_lock(db_uri: str, index: str, holder: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the write lock of ``index`` (or raise IndexBusyError after ``wait_s`` seconds)."""
    if not is_local(db_uri):
        yield
        return
    root = Path(normalize(db_uri))
    path = root / ".locks" / f"{index}.lock"
    with storage_guard("take the writer lock", str(path)):  # a read-only or misplaced --db
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    other = os.pread(fd, 200, 0).decode(errors="replace").strip()
                    raise IndexBusyError(
                        f"index {index!r} is being written by another run ({other or 'unknown'}). "
                        "Help: wait for it to finish; runs of one index never overlap."
                    ) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"run {holder}, pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
