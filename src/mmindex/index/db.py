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


def connect(settings: Settings, *, create: bool = True) -> Any:
    """Open the LanceDB database named by ``settings.db`` with ``settings.db_storage_options``.

    ``create=False`` (readers): a local database that does not exist is an error, not a new
    empty folder (LanceDB creates the folder of a local URI it connects to).

    Raises:
        StorageError: the database cannot be opened (bad URI, unreachable store, credentials).
        IndexNotFoundError: ``create=False`` and there is no database at a local ``db``.
    """
    import os

    uri = settings.db
    if not create and "://" not in uri and not os.path.isdir(os.path.expanduser(uri)):
        from mmindex.errors import IndexNotFoundError

        raise IndexNotFoundError(
            f"no database at {os.path.abspath(os.path.expanduser(uri))}. Help: build one with "
            "`mmindex embed` (bash scripts/quickstart.sh for the sample), or point --db / "
            "MMINDEX_DB / db in mmindex.toml at it (a relative db in mmindex.toml is relative "
            "to that file's folder).")
    from mmindex.index.lazyclient import import_lancedb

    lancedb = import_lancedb()  # a second less to import it (index/lazyclient.py)

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
