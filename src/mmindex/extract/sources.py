"""Reading items from a manifest in storage, streamed in chunks.

Formats: ``jsonl`` (``.jsonl``/``.ndjson``), ``csv`` (``.csv``; ``.tsv`` is tab-separated),
``parquet`` (``.parquet``/``.pq``) and ``beir`` (a BEIR ``corpus.jsonl``, or a directory holding
one). Text formats may be compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``). The manifest may be
a local path, a ``file://`` URI or an object-store URI (``s3://bucket/prefix/manifest.jsonl``
with ``storage_options``); media references in it are resolved against its directory.

Memory does not grow with the manifest: rows are read a chunk at a time (Parquet row batches,
line-by-line JSONL/CSV), and ids are remembered as 8-byte hashes for duplicate detection.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from mmindex.errors import ConfigError, MMIndexError, StorageError
from mmindex.extract.fieldmap import BEIR_FIELDS, DEFAULT_FIELDS, FieldMap
from mmindex.extract.filesystem import (
    filesystem_for,
    is_local,
    normalize,
    parent_of,
    storage_error,
)
from mmindex.extract.manifest import RowConverter
from mmindex.extract.readers import (
    BOM,
    MAX_RECORD_BYTES,
    Columns,
    Cursor,
    batched,
    csv_rows,
    jsonl_rows,
    parquet_rows,
)
from mmindex.extract.segments import Segment, Window, take
from mmindex.extract.spool import open_read
from mmindex.items import BadRecord, Item

FORMATS = ("jsonl", "csv", "parquet", "beir")
_COMPRESSION = {"gz": "gzip", "bz2": "bz2", "xz": "lzma", "zst": "zstd"}
_EXT = {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv", "tsv": "csv", "parquet": "parquet",
        "pq": "parquet"}


def _split_name(uri: str) -> tuple[str, str | None]:
    """(extension without compression suffix, fsspec compression name or None)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    parts = name.split(".")
    compression = _COMPRESSION.get(parts[-1]) if len(parts) > 2 else None
    if compression:
        parts = parts[:-1]
    return (parts[-1] if len(parts) > 1 else ""), compression


class Source:
    """A manifest opened for streaming; create with :func:`open_source`.

    Attributes:
        uri: Normalized location (absolute local path or URI).
        format: One of :data:`FORMATS`.
        fields: The :class:`FieldMap` in use, with the format's defaults filled in.
        chunk_rows: Rows per chunk.
        identity: The object's size and version (ETag or mtime), as found when it was opened.
        local: A local copy of a remote manifest to read instead (a run's spool, see
            :mod:`~mmindex.extract.spool`); None: read ``uri``.
    """

    def __init__(self, uri: str, fmt: str, fields: FieldMap, storage_options: dict[str, Any],
                 chunk_rows: int, max_record_bytes: int = MAX_RECORD_BYTES):
        self.uri, self.format, self.chunk_rows = uri, fmt, chunk_rows
        self.max_record_bytes = max_record_bytes
        self.fields = fields.with_defaults(BEIR_FIELDS if fmt == "beir" else DEFAULT_FIELDS)
        self._explicit = fields.explicit_columns() | {self.fields.id}
        self._options = storage_options
        self.identity: dict[str, Any] = {}
        self.local: str | None = None

    def __repr__(self) -> str:
        return f"Source({self.uri!r}, format={self.format!r})"

    def describe(self) -> dict[str, Any]:
        """Lineage record: uri, format and field map (never the storage options' secrets)."""
        return {"uri": self.uri, "format": self.format, "fields": self.fields.to_dict()}

    def spool(self) -> dict[str, Any] | None:
        """The local copy that the plan's pass left (for ``RunPlan.spool``), or None."""
        return {"path": self.local, "size": os.path.getsize(self.local)} if self.local else None

    def iter_chunks(self, segment: Segment | None = None, *, cursor: Cursor | None = None,
                    converter: RowConverter | None = None, spool: Path | None = None
                    ) -> Iterator[list[Item | BadRecord]]:
        """Yield lists of at most ``chunk_rows`` items/bad records, in manifest order.

        Args:
            segment: Read only this group's records, from where it starts (found by
                :func:`~mmindex.extract.segments.scan`); None: the whole manifest.
            cursor, converter: The plan's pass follows the reader's position and the ids.
            spool: Copy the manifest there as it is read (the plan's pass of a remote one);
                once whole, :attr:`local` points at it.

        Raises:
            StorageError: The manifest cannot be read (network, permissions) mid-stream.
            ConfigError: Mapped columns are missing, or the file is not in its format.
        """
        if segment is not None:
            converter = RowConverter(self.fields, parent_of(self.uri), first=segment.first,
                                     dups=set(segment.dups))
        converter = converter or RowConverter(self.fields, parent_of(self.uri))
        batches = self._batches(segment, cursor or Cursor(), spool)
        first = segment is None or segment.first == 0
        while True:
            try:
                batch = next(batches, None)
            except MMIndexError:
                raise
            except Exception as exc:  # anything from the storage/parser layer is systemic
                raise storage_error(exc, "read", self.uri) from exc
            if batch is None:
                return
            if isinstance(batch, Columns):
                self._check_columns(set(batch.names))
                continue
            if first and self.format in ("jsonl", "beir"):
                self._check_first_batch(batch)
            first = False
            yield converter.convert_many(batch)

    def _check_columns(self, names: set[str]) -> None:
        missing = sorted(self._explicit - names)
        if missing:
            raise ConfigError(
                f"{self.uri} has no {', '.join(map(repr, missing))} in its columns "
                f"({', '.join(sorted(names)[:20])})\nHelp: map the columns with --field, e.g. "
                "--field id=item_id --field text=question,passage."
            )

    def _check_first_batch(self, batch: list[tuple[str, Any]]) -> None:
        rows = [row for _, row in batch if not isinstance(row, BadRecord)]
        if not rows:
            raise ConfigError(
                f"no line of the first chunk of {self.uri} is a JSON object\n"
                "Help: check the file and --format (jsonl, csv, parquet, beir)."
            )
        if not any(self.fields.id in row for row in rows):
            raise ConfigError(
                f"no row in the first {len(rows)} rows of {self.uri} has the id column "
                f"{self.fields.id!r}\nHelp: name the id column with --field id=COLUMN."
            )

    def _batches(self, seg: Segment | None, cursor: Cursor, spool: Path | None = None
                 ) -> Iterator[Columns | list[tuple[str, Any]]]:
        """Reader output: maybe a :class:`Columns`, then lists of ``(where, row | BadRecord)``."""
        if spool is not None and self.format == "parquet":
            self._copy(spool)  # its reader jumps about the file: copied first, then read here
            spool = None
        where = self.local or self.uri
        fs, path = filesystem_for(where, self._options)
        # a group reads its own byte range: no read-ahead past it (s3fs reads 50 MB ahead)
        opts = {"cache_type": "none"} if seg and not is_local(where) else {}
        if self.format == "parquet":
            rows = parquet_rows(fs, path, self.fields, self.chunk_rows, seg.first if seg else 0,
                                seg.count if seg else None, **opts)
            yield from take(rows, seg.count) if seg else rows
            return
        ext, compression = _split_name(self.uri)
        with ExitStack() as stack:  # the plan's pass of a remote manifest: its bytes spooled
            raw, tee = open_read(stack, fs, path, compression, spool, self.identity.get("size"),
                                 **opts)
            f = Window(raw, forward_only=compression is not None)
            if seg is not None:
                cursor.offset, cursor.line = seg.offset, seg.line
            if self.format == "csv":
                seek = None
                if seg is not None and seg.offset:
                    f.limit(seg.header_end)  # the header first, then the group's bytes

                    def seek(offset: int) -> None:
                        f.seek(offset, seg.end)
                elif seg is not None:
                    f.limit(seg.end)
                rows = csv_rows(f, "\t" if ext == "tsv" else ",", self.fields, cursor, seek)
            else:
                if seg is not None:
                    f.seek(seg.offset, seg.end)
                rows = jsonl_rows(f, self.max_record_bytes, cursor)
            out = batched(rows, self.chunk_rows)
            yield from take(out, seg.count) if seg else out
            if tee is not None and tee.finish():
                self.local = str(spool)

    def _copy(self, spool: Path) -> None:
        fs, path = filesystem_for(self.uri, self._options)
        with ExitStack() as stack:
            tee = open_read(stack, fs, path, None, spool, self.identity.get("size"))[1]
            if tee is not None and tee.finish():
                self.local = str(spool)


def _detect(uri: str, fs: Any, path: str) -> str:
    ext, compression = _split_name(uri)
    fmt = _EXT.get(ext)
    if fmt is None:
        raise ConfigError(
            f"cannot tell the format of {uri} from its name\n"
            f"Help: pass format= / --format, one of {', '.join(FORMATS)}."
        )
    if fmt == "jsonl" and uri.rstrip("/").rsplit("/", 1)[-1].startswith("corpus."):
        # small blocks: s3fs would otherwise fetch 50 MB ahead for the first line
        with fs.open(path, "rb", compression=compression, block_size=1 << 16) as f:
            first = f.readline().removeprefix(BOM)
        try:
            if "_id" in json.loads(first or b"{}"):
                return "beir"
        except (ValueError, TypeError):
            pass
    return fmt


def open_source(uri: str, *, format: str | None = None, fields: FieldMap | None = None,
                storage_options: dict[str, Any] | None = None, chunk_rows: int = 4096,
                max_record_bytes: int = MAX_RECORD_BYTES) -> Source:
    """Open a manifest for streaming.

    Args:
        uri: Local path, ``file://`` or object-store URI of the manifest (or of a BEIR dataset
            directory holding ``corpus.jsonl``).
        format: One of :data:`FORMATS`; detected from the name when None. A file named
            ``corpus.jsonl`` whose first record has ``_id`` is read as ``beir``.
        fields: Column mapping; unset fields take the format's defaults
            (:data:`~mmindex.extract.fieldmap.DEFAULT_FIELDS`,
            :data:`~mmindex.extract.fieldmap.BEIR_FIELDS`).
        storage_options: fsspec options for object stores (``endpoint_url``, ``key``, ``secret``).
        chunk_rows: Rows per yielded chunk.
        max_record_bytes: A longer JSONL line is a bad record, skipped without being read whole.

    Raises:
        StorageError: The manifest does not exist or the store cannot be reached.
        ConfigError: Unknown format or bad arguments.
    """
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}\nHelp: use one of {', '.join(FORMATS)}.")
    if chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be >= 1, got {chunk_rows}\nHelp: set read_chunk_rows.")
    options = dict(storage_options or {})
    uri = normalize(uri)
    fs, path = filesystem_for(uri, options)
    try:
        info = fs.info(path)
        if info.get("type") == "directory" and format in (None, "beir"):
            uri = uri.rstrip("/") + "/corpus.jsonl"
            fs, path = filesystem_for(uri, options)
            info = fs.info(path)
            format = "beir"
        fmt = format or _detect(uri, fs, path)
    except FileNotFoundError as exc:
        raise StorageError(
            f"manifest not found: {uri}\nHelp: check the path/URI (and for a BEIR directory "
            "that it holds corpus.jsonl); relative paths are taken from the working directory.",
            transient=False,  # a typo does not fix itself: fail in seconds, no retries
        ) from exc
    except MMIndexError:
        raise
    except Exception as exc:
        raise storage_error(exc, "open the manifest", uri) from exc
    if info.get("type") == "directory":
        raise ConfigError(f"{uri} is a directory\nHelp: point at the manifest file itself.")
    src = Source(uri, fmt, fields or FieldMap(), options, chunk_rows, max_record_bytes)
    version = next((info[k] for k in ("ETag", "etag", "mtime", "LastModified", "last_modified")
                    if info.get(k) is not None), None)
    src.identity = {"size": info.get("size"), "version": version}
    return src
