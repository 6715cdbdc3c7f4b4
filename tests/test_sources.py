"""Reading manifests: formats, field maps, media resolution, bad rows, streaming memory."""

from __future__ import annotations

import csv
import gzip
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmindex.errors import ConfigError, StorageError
from mmindex.extract.manifest import SeenIds
from mmindex.extract.sources import FieldMap, open_source
from mmindex.items import BadRecord, Item

ROWS = [
    {"id": "q1", "text": "삼각형의 넓이를 구하시오.", "images": "fig/q1.png", "year": 2021,
     "score": 0.5, "subject": "math", "public": True},
    {"id": "q2", "text": "What is photosynthesis?", "images": None, "year": 2019,
     "score": 1.25, "subject": "biology", "public": False},
    {"id": "q3", "text": "", "images": "/abs/scan.png", "year": None, "score": 2.0,
     "subject": "korean", "public": True},
]


def read_all(src) -> list[Item | BadRecord]:
    return [x for chunk in src.iter_chunks() for x in chunk]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({k: "" if v is None else str(v).lower() if isinstance(v, bool) else v
                     for k, v in r.items()} for r in rows)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_each_format_reads_the_same_items(tmp_path: Path, fmt: str) -> None:
    writer = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}[fmt]
    src = open_source(str(writer(tmp_path / f"manifest.{fmt}", ROWS)))
    assert src.format == fmt
    items = read_all(src)
    assert items == [
        Item("q1", "삼각형의 넓이를 구하시오.", (str(tmp_path / "fig/q1.png"),), None,
             {"year": 2021, "score": 0.5, "subject": "math", "public": True}),
        Item("q2", "What is photosynthesis?", (), None,
             {"year": 2019, "score": 1.25, "subject": "biology", "public": False}),
        Item("q3", "", ("/abs/scan.png",), None,
             {"year": None, "score": 2.0, "subject": "korean", "public": True}),
    ]
    assert src.describe()["uri"] == str(tmp_path / f"manifest.{fmt}")


def test_beir_corpus_title_and_text(tmp_path: Path) -> None:
    corpus = [
        {"_id": "d1", "title": "Photosynthesis", "text": "Plants make sugar.", "metadata": {}},
        {"_id": "d2", "title": "", "text": "No title here."},
    ]
    write_jsonl(tmp_path / "corpus.jsonl", corpus)
    for uri in (tmp_path / "corpus.jsonl", tmp_path):  # the file, or the dataset directory
        src = open_source(str(uri))
        assert src.format == "beir"
        items = read_all(src)
        assert [(i.id, i.text) for i in items] == [
            ("d1", "Photosynthesis Plants make sugar."), ("d2", "No title here.")]


def test_field_map_joins_text_columns_and_reads_image_lists(tmp_path: Path) -> None:
    rows = [{"item_id": 7, "question": "Q?", "passage": "P.", "figure": ["a.png", "b.png"],
             "extra": "x", "difficulty": 3, "tags": ["geo", "hard"]},
            {"item_id": 8, "question": "Only Q", "passage": None, "figure": [],
             "extra": "y", "difficulty": 1, "tags": []}]
    fields = FieldMap.parse(["id=item_id", "text=question,passage", "images=figure",
                             "metadata=difficulty,tags"])
    for path in (write_jsonl(tmp_path / "m.jsonl", rows),
                 write_parquet(tmp_path / "m.parquet", rows)):
        items = read_all(open_source(str(path), fields=fields))
        assert items == [
            Item("7", "Q?\nP.", (str(tmp_path / "a.png"), str(tmp_path / "b.png")), None,
                 {"difficulty": 3, "tags": ["geo", "hard"]}),
            Item("8", "Only Q", (), None, {"difficulty": 1, "tags": []}),
        ]


def test_csv_cell_may_hold_a_json_list_of_images(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text('id,text,images\na,hi,"[""x.png"", ""s3://b/y.png""]"\n', "utf-8")
    [item] = read_all(open_source(str(path)))
    assert item.images == (str(tmp_path / "x.png"), "s3://b/y.png")


def test_field_map_parse_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="Help:"):
        FieldMap.parse(["txt=question"])
    with pytest.raises(ConfigError):
        FieldMap.parse(["id"])
    assert FieldMap.parse(["metadata=-", "video="]).metadata == ()


def test_explicit_column_missing_from_schema_fails_fast(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "m.parquet", ROWS)
    with pytest.raises(ConfigError, match="'question'"):
        read_all(open_source(str(path), fields=FieldMap(text="question")))
    jsonl = write_jsonl(tmp_path / "m.jsonl", ROWS)
    with pytest.raises(ConfigError, match="item_id"):
        read_all(open_source(str(jsonl), fields=FieldMap(id="item_id")))


def test_relative_media_resolve_against_manifest_dir(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "data").mkdir()
    rows = [{"id": "a", "images": ["img/a.png", "../shared/b.png", "s3://bkt/c.png"],
             "video": "./clips/v.mp4"}]
    write_jsonl(tmp_path / "data" / "m.jsonl", rows)
    monkeypatch.chdir(tmp_path)  # opened by a relative path from elsewhere
    for uri in ("data/m.jsonl", f"file://{tmp_path}/data/m.jsonl"):
        [item] = read_all(open_source(uri))
        assert item.images == (str(tmp_path / "data/img/a.png"), str(tmp_path / "shared/b.png"),
                               "s3://bkt/c.png")
        assert item.video == str(tmp_path / "data/clips/v.mp4")


def test_bad_rows_become_bad_records_and_the_rest_come_through(tmp_path: Path) -> None:
    lines = [
        '{"id": "a", "text": "fine", "n": 1}',
        'this is not json',
        '{"id": "b", "text": 42}',
        '["a", "list"]',
        '{"text": "no id"}',
        '{"id": "a", "text": "duplicate"}',
        '{"id": "c", "images": {"not": "a list"}}',
        '{"id": "d", "text": "big int and NaN", "n": 123456789012345678901234, "x": NaN}',
    ]
    path = tmp_path / "m.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n" + b'{"id": "e", "text": "\xff"}\n'
                     + b'{"id": "f", "text": "last"}\n')
    out = read_all(open_source(str(path), chunk_rows=3))
    good = [x for x in out if isinstance(x, Item)]
    bad = [x for x in out if isinstance(x, BadRecord)]
    assert [i.id for i in good] == ["a", "d", "f"]
    assert good[0].text == "fine"
    assert good[1].metadata == {"n": 123456789012345678901234, "x": None}
    assert all(b.reason == "bad_record" for b in bad)
    assert len(bad) == 7
    assert any("duplicate id 'a'" in b.message for b in bad)
    assert any("line 2" in b.message for b in bad)


def test_bad_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xef\xbb\xbfid,text,year\n"  # Excel writes a BOM
                     b"a,ok,2020\n"
                     b"b,too,many,fields\n"
                     b"c,\xff\xfe bad utf8,2021\n"
                     b",no id,2022\n"
                     b'd,"multi\nline",0042\n')
    out = read_all(open_source(str(path)))
    assert [x.id for x in out if isinstance(x, Item)] == ["a", "d"]
    assert out[-1].text == "multi\nline"
    assert out[-1].metadata == {"year": "0042"}  # not an int: leading zeros are kept
    assert [x.reason for x in out if isinstance(x, BadRecord)] == ["bad_record"] * 3


def test_parquet_wrong_types_and_non_json_metadata(tmp_path: Path) -> None:
    rows = [{"id": "a", "text": "ok", "blob": None}, {"id": None, "text": "no id", "blob": None},
            {"id": "c", "text": "bytes", "blob": b"\x00\x01"}]
    out = read_all(open_source(str(write_parquet(tmp_path / "m.parquet", rows))))
    assert isinstance(out[0], Item) and out[0].metadata == {"blob": None}
    assert isinstance(out[1], BadRecord) and "no id" in out[1].message
    assert isinstance(out[2], BadRecord) and "JSON-able" in out[2].message


def test_compressed_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"id": "a", "text": "zipped"}\n'))
    assert read_all(open_source(str(path))) == [Item("a", "zipped")]


def test_missing_manifest_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="Help:"):
        open_source(str(tmp_path / "nope.jsonl"))
    (tmp_path / "m.xlsx").write_bytes(b"PK")
    with pytest.raises(ConfigError, match="format"):
        open_source(str(tmp_path / "m.xlsx"))


def _peak_bytes(src) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = sum(len(chunk) for chunk in src.iter_chunks())
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_memory_does_not_grow_with_the_manifest(tmp_path: Path, fmt: str) -> None:
    # Rows are large (~4 KiB) so that holding them would dwarf a chunk: 20 chunks vs 2.
    chunk, text = 256, "긴 지문 long passage " * 200

    def manifest(n: int) -> Path:
        rows = [{"id": f"item-{i}", "text": text, "images": [f"img/{i}.png"], "year": i % 9}
                for i in range(n)]
        path = tmp_path / f"m{n}.{fmt}"
        return write_jsonl(path, rows) if fmt == "jsonl" else write_parquet(path, rows)

    n_small, small = _peak_bytes(open_source(str(manifest(2 * chunk)), chunk_rows=chunk))
    n_big, big = _peak_bytes(open_source(str(manifest(20 * chunk)), chunk_rows=chunk))
    assert (n_small, n_big) == (2 * chunk, 20 * chunk)
    retained = 18 * chunk * len(text.encode())  # what keeping the extra rows would cost
    assert big - small < retained / 5, (small, big)


def test_remembered_ids_cost_a_few_bytes_each() -> None:
    seen = SeenIds()
    tracemalloc.start()
    try:
        for start in range(0, 200_000, 4096):
            firsts = seen.first_times([f"item-{i}" for i in range(start, start + 4096)])
            assert all(firsts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen.first_times(["item-5", "new", "new"]) == [False, True, False]
    assert peak < 32 * 200_000  # a set of the id strings would take ~100 bytes per id


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_memory_bounded_on_200k_rows(tmp_path: Path, fmt: str) -> None:
    def manifest(n: int) -> Path:
        rows = [{"id": f"item-{i:07d}", "text": f"question {i} " * 8,
                 "images": [f"img/{i}.png"], "year": 2000 + i % 20} for i in range(n)]
        path = tmp_path / f"m{n}.{fmt}"
        return write_jsonl(path, rows) if fmt == "jsonl" else write_parquet(path, rows)

    _, small = _peak_bytes(open_source(str(manifest(20_000)), chunk_rows=4096))
    n, big = _peak_bytes(open_source(str(manifest(200_000)), chunk_rows=4096))
    assert n == 200_000
    assert big < 2.5 * small, (small, big)
