"""The embed run end to end on LanceDB on disk, with the fast deterministic hash embedder.

These check the run's bookkeeping (skip unchanged, replace changed, deletions, quarantine,
resume, one writer); the real models' vectors are checked in their own tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmindex.backends import load_embedder, register_backend
from mmindex.backends.fake import HashEmbedder
from mmindex.config import Settings
from mmindex.errors import IndexBusyError
from mmindex.index import commit as ix_commit  # the module
from mmindex.index import connect, ledger, table_exists
from mmindex.index.locking import writer_lock
from mmindex.index.tables import STAGING_PREFIX
from mmindex.pipeline import commit_run, embed_group, plan_run, run_embed


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    img = tmp_path / "img"
    img.mkdir()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(img / "red.png")
    Image.new("RGB", (32, 32), (10, 10, 200)).save(img / "blue.png")
    (img / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    (img / "figure.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    rows = [
        {"id": "t1", "text": "Photosynthesis converts light into chemical energy", "grade": 7},
        {"id": "t2", "text": "광합성은 빛 에너지를 화학 에너지로 바꾼다", "grade": 7},
        {"id": "i1", "text": "", "image": "img/red.png"},
        {"id": "ti1", "text": "a blue square", "image": "img/blue.png"},
        {"id": "bad-corrupt", "text": "corrupt figure", "image": "img/broken.png"},
        {"id": "bad-missing", "text": "missing figure", "image": "img/nope.png"},
        {"id": "bad-svg", "text": "vector figure", "image": "img/figure.svg"},
        {"id": "bad-empty", "text": "   "},
        {"id": "bad-long", "text": "word " * 1200},
        {"id": "t1", "text": "a duplicate id"},
    ]
    return write_manifest(tmp_path / "manifest.jsonl", rows)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache",
                    max_text_tokens=1000, read_chunk_rows=3, group_items=3)


def table_rows(s: Settings, table: str) -> dict[str, dict]:
    db = connect(s)
    return {r["id"]: r for r in db.open_table(table).to_arrow().to_pylist()}


def test_first_run_embeds_good_items_once_and_quarantines_bad_ones(corpus, settings):
    r = run_embed(str(corpus), "items", settings)
    rows = table_rows(settings, r.table)
    assert sorted(rows) == ["i1", "t1", "t2", "ti1"]
    assert rows["t1"]["text"].startswith("Photosynthesis")  # the first t1, not the duplicate
    assert json.loads(rows["t1"]["metadata"]) == {"grade": 7}
    assert rows["ti1"]["images"][0].endswith("img/blue.png")
    assert r.embedded == 4 and r.inserted == 4 and r.quarantined == 6
    assert r.quarantine_reasons == {"corrupt_media": 1, "missing_media": 1,
                                    "unsupported_format": 1, "empty_item": 1,
                                    "text_too_long": 1, "bad_record": 1}
    bad = {q["item_id"]: q for q in ledger.quarantined(connect(settings), "items")}
    assert bad["bad-missing"]["reason"] == "missing_media"
    assert "nope.png" in bad["bad-missing"]["message"]
    vec = np.array(rows["t1"]["vector"], dtype=np.float32)
    assert vec.shape == (32,) and abs(np.linalg.norm(vec) - 1) < 1e-5
    run = ledger.get_run(connect(settings), r.run_id)
    assert run["status"] == "committed" and run["version"] == r.version
    assert run["embedded"] == 4 and run["quarantined"] == 6 and run["items_per_s"] > 0


def test_an_empty_row_reads_the_same_in_quarantine_whoever_finds_it(corpus, settings):
    """The reader stage and every backend's decode apply one empty-item rule: the quarantine
    message of an empty row is the one the backends raise for it (it said less before)."""
    from mmindex.backends.base import LoadedItem
    from mmindex.backends.textonly import item_text
    from mmindex.errors import ItemError
    from mmindex.items import Item

    run_embed(str(corpus), "items", settings)
    bad = {q["item_id"]: q for q in ledger.quarantined(connect(settings), "items")}
    empty = LoadedItem(Item("bad-empty", "   "))
    for decode in (HashEmbedder().decode, lambda li: item_text(li, "some-text-model")):
        with pytest.raises(ItemError) as info:
            decode(empty)
        assert info.value.reason == bad["bad-empty"]["reason"] == "empty_item"
        assert info.value.args[0] == bad["bad-empty"]["message"]
    assert "Help:" in bad["bad-empty"]["message"]


def test_rerun_embeds_nothing_and_changed_item_replaces_its_row(corpus, settings):
    first = run_embed(str(corpus), "items", settings)
    emb = load_embedder("hash")
    seen_before = emb.items_seen
    again = run_embed(str(corpus), "items", settings)
    assert again.embedded == 0 and again.skipped_unchanged == 4
    assert again.version == first.version and not again.changed
    assert emb.items_seen == seen_before  # the model was not called at all
    assert len(table_rows(settings, first.table)) == 4

    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    rows[1]["text"] = "광합성: 식물이 빛으로 포도당을 만든다"
    write_manifest(corpus, rows)
    changed = run_embed(str(corpus), "items", settings)
    assert changed.embedded == 1 and changed.updated == 1 and changed.inserted == 0
    after = table_rows(settings, first.table)
    assert len(after) == 4 and after["t2"]["text"].startswith("광합성:")
    assert after["t1"]["run_id"] == first.run_id  # untouched rows keep their lineage


@pytest.mark.parametrize("policy,expected", [("delete", ["i1", "t1", "ti1"]),
                                             ("keep", ["i1", "t1", "t2", "ti1"])])
def test_items_gone_from_source_follow_the_declared_policy(corpus, settings, policy, expected):
    first = run_embed(str(corpus), "items", settings)
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    write_manifest(corpus, [r for r in rows if r["id"] != "t2"])
    s = settings.with_overrides(deletion_policy=policy)
    r = run_embed(str(corpus), "items", s)
    assert sorted(table_rows(s, first.table)) == expected
    assert r.deleted == (1 if policy == "delete" else 0)


def test_interrupted_run_leaves_index_untouched_and_next_run_reuses_staged_rows(corpus, settings):
    first = run_embed(str(corpus), "items", settings)
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    rows[0]["text"] = "Photosynthesis happens in chloroplasts"
    rows.append({"id": "t3", "text": "Mitochondria make ATP"})
    write_manifest(corpus, rows)
    # a run that staged its groups and died before the commit
    plan = plan_run(str(corpus), "items", settings)
    for g in range(len(plan.groups)):
        embed_group(plan, g)
    db = connect(settings)
    assert db.open_table(first.table).version == first.version
    assert table_rows(settings, first.table)["t1"]["text"].startswith("Photosynthesis converts")

    resumed = run_embed(str(corpus), "items", settings)
    assert resumed.reused_staged == 2 and resumed.embedded == 0
    after = table_rows(settings, first.table)
    assert sorted(after) == ["i1", "t1", "t2", "t3", "ti1"]
    assert after["t1"]["text"] == "Photosynthesis happens in chloroplasts"
    assert not table_exists(db, STAGING_PREFIX + first.table)


def test_a_stale_staged_row_never_overwrites_the_current_item(corpus, settings):
    run_embed(str(corpus), "items", settings)
    original = corpus.read_text()
    rows = [json.loads(line) for line in original.splitlines()]
    rows[0]["text"] = "an edit that was reverted before the next run"
    write_manifest(corpus, rows)
    plan = plan_run(str(corpus), "items", settings)
    for g in range(len(plan.groups)):
        embed_group(plan, g)  # staged, never committed
    corpus.write_text(original)
    r = run_embed(str(corpus), "items", settings)
    assert table_rows(settings, r.table)["t1"]["text"].startswith("Photosynthesis converts")


class Breakable(HashEmbedder):
    """Works until ``broken`` is set after ``ok_calls`` more forward calls (the device 'dies')."""

    broken = False
    ok_calls = 1

    def forward(self, batch):
        if Breakable.broken:
            if Breakable.ok_calls <= 0:
                raise OSError("device lost")
            Breakable.ok_calls -= 1
        return super().forward(batch)


def test_systemic_failure_fails_the_run_and_keeps_the_previous_version(corpus, settings):
    register_backend("breakable", Breakable)
    s = settings.with_overrides(model="breakable", max_batch_items=1)
    first = run_embed(str(corpus), "items", s)
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    for r in rows:
        if r["id"].startswith("t"):
            r["text"] += " (revised)"
    write_manifest(corpus, rows)
    Breakable.broken, Breakable.ok_calls = True, 1
    try:
        with pytest.raises(OSError, match="device lost"):
            run_embed(str(corpus), "items", s)
    finally:
        Breakable.broken = False
    db = connect(s)
    runs = ledger.runs(db, "items")
    assert runs[-1]["status"] == "failed" and "device lost" in runs[-1]["error"]
    assert db.open_table(first.table).version == first.version
    assert table_rows(s, first.table)["t1"]["text"].startswith("Photosynthesis converts")
    # the next run reuses what the failed one staged and finishes the job
    r = run_embed(str(corpus), "items", s)
    assert r.reused_staged == 1 and r.embedded == 2 and r.updated == 3
    assert table_rows(s, first.table)["ti1"]["text"].endswith("(revised)")


class OOMAbove2(HashEmbedder):
    """Raises a CUDA-style OOM for batches of more than 2 items, and fails on one poison item."""

    def forward(self, batch):
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if any("poison" in b.text for b in batch):
            raise ValueError("the model chokes on this input")
        return super().forward(batch)


def test_oom_splits_the_batch_and_a_failing_item_is_quarantined_alone(tmp_path, settings):
    rows = [{"id": f"d{i}", "text": f"document number {i}"} for i in range(9)]
    rows.append({"id": "poison", "text": "poison pill"})
    manifest = write_manifest(tmp_path / "m.jsonl", rows)
    register_backend("oom2", OOMAbove2)
    s = settings.with_overrides(model="oom2", max_batch_items=8, read_chunk_rows=100,
                                group_items=100)
    r = run_embed(str(manifest), "split", s)
    assert r.embedded == 9 and r.quarantine_reasons == {"embed_failed": 1}
    assert len(table_rows(s, r.table)) == 9


def test_second_writer_of_an_index_is_refused_clearly(corpus, settings):
    with writer_lock(settings.db, "items", "someone-else"):
        with pytest.raises(IndexBusyError, match="being written by another run"):
            run_embed(str(corpus), "items", settings)
    assert run_embed(str(corpus), "items", settings).embedded == 4  # free again


def test_commit_writes_a_handful_of_versions_not_one_per_batch(tmp_path, settings):
    rows = [{"id": f"d{i}", "text": f"text {i} " * (i % 7 + 1)} for i in range(300)]
    manifest = write_manifest(tmp_path / "many.jsonl", rows)
    s = settings.with_overrides(max_batch_items=4, read_chunk_rows=50, group_items=100,
                                stage_rows=16)
    r = run_embed(str(manifest), "many", s)
    assert r.embedded == 300 and r.throughput.batches >= 75
    versions = connect(s).open_table(r.table).list_versions()
    assert len(versions) <= 4  # create + merge + fts index (+ nothing per batch)
    plan_groups = plan_run(str(manifest), "many", s).groups
    assert len(plan_groups) == 3


def test_commit_run_merges_group_results(tmp_path, settings):
    rows = [{"id": f"d{i}", "text": f"text {i}"} for i in range(10)]
    manifest = write_manifest(tmp_path / "ten.jsonl", rows)
    s = settings.with_overrides(read_chunk_rows=3, group_items=3)
    plan = plan_run(str(manifest), "ten", s)
    groups = [embed_group(plan, g) for g in range(len(plan.groups))]
    r = commit_run(plan, groups)
    assert len(plan.groups) == 4 and r.embedded == 10 and r.seen == 10 and r.rows == 10


def _hash_batches(pairs: dict[str, str]) -> list:
    import pyarrow as pa

    return [pa.record_batch({"id": list(pairs), "content_hash": list(pairs.values())})]


def test_hash_index_tells_unchanged_staged_stale_and_new_items_apart():
    from mmindex.embed.group import HashIndex

    table = {"same": "h1", "edited": "h1", "reverted": "h1", "gone": "h9"}
    staged = {"edited": "h2", "reverted": "h2", "retried": "h3"}
    known = HashIndex(_hash_batches(table), _hash_batches(staged))
    now = {"same": "h1", "edited": "h2", "reverted": "h1", "retried": "h3", "new": "h4",
           "moved-on": "h5"}
    assert known.classify(now) == {"same": "unchanged", "edited": "staged",
                                   "reverted": "unchanged", "retried": "staged", "new": "embed",
                                   "moved-on": "embed"}
    assert known.stale_staged == {"reverted"}  # staged h2, but the item went back to h1
    empty = HashIndex([], [])
    assert set(empty.classify({"a": "x", "b": "y"}).values()) == {"embed"}


def test_first_run_written_in_pieces_keeps_every_row_once(corpus, settings, monkeypatch):
    monkeypatch.setattr(ix_commit, "FIRST_WRITE_ROWS", 2)  # 4 good items -> 2 appends
    r = run_embed(str(corpus), "items", settings)
    rows = table_rows(settings, r.table)
    assert sorted(rows) == ["i1", "t1", "t2", "ti1"] and r.inserted == 4 == r.rows
    tbl = connect(settings).open_table(r.table)
    assert len(tbl.list_versions()) == 5  # empty table, 2 pieces, 2 full-text indexes
    assert run_embed(str(corpus), "items", settings).embedded == 0  # nothing left to redo
