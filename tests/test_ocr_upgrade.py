"""An index written before ``ocr_text`` existed keeps working: no tesseract needed here.

The next run adds the column (null) to the table and drops a staging table of the old shape; no
item is re-embedded for it, and search (vector and full text) works on both versions.
"""

from __future__ import annotations

import json
from pathlib import Path

import mmindex
from mmindex import index as ix
from mmindex.config import Settings
from mmindex.index.tables import STAGING_PREFIX
from mmindex.pipeline import run_embed


def write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return str(path)


def test_a_table_and_a_staging_table_from_before_ocr_text(tmp_path):
    rows = [{"id": f"d{i}", "text": f"광합성 문항 {i} photosynthesis"} for i in range(5)]
    source = write(tmp_path / "items.jsonl", rows)
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "c")
    first = run_embed(source, "old", s)
    db = ix.connect(s)
    tbl = db.open_table(first.table)
    tbl.drop_columns(["ocr_text"])  # as an older mmindex wrote it
    old_version = tbl.version
    # an interrupted older run's staging table, without the column
    staged = tbl.to_arrow().slice(0, 2)
    db.create_table(STAGING_PREFIX + first.table, staged)
    assert "ocr_text" not in db.open_table(first.table).schema.names

    rows[0]["text"] = "엽록체 changed"
    second = run_embed(write(tmp_path / "items.jsonl", rows), "old", s)
    assert (second.embedded, second.skipped_unchanged, second.updated) == (1, 4, 1)
    tbl = db.open_table(first.table)
    assert "ocr_text" in tbl.schema.names and tbl.count_rows() == 5
    assert not ix.table_exists(db, STAGING_PREFIX + first.table)

    ix.promote(db, "old", second.table, second.version)
    idx = mmindex.open_index("old", s.db)
    assert idx.search("엽록체", k=3, mode="fts")["id"].to_list() == ["d0"]
    assert len(idx.search("photosynthesis", k=3, mode="vector")) == 3
    before = mmindex.open_index("old", s.db, version=old_version)  # time travel still reads
    assert "d1" in before.search("문항", k=5, mode="fts")["id"].to_list()
