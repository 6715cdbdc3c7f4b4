"""Format readers: a manifest file object in, rows (plain dicts) out, streamed.

Each reader yields ``(where, row)`` pairs, where ``where`` ("line 12", "row 7") locates the row
for messages and ``row`` is a dict or, for a line that cannot be parsed, a :class:`BadRecord`.
Readers of formats with a header or schema first yield :class:`Columns`. A row-level problem
never raises: it becomes a bad record and reading goes on.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - the stdlib parser is the fallback
    _orjson = None

from mmindex.errors import ConfigError
from mmindex.extract.fieldmap import FieldMap
from mmindex.items import BadRecord

BOM = b"\xef\xbb\xbf"
_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


@dataclass
class Cursor:
    """Where a text reader stands, updated as it yields each row: the byte offset just past the
    row's last line, the number of that line, and (CSV) the bytes of the header. The plan's one
    pass reads it at group boundaries, so a group can start there (:mod:`~.segments`)."""

    offset: int = 0
    line: int = 0
    header_end: int = 0


@dataclass(frozen=True)
class Columns:
    """The column names of a manifest with a header or schema; yielded before any row."""

    names: list[str]


def batched(rows: Iterator[Any], n: int) -> Iterator[Any]:
    """Group reader rows into lists of ``n``; a :class:`Columns` passes through alone."""
    batch: list[Any] = []
    for row in rows:
        if isinstance(row, Columns):
            yield row
            continue
        batch.append(row)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _loads(line: bytes) -> Any:
    """Parse one JSON line: orjson (a Prefect dependency) when present, else the stdlib."""
    if _orjson is not None:
        try:
            return _orjson.loads(line)
        except _orjson.JSONDecodeError:
            pass  # the stdlib also takes ints over 64 bits and NaN; it decides what is bad
    return json.loads(line.decode("utf-8"))


MAX_RECORD_BYTES = 16 * 2**20


def _lines(f: Any, limit: int, chunk: int = 1 << 20, cursor: Cursor | None = None
           ) -> Iterator[bytes | None]:
    """The lines of ``f``, never holding more than ``limit`` bytes of one line plus a chunk; an
    over-long line is skipped as it streams past and yields None (a 50 MB line once took 6 GiB
    when parsed whole). Reads fixed-size chunks: fsspec's files have no ``readline(size)``.
    ``cursor.offset`` (counted from its value at the start) is kept past each yielded line."""
    buf, skipping = b"", False
    cur = cursor or Cursor()
    read = cur.offset  # bytes of the file before the end of buf
    while True:
        data = f.read(chunk)
        if not data:
            cur.offset = read
            if buf and not skipping:
                yield buf
            elif skipping:
                yield None
            return
        buf += data
        read += len(data)
        while True:
            cut = buf.find(b"\n")
            if cut < 0:
                if len(buf) > limit:  # no end in sight: drop what we hold, remember the line
                    buf, skipping = b"", True
                break
            line, buf = buf[:cut + 1], buf[cut + 1:]
            cur.offset = read - len(buf)
            if skipping or len(line) > limit + 1:
                skipping = False
                yield None
            else:
                yield line


def jsonl_rows(f: Any, max_record_bytes: int = MAX_RECORD_BYTES, cursor: Cursor | None = None
               ) -> Iterator[tuple[str, dict[str, Any] | BadRecord]]:
    """``cursor`` (if given) says where ``f`` stands (offset, lines before) and follows the rows."""
    cur = cursor or Cursor()
    for n, line in enumerate(_lines(f, max_record_bytes, cursor=cur), cur.line + 1):
        cur.line = n
        if line is None:
            yield "", BadRecord("bad_record", f"line {n}: over {max_record_bytes:,} bytes "
                                "(max_record_bytes); not read")
            continue
        line = line.removeprefix(BOM).strip() if n == 1 else line.strip()
        if not line:
            continue
        try:
            obj = _loads(line)
        except ValueError as exc:  # includes UnicodeDecodeError
            raw = {"line": line[:200].decode("utf-8", "replace")}
            yield "", BadRecord("bad_record", f"line {n}: not valid JSON ({exc})", raw=raw)
            continue
        if not isinstance(obj, dict):
            msg = f"line {n}: a JSON {type(obj).__name__}, not an object"
            yield "", BadRecord("bad_record", msg, raw={"line": repr(obj)[:200]})
            continue
        yield f"line {n}", obj


def _infer(value: str) -> Any:
    """A CSV metadata cell as int/float/bool when it is written exactly like one."""
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    low = value.lower()
    return {"true": True, "false": False}.get(low, value)


def csv_rows(f: Any, delimiter: str, fields: FieldMap, cursor: Cursor | None = None,
             seek: Any = None) -> Iterator[Any]:
    """``seek(offset)``: with a ``cursor`` past the header, read the header from the start of
    ``f``, then move to ``cursor.offset`` (a group's first row) and read on from there."""
    bad_lines: set[int] = set()
    cur = cursor or Cursor()
    start_at = (cur.offset, cur.line) if seek is not None and cur.offset else None
    cur.offset = cur.line = 0

    def lines() -> Iterator[str]:
        # quoted cells may hold newlines: the csv module asks for lines until a record ends,
        # so after each record the cursor is exactly past its last line
        for raw in _lines(f, sys.maxsize, cursor=cur):
            cur.line += 1
            raw = raw.removeprefix(BOM) if cur.line == 1 else raw  # type: ignore[union-attr]
            try:
                yield raw.decode("utf-8")  # type: ignore[union-attr]
            except UnicodeDecodeError:  # quarantine the row, keep reading the file
                bad_lines.add(cur.line)
                yield raw.decode("utf-8", "replace")  # type: ignore[union-attr]

    # Long passages exceed the csv module's default 128 KiB field limit.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    reader = csv.reader(lines(), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise ConfigError("the CSV manifest is empty or has no header row\nHelp: add a header.")
    cur.header_end = cur.offset
    if start_at is not None:
        cur.offset, cur.line = start_at
        seek(cur.offset)
        reader = csv.reader(lines(), delimiter=delimiter)
    yield Columns(header)
    used = fields.used_columns()
    prev = cur.line
    for rec in reader:
        start, end, prev = prev + 1, cur.line, cur.line
        where = f"line {start}"
        if not any(rec):
            continue
        pairs = zip(header, rec, strict=False)  # a short/long row is reported below
        row = {k: v if k in used or v == "" else _infer(v) for k, v in pairs}
        row = {k: None if v == "" else v for k, v in row.items()}
        if bad_lines.intersection(range(start, end + 1)):
            msg = f"{where}: not valid UTF-8"
        elif len(rec) != len(header):
            msg = f"{where}: {len(rec)} fields, the header has {len(header)}"
        else:
            yield where, row
            continue
        yield "", BadRecord("bad_record", msg, id=row.get(fields.id), raw={"fields": rec[:32]})


def parquet_rows(fs: Any, path: str, fields: FieldMap, chunk_rows: int, first: int = 0,
                 count: int | None = None, **open_opts: Any) -> Iterator[Any]:
    """``first``: rows to pass over; ``count``: rows wanted (None: to the end). Only the row
    groups holding them are read. ``open_opts``: for ``fs.open`` (a group's
    ``cache_type="none"``: no read-ahead)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with fs.open(path, "rb", **open_opts) as f:
        try:  # a group from a store: the footer read exactly, not pyarrow's last 64 KiB
            pf = pq.ParquetFile(f, metadata=_parquet_footer(f) if open_opts else None)
        except pa.ArrowInvalid as exc:
            raise ConfigError(
                f"not a readable Parquet file: {exc}\nHelp: check the file and --format."
            ) from exc
        # pandas' index columns are not data; read only the columns the map needs.
        names = [n for n in pf.schema_arrow.names if not n.startswith("__index_level_")]
        yield Columns(names)
        if fields.metadata is not None:
            names = [n for n in names if n in fields.used_columns() | set(fields.metadata)]
        n, skip, groups = 0, first, list(range(pf.num_row_groups))
        while groups and skip >= (size := pf.metadata.row_group(groups[0]).num_rows):
            skip, n, groups = skip - size, n + size, groups[1:]
        if count is not None:  # pyarrow reads the row groups it is given ahead of the batches
            need, keep = skip + count, 0
            while keep < len(groups) and need > 0:
                need, keep = need - pf.metadata.row_group(groups[keep]).num_rows, keep + 1
            groups = groups[:keep]
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=names, row_groups=groups):
            if skip:  # the rows of the first row group before ``first``
                cut = min(skip, batch.num_rows)
                batch, n, skip = batch.slice(cut), n + cut, skip - cut
            rows = batch.to_pylist()
            if rows:
                yield [(f"row {n + k}", row) for k, row in enumerate(rows, 1)]
            n += len(rows)


def _parquet_footer(f: Any) -> Any:
    """A Parquet file's metadata, read exactly: its length from the last 8 bytes, then it."""
    import io

    import pyarrow.parquet as pq

    f.seek(-8, 2)
    tail = f.read(8)
    n = int.from_bytes(tail[:4], "little")
    f.seek(-8 - n, 2)
    return pq.read_metadata(io.BytesIO(f.read(n) + tail))
