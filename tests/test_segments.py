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


def _write(path: Path, rows: list[dict], row_group_size: int = 3) -> Path:
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
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
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


@pytest.fixture
def fetched(monkeypatch) -> list[int]:
    """The bytes of every ranged read s3fs makes (appended per read)."""
    import s3fs.core

    out: list[int] = []
    real = s3fs.core.S3File._fetch_range

    def counting(self, start, end):
        data = real(self, start, end)
        out.append(len(data))
        return data

    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", counting)
    return out


def _s3_manifest(s3_server: S3Server, bucket: str, tmp_path: Path, name: str
                 ) -> tuple[str, bytes]:
    rows = [{"id": f"r{k}", "text": f"row {k} " * 20} for k in range(3000)]
    rows[2500]["id"] = "r3"  # a duplicate 25 groups after its first row
    data = _write(tmp_path / name, rows, row_group_size=100).read_bytes()
    return s3_server.put(f"{bucket}/{name}", data), data


@pytest.mark.parametrize("name", ["m.jsonl", "m.csv.gz", "m.parquet"])
def test_a_whole_run_from_s3_reads_the_manifest_once(s3_server: S3Server, s3_bucket: str,
                                                     tmp_path: Path, fetched: list[int],
                                                     name: str) -> None:
    uri, data = _s3_manifest(s3_server, s3_bucket, tmp_path, name)
    spool = tmp_path / "cache" / "spool"
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache",
                 read_chunk_rows=100, group_items=100, storage_options=s3_server.storage_options,
                 deletion_policy="delete")
    r = run_embed(uri, "items", s)
    # plan, 30 groups, the delete policy: the store's bytes read once (before: 2x; 31x before
    # the groups had offsets)
    assert len(data) <= sum(fetched) <= 1.1 * len(data)
    assert r.embedded == 2999 and r.quarantined == 1 and r.rows == 2999  # the repeated id
    assert list(spool.glob("*")) == []  # the run's copy: gone

    # the manifest loses its last 1,000 rows: they are deleted, the store read once
    data = _write(tmp_path / f"s.{name}", [{"id": f"r{k}", "text": f"row {k}"}
                                           for k in range(2000)]).read_bytes()
    uri = s3_server.put(f"{s3_bucket}/{name}", data)
    fetched.clear()
    r = run_embed(uri, "items", s)
    assert r.deleted == 999 and r.rows == 2000 and sum(fetched) <= 1.1 * len(data)


@pytest.mark.parametrize("name", ["m.jsonl", "m.parquet"])
def test_groups_on_another_host_read_their_own_bytes_from_the_store(
        s3_server: S3Server, s3_bucket: str, tmp_path: Path, fetched: list[int], name: str
) -> None:
    from mmindex.pipeline import commit_run, embed_groups

    uri, data = _s3_manifest(s3_server, s3_bucket, tmp_path, name)
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache",
                 read_chunk_rows=100, group_items=100, storage_options=s3_server.storage_options)
    plan = plan_run(uri, "items", s)
    planned = sum(fetched)
    assert plan.spool is not None and planned <= 1.1 * len(data)
    Path(plan.spool["path"]).unlink()  # not on this host (a Ray actor on another node)
    fetched.clear()
    r = commit_run(plan, embed_groups(plan))
    # each group its own range; from Parquet its row groups and the footer (read exactly)
    footer = 8 + int.from_bytes(data[-8:-4], "little") if name.endswith("parquet") else 0
    assert len(data) <= sum(fetched) <= 1.1 * len(data) + len(plan.groups) * footer
    assert r.embedded == 2999 and r.quarantined == 1 and r.rows == 2999


def test_a_killed_or_failed_run_leaves_no_copy(s3_server: S3Server, s3_bucket: str,
                                               tmp_path: Path) -> None:
    uri, data = _s3_manifest(s3_server, s3_bucket, tmp_path, "m.jsonl")
    spool = tmp_path / "cache" / "spool"
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache",
                 storage_options=s3_server.storage_options)
    plan_run(uri, "other", s)  # another index's run, going on: its copy stays
    plan_run(uri, "items", s.with_overrides(db=str(tmp_path / "db2")))  # and another db's
    plan_run(uri, "items", s)  # a run killed after its plan: its copy stays behind
    assert [p.read_bytes() for p in spool.iterdir()] == [data] * 3
    copies: list[bool] = []

    def failing(plan, progress):
        copies.append(Path(plan.spool["path"]).is_file())
        raise RuntimeError("the groups failed")

    with pytest.raises(RuntimeError):
        run_embed(uri, "items", s, executor=failing)
    # the next run removed the killed one's copy, its own when it failed
    assert copies == [True] and sorted(p.name.split("+")[0] for p in spool.iterdir()) == [
        "items", "other"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a full disk)")
def test_a_copy_that_cannot_be_written_leaves_the_run_reading_the_store(
        s3_server: S3Server, s3_bucket: str, tmp_path: Path, fetched: list[int],
        monkeypatch, caplog) -> None:
    from mmindex.extract import spool

    monkeypatch.setattr(spool, "clear_stale", lambda *a: None)  # it would remove the trap

    uri, data = _s3_manifest(s3_server, s3_bucket, tmp_path, "m.jsonl")
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache",
                 read_chunk_rows=100, group_items=100, storage_options=s3_server.storage_options)
    src = open_source(uri, storage_options=s3_server.storage_options)
    path = spool.spool_path(tmp_path / "cache" / "spool", s.db, "items", "run1", uri,
                            src.identity)
    path.parent.mkdir(parents=True)
    path.with_name(path.name + ".part").symlink_to("/dev/full")  # the disk fills up
    fetched.clear()
    r = run_embed(uri, "items", s, run_id="run1")
    assert r.embedded == 2999 and r.rows == 2999  # the run does not fail: it reads the store
    assert 1.9 * len(data) <= sum(fetched) <= 2.1 * len(data)
    assert list(path.parent.iterdir()) == [] and "No space left" in caplog.text
