"""The staging table of one index table: where a run's embedded rows wait for the commit.

A run never writes the index table batch by batch. Batches are appended here (appends are safe and
cheap); the run commits once at the end (:mod:`mmindex.index.commit`). A restarted run finds the
staging table and reuses the rows whose content hash still matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from mmindex.index import multivector
from mmindex.index.db import storage_guard
from mmindex.index.tables import (
    IDS_PREFIX,
    STAGING_PREFIX,
    delete_ids,
    hash_batches,
    index_schema,
    table_exists,
)


class Staging:
    """The staging table of one index table: where a run's embedded rows wait for the commit."""

    def __init__(self, db: Any, table: str, dims: int, multivector_dims: int | None = None, *,
                 parts: bool = False):
        self.db, self.table, self.dims, self.parts = db, table, dims, parts
        self.multivector_dims = multivector_dims
        #: the index table's row schema (plus the part vector columns when ``parts``, and
        #: ``multivector`` for a multi-vector model)
        self.schema = multivector.with_column(index_schema(dims, parts), multivector_dims)
        self.name = STAGING_PREFIX + table
        self._tbl = db.open_table(self.name) if table_exists(db, self.name) else None

    def hashes(self) -> Iterator[pa.RecordBatch]:
        """Rows staged by an earlier, interrupted run (reused when their hash still matches)."""
        if self._tbl is None:
            return iter(())
        if self._tbl.schema != self.schema:  # staged by another dims, model kind or settings
            self.drop()
            return iter(())
        return hash_batches(self._tbl)

    def ensure(self) -> None:
        """Create the table now (if missing): the Ray executor does, before its actors append
        to it from several processes at once (concurrent appends and deletes of different rows
        are safe in Lance; concurrent creates are not)."""
        self.hashes()  # drops a table of another schema
        if self._tbl is None:
            with storage_guard("create", f"{self.db.uri}/{self.name}"):
                self._tbl = self.db.create_table(self.name, schema=self.schema, exist_ok=True)

    def append(self, rows: pa.Table, replace_ids: list[str] | None = None) -> None:
        """Append rows; ``replace_ids`` are stale staged rows of the same ids, removed first.

        Raises:
            StorageError: the store refused the write (full disk, read-only, unreachable).
        """
        with storage_guard("write staged rows to", f"{self.db.uri}/{self.name}"):
            if self._tbl is None:
                self._tbl = self.db.create_table(self.name, schema=self.schema)
            if replace_ids:
                delete_ids(self._tbl, replace_ids)
            # null part vectors (an item without that part) are meant: keep them null
            self._tbl.add(rows.cast(self.schema), **({"on_bad_vectors": "null"}
                                                     if self.parts else {}))

    def remove(self, ids: list[str]) -> None:
        """Drop staged rows that must not reach the index (their item reverted or vanished)."""
        if ids and self._tbl is not None:
            with storage_guard("remove staged rows from", f"{self.db.uri}/{self.name}"):
                delete_ids(self._tbl, ids)

    def count(self) -> int:
        return 0 if self._tbl is None else self._tbl.count_rows()

    def batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """Some columns of the staged rows, streamed (none when nothing is staged)."""
        if self._tbl is None:
            return iter(())
        return iter(self._tbl.search().select(columns).limit(None).to_batches(8192))

    def reader(self) -> pa.RecordBatchReader:
        return self._tbl.search().limit(None).to_batches(8192)

    def drop(self) -> None:
        for name in (self.name, self.ids_name):
            if table_exists(self.db, name):
                self.db.drop_table(name)
        self._tbl = None

    @property
    def ids_name(self) -> str:
        return IDS_PREFIX + self.table

    def save_ids(self, ids: pa.Array) -> None:
        """Every id the source holds, noted by the plan's one pass over it (``deletion_policy
        =delete``): the commit deletes the rows of the others without reading the source again."""
        with storage_guard("write the source's ids to", f"{self.db.uri}/{self.ids_name}"):
            if table_exists(self.db, self.ids_name):  # an earlier plan's, never committed
                self.db.drop_table(self.ids_name)
            self.db.create_table(self.ids_name, pa.table({"id": pa.array(ids, pa.string())}))

    def saved_ids(self) -> pa.Array | None:
        """The ids :meth:`save_ids` noted (None: this run's plan noted none)."""
        if not table_exists(self.db, self.ids_name):
            return None
        return self.db.open_table(self.ids_name).to_arrow().column("id").combine_chunks()
