"""Groups start where they begin: the plan's one pass notes each group's offset, and a group
reads its own rows only (issue 23, item 9). Before, group g parsed every row before it."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmindex.config import Settings
from mmindex.extract import readers
from mmindex.extract.segments import scan
from mmindex.extract.sources import open_source
from mmindex.items import BadRecord
from mmindex.pipeline import plan_run, run_embed

if TYPE_CHECKING:
    from s3server import S3Server

pytest_plugins = ["s3server"]


def _rows(n: int) -> list[dict]:
    rows = [{"id": f"r{k}", "text": f"row {k}\nsecond line, \"quoted\", comma", "n": k}
            for k in range(n)]
    rows[7]["id"] = "r2"  # a duplicate in a later group than its first row
    rows[11]["id"] = ""  # a bad record (no id)
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    name = path.name
    if ".jsonl" in name:
        data = "".join(json.dumps(r) + "\n" + ("\n" if k == 4 else "")  # a blank line too
                       for k, r in enumerate(rows)).encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    elif ".csv" in name or ".tsv" in name:
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", newline="", encoding="utf-8-sig") as f:  # a BOM as well
            w = csv.DictWriter(f, fieldnames=list(rows[0]),
                               delimiter="\t" if ".tsv" in name else ",")
            w.writeheader()
            w.writerows(rows)  # the text cells hold newlines: quoted
        data = tmp.read_bytes()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=3)
    return path


def _key(x) -> tuple:
    return (type(x).__name__, x.id, getattr(x, "text", None), getattr(x, "message", None))


@pytest.mark.parametrize("name", ["m.jsonl", "m.jsonl.gz", "m.csv", "m.tsv", "m.csv.gz",
                                  "m.parquet"])
def test_each_group_read_from_its_offset_gives_the_whole_manifest(tmp_path: Path, name: str):
    src = open_source(str(_write(tmp_path / name, _rows(23))), chunk_rows=2)
    whole = [x for c in src.iter_chunks() for x in c]
    found = scan(src, 2, ids=True)  # groups of 4 records
    assert found.total == len(whole) == 23 and len(found.segments) == 6
    apart = [x for seg in found.segments for c in src.iter_chunks(seg) for x in c]
    assert [_key(x) for x in apart] == [_key(x) for x in whole]
    dup = apart[7]  # found by the plan's pass: its group never read row 2
    assert isinstance(dup, BadRecord) and "duplicate id 'r2'" in dup.message
    assert sum(isinstance(x, BadRecord) for x in apart) == 2
    assert found.ids is not None and len(found.ids) == 22  # the id-less row has none
    if "parquet" not in name and ".gz" not in name:  # plain text: groups jump to their offset
        assert found.segments[3].offset > 0 and found.segments[-1].end is None


def test_twenty_groups_parse_the_manifest_twice_not_eleven_times(tmp_path, monkeypatch):
    calls = []
    real = readers._loads
    monkeypatch.setattr(readers, "_loads", lambda line: calls.append(1) or real(line))
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"id": f"r{k}", "text": f"t {k}"}) + "\n"
                            for k in range(2000)))
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache",
                 read_chunk_rows=50, group_items=100, deletion_policy="delete")
    r = run_embed(str(path), "items", s)
    assert r.embedded == 2000 and r.rows == 2000
    # the plan's pass + each row once in its group (the old way: 1 + 10.5 + 1 for deletes)
    assert len(calls) == 2 * 2000


def test_a_run_from_s3_reads_the_manifest_twice_in_all(s3_server: S3Server, s3_bucket: str,
                                                        tmp_path: Path, monkeypatch) -> None:
    import s3fs.core

    fetched: list[int] = []
    real = s3fs.core.S3File._fetch_range

    def counting(self, start, end):
        data = real(self, start, end)
        fetched.append(len(data))
        return data

    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", counting)
    data = "".join(json.dumps({"id": f"r{k}", "text": f"row {k} " * 20}) + "\n"
                   for k in range(3000)).encode()
    uri = s3_server.put(f"{s3_bucket}/m.jsonl", data)
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache",
                 read_chunk_rows=100, group_items=100, storage_options=s3_server.storage_options)
    plan = plan_run(uri, "items", s)
    planned = sum(fetched)
    assert len(plan.groups) == 30 and planned >= len(data)
    r = run_embed(uri, "items", s.with_overrides(deletion_policy="delete"))
    assert r.embedded == 3000
    groups = sum(fetched) - 2 * planned  # the run planned again, then ran its 30 groups
    assert len(data) <= groups <= 1.1 * len(data)
