"""Fault injection: SIGKILL of the embed process at each stage of a run, then a re-run; a full
disk, a read-only disk, an unreachable object store; permanent errors never retried.

After any kill: the previous production version stays readable, the re-run ends with every id
exactly once, and the killed run is marked ``crashed``. (Bad input of every kind mixed with good
items: tests/test_media_access.py and tests/test_pipeline.py; two writers and maintenance during
a run: tests/test_pipeline.py, tests/test_promotion.py, tests/test_server_e2e.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mmindex
from mmindex import index as ix
from mmindex.config import Settings
from mmindex.errors import StorageError, is_transient
from mmindex.pipeline import run_embed

pytestmark = pytest.mark.fault
pytest_plugins = ["s3server"]  # closed_port

# The child embeds with the hash model after wrapping one library function so that the process
# kills itself (SIGKILL: no except, no finally, no hook runs) at the chosen point.
KILL_AT = {
    # the 3rd batch reaches the model: two batches are staged, the index is untouched
    "staging": ("mmindex.backends.fake", "HashEmbedder", "forward", 3),
    # the first run's table exists with one piece appended, the second piece never lands
    "first-write": ("mmindex.index.commit", None, "_pieces", 2),
    # the index's merge_insert is about to run
    "merge": ("lancedb.table", "LanceMergeInsertBuilder", "execute", 1),
    # the merge is committed; the indexes are being built; the run is not recorded committed
    "after-merge": ("mmindex.index.commit", None, "build_indexes", 1),
}

CHILD = """
import importlib, inspect, json, os, signal, sys
module, owner, name, nth = json.loads(sys.argv[1])
target = importlib.import_module(module)
holder = getattr(target, owner) if owner else target
original = getattr(holder, name)
calls = {"n": 0}
def tick():
    calls["n"] += 1
    if calls["n"] >= nth:
        os.kill(os.getpid(), signal.SIGKILL)
if inspect.isgeneratorfunction(original):  # count what it yields (pieces), not calls
    def killing(*args, **kwargs):
        for value in original(*args, **kwargs):
            tick()
            yield value
else:
    def killing(*args, **kwargs):
        tick()
        return original(*args, **kwargs)
setattr(holder, name, killing)
from mmindex.config import Settings
from mmindex.index import commit
from mmindex.pipeline import run_embed
commit.FIRST_WRITE_ROWS = 8  # several pieces, so there is a second one to die in
s = Settings(**json.loads(sys.argv[2]))
run_embed(sys.argv[3], "items", s)
"""


def manifest(path: Path, n: int, salt: str = "") -> Path:
    path.write_text("".join(json.dumps({"id": f"i{k:03d}", "text": f"item {k} {salt}"}) + "\n"
                            for k in range(n)))
    return path


def settings(tmp: Path) -> Settings:
    return Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache",
                    max_batch_items=4, stage_rows=4, group_items=8, read_chunk_rows=8)


def ids_once(s: Settings, table: str, version: int | None = None) -> list[str]:
    tbl = ix.connect(s).open_table(table)
    if version is not None:
        tbl.checkout(version)
    ids = tbl.to_arrow().column("id").to_pylist()
    assert len(ids) == len(set(ids)), "an id appears twice"
    return sorted(ids)


@pytest.mark.parametrize("point", sorted(KILL_AT))
@pytest.mark.parametrize("first_run", [True, False], ids=["first-run", "second-night"])
def test_sigkill_then_rerun_loses_and_duplicates_nothing(tmp_path, point, first_run) -> None:
    if point == "first-write" and not first_run:
        pytest.skip("only a table's first run writes in pieces")
    if point == "merge" and first_run:
        pytest.skip("a table's first run has nothing to merge with")
    s = settings(tmp_path)
    src = manifest(tmp_path / "m.jsonl", 30)
    before = None
    if not first_run:  # a promoted production version that must stay readable throughout
        before = run_embed(str(src), "items", s)
        ix.promote(ix.connect(s), "items", before.table, before.version, reason="night 1")
        manifest(src, 40, salt="changed")  # 30 changed items and 10 new ones
    env = {**os.environ, "MMINDEX_CONFIG": os.devnull}
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(KILL_AT[point]),
                            json.dumps(s.transport(), default=str), str(src)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    if before is not None:  # readers still get the previous production, whole
        prod = mmindex.open_index("items", s.db)
        assert prod.version == before.version and prod.to_polars().height == 30

    again = run_embed(str(src), "items", s)
    n = 30 if first_run else 40
    assert ids_once(s, again.table, again.version) == [f"i{k:03d}" for k in range(n)]
    texts = set(ix.connect(s).open_table(again.table).to_arrow().column("text").to_pylist())
    assert len(texts) == n and (first_run or all("changed" in t for t in texts))
    runs = ix.ledger.runs(ix.connect(s), "items")
    assert [r["status"] for r in runs][-2:] == ["crashed", "committed"], runs
    if before is not None:
        ids_once(s, before.table, before.version)  # the old version still reads, unchanged


def _mount(kind: str, where: Path) -> bool:
    where.mkdir()
    opts = "size=2m" if kind == "full" else "size=8m"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmindex", *args], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "MMINDEX_CONFIG": os.devnull, **(env or {})})


@pytest.mark.parametrize("kind", ["full", "read-only"])
def test_a_full_or_read_only_disk_is_a_storage_error_with_help(tmp_path, kind) -> None:
    disk = tmp_path / "disk"
    if os.geteuid() != 0 or not _mount(kind, disk):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        big = manifest(tmp_path / "m.jsonl", 3000, salt="x" * 1000)  # ~3 MB of text
        if kind == "read-only":
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        t0 = time.monotonic()
        done = _cli("embed", str(big), "--index", "items", "--model", "hash", "--no-prefect",
                    "--db", str(disk / "db"))
        assert done.returncode == 2, done.stderr[-3000:]
        assert "Traceback" not in done.stderr and "StorageError" in done.stderr
        assert "Help:" in done.stderr and "retrying will not help" in done.stderr
        assert time.monotonic() - t0 < 60
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_an_unreachable_object_store_fails_in_seconds_with_exit_2(tmp_path) -> None:
    from s3server import closed_port

    port = closed_port()
    options = json.dumps({"endpoint_url": f"http://127.0.0.1:{port}", "key": "k",
                          "secret": "s"})
    t0 = time.monotonic()
    done = _cli("embed", "s3://bucket/manifest.jsonl", "--index", "items", "--model", "hash",
                "--no-prefect", "--db", str(tmp_path / "db"),
                env={"MMINDEX_STORAGE_OPTIONS": options})
    assert done.returncode == 2 and "StorageError" in done.stderr, done.stderr[-2000:]
    assert "Help:" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - t0 < 90


def test_permanent_errors_are_not_retried() -> None:
    assert not is_transient(StorageError("manifest not found", transient=False))
    assert not is_transient(FileNotFoundError("x")) and not is_transient(PermissionError("x"))
    assert not is_transient(OSError(28, "No space left on device"))
    assert is_transient(StorageError("read timeout")) and is_transient(TimeoutError())


@pytest.mark.slow
def test_the_embed_flow_fails_a_missing_manifest_at_once(tmp_path) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName
    from prefect.testing.utilities import prefect_test_harness

    from flows.embed import embed

    with prefect_test_harness(server_startup_timeout=120):
        with pytest.raises(StorageError, match="manifest not found"):
            embed(source=str(tmp_path / "missing.jsonl"), index="items", model="hash",
                  db=str(tmp_path / "db"), run_evaluation=False)
        # no 10 s / 20 s / 40 s back-offs: the planning task ran once and failed
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(task_run_filter=TaskRunFilter(
                name=TaskRunFilterName(like_="plan-embed-run")))
        assert [(r.run_count, r.state.type.value) for r in runs] == [(1, "FAILED")], runs
