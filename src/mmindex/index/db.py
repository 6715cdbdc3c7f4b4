"""The one way to open a database: settings in, a LanceDB connection with its storage options out.

Every command, flow and library entry point opens the database through :func:`connect`, so an
option given once in settings (``db``, ``db_storage_options``: an object store's endpoint, region,
credentials) reaches every reader and writer. Where pylance is needed (index-only optimisation,
cleanup that skips tagged versions) it is reached through the table's public ``to_lance()``, which
carries the same options.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mmindex.errors import MMIndexError, StorageError

if TYPE_CHECKING:
    from mmindex.config import Settings


def connect(settings: Settings) -> Any:
    """Open the LanceDB database named by ``settings.db`` with ``settings.db_storage_options``.

    Raises:
        StorageError: the database cannot be opened (bad URI, unreachable store, credentials).
    """
    from mmindex.index.lazyclient import defer_rest_client

    defer_rest_client()  # ~1 s of CPU less to import lancedb (index/lazyclient.py)
    import lancedb

    uri = settings.db
    try:
        return lancedb.connect(uri, storage_options=settings.lance_options() or None)
    except Exception as exc:  # lancedb raises plain OSError/ValueError/RuntimeError here
        raise StorageError(
            f"cannot open LanceDB at {uri}: {exc}. Help: check the --db URI and its storage "
            "options (db_storage_options: endpoint, region, credentials)."
        ) from exc


@contextlib.contextmanager
def storage_guard(action: str, where: str) -> Iterator[None]:
    """Turn a failure of the store while doing ``action`` into a :class:`StorageError` with a
    Help line (retried only when transient): Lance reports a full disk, a read-only directory or
    a lost connection as a bare OSError/RuntimeError with a Rust message."""
    try:
        yield
    except MMIndexError:
        raise
    except Exception as exc:
        from mmindex.extract.filesystem import storage_error

        raise storage_error(exc, action, where) from exc
