"""One writer per index, the Prefect way: a global concurrency limit of 1 per index.

The limit ``mmindex-writer-<index>`` is created on first use (idempotent), then held for the
whole run; a second run of the same index waits for the slot (up to ``wait_s``) and then fails
with a clear message. Inside, the library's file lock (``mmindex.index.locking``) guards local
databases even against runs started outside Prefect.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from mmindex.errors import IndexBusyError
from mmindex.index import writer_lock
from tasks.artifacts import artifact_key


def limit_name(index: str) -> str:
    return artifact_key("mmindex-writer", index)


def ensure_limit(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1))


@contextlib.contextmanager
def index_writer(index: str, db: str, holder: str, wait_s: float) -> Iterator[None]:
    """Hold the index's concurrency slot (and its file lock) for the duration of a run."""
    from prefect import get_run_logger

    name = limit_name(index)
    ensure_limit(name)
    get_run_logger().info("waiting for the writer slot %s (up to %.0f s)", name, wait_s)
    try:
        with concurrency(name, occupy=1, timeout_seconds=wait_s, strict=True):
            get_run_logger().info("holding the writer slot %s", name)
            with writer_lock(db, index, holder, wait_s=60):
                yield
    except TimeoutError as exc:
        raise IndexBusyError(
            f"index {index!r}: another run held its writer slot ({name}) for over {wait_s:.0f}s. "
            "Help: look at the running flow in the UI; raise writer_wait_s to wait longer."
        ) from exc
