"""What an analyst with only LanceDB gets from an index `mmindex embed` wrote: the manifest's
metadata as typed columns that ``where`` prefilters on, and the index's model as the table's
embedding function (vector and hybrid string queries through the plain LanceDB API)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from mmindex.config import Settings
from mmindex.pipeline import run_embed

REPO = Path(__file__).resolve().parents[1]
MODEL = "use-multilingual"
TABLE = f"sample__{MODEL}__d512"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    """The sample embedded by the CLI as the quickstart does (the checkout's settings: the
    Korean captions are searched by full text)."""
    db = tmp_path_factory.mktemp("plain") / "db"
    env = dict(os.environ, MMINDEX_CONFIG=str(REPO / "mmindex.toml"), HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, "-m", "mmindex", "embed",
                        str(REPO / "data" / "sample" / "manifest.jsonl"), "--index", "sample",
                        "--db", str(db), "--model", MODEL, "--no-prefect", "--no-progress"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return db


def test_metadata_fields_are_typed_columns_that_where_prefilters(sample_db):
    import lancedb
    import numpy as np

    tbl = lancedb.connect(str(sample_db)).open_table(TABLE)
    meta = tbl.schema.field("meta").type
    assert {f.name: f.type for f in meta} == {
        "category": pa.string(), "lang": pa.string(), "source": pa.string(),
        "caption_ko": pa.string()}
    animals = {r["id"] for r in tbl.search().where("meta.category = 'animals'")
               .select(["id"]).limit(None).to_arrow().to_pylist()}
    manifest = [json.loads(line) for line in
                (REPO / "data" / "sample" / "manifest.jsonl").read_text().splitlines()]
    stored = set(tbl.search().select(["id"]).limit(None).to_arrow()["id"].to_pylist())
    assert animals == {m["id"] for m in manifest if m.get("category") == "animals"} & stored
    # a query far from every animal: prefiltered, the 5 nearest animals; a post-filter of the
    # 5 nearest overall would keep fewer
    guitar = tbl.search().where("id = 'hobbies/violin'").select(["vector"]).limit(1) \
        .to_arrow()["vector"][0].as_py()
    near = tbl.search(np.asarray(guitar)).limit(5).select(["id"]).to_arrow()["id"].to_pylist()
    assert not set(near) & animals
    pre = tbl.search(np.asarray(guitar)).where("meta.category = 'animals'", prefilter=True) \
        .limit(5).select(["id"]).to_arrow()["id"].to_pylist()
    assert len(pre) == 5 and set(pre) <= animals
    korean = tbl.search().where("meta.caption_ko = '펭귄'").select(["id"]).to_arrow()
    assert "animals/penguin" in korean["id"].to_pylist()


PLAIN = """
import json, sys
import lancedb
import mmindex  # registers the index's embedding function with LanceDB
tbl = lancedb.connect(sys.argv[1]).open_table(sys.argv[2])
out = {"functions": {k: v.function.model for k, v in tbl.embedding_functions.items()},
       "vector": tbl.search("a penguin").limit(3).to_polars()["id"].to_list(),
       "hybrid": tbl.search("펭귄", query_type="hybrid").limit(5).to_polars()["id"].to_list(),
       "filtered": tbl.search("a penguin", query_type="hybrid")
           .where("meta.category = 'animals'", prefilter=True).limit(5).to_polars()
           ["id"].to_list()}
print(json.dumps(out))
"""


def test_plain_lancedb_embeds_string_queries_with_the_index_model(sample_db):
    env = dict(os.environ, MMINDEX_CONFIG=os.devnull, HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, "-c", PLAIN, str(sample_db), TABLE],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["functions"] == {"vector": MODEL}
    import lancedb

    import mmindex

    version = lancedb.connect(str(sample_db)).open_table(TABLE).version  # the candidate
    idx = mmindex.open_index("sample", db=str(sample_db), version=version,
                             settings=Settings(db=str(sample_db), model=MODEL))
    # the same ranking as mmindex's own exact vector search: same model, same query role
    assert out["vector"] == idx.search("a penguin", k=3, mode="vector")["id"].to_list()
    assert out["vector"][0] == "animals/penguin"
    assert "animals/penguin" in out["hybrid"][:2]  # its Korean caption matched by full text
    assert out["filtered"][0] == "animals/penguin"
    assert all(i.startswith("animals/") for i in out["filtered"])


def _embed(tmp_path: Path, rows: list[dict], s: Settings):
    m = tmp_path / "m.jsonl"
    m.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_embed(str(m), "evo", s)


def test_a_new_field_or_a_wider_type_evolves_meta_without_losing_rows(tmp_path):
    import lancedb

    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache")
    rows = [{"id": f"r{i}", "text": f"item {i}", "n": i, "tag": "a", "ok": True}
            for i in range(6)]
    first = _embed(tmp_path, rows, s)
    tbl = lancedb.connect(s.db).open_table(first.table)
    assert str(tbl.schema.field("meta").type) == \
        "struct<n: int64, ok: bool, tag: string>"
    rows[1] = {**rows[1], "n": 2.5}  # a fraction: n widens to float64
    rows[2] = {**rows[2], "tag": 7}  # a number among strings: tag stays a string
    rows[3] = {**rows[3], "year": 2024}  # a new field
    second = _embed(tmp_path, rows, s)
    tbl = lancedb.connect(s.db).open_table(first.table)
    assert str(tbl.schema.field("meta").type) == \
        "struct<n: double, ok: bool, tag: string, year: int64>"
    got = {r["id"]: r["meta"] for r in tbl.search().select(["id", "meta"]).limit(None)
           .to_arrow().to_pylist()}
    assert len(got) == 6 and second.rows == 6
    assert got["r0"] == {"n": 0.0, "tag": "a", "ok": True, "year": None}
    assert got["r1"]["n"] == 2.5 and got["r2"]["tag"] == "7" and got["r3"]["year"] == 2024
    assert tbl.search().where("meta.n > 2 AND meta.n < 3").select(["id"]).to_arrow()[
        "id"].to_pylist() == ["r1"]
    # the first version is untouched (its own schema), and a re-run of the same rows is a no-op
    tbl.checkout(first.version)
    assert str(tbl.schema.field("meta").type) == "struct<n: int64, ok: bool, tag: string>"
    third = _embed(tmp_path, rows, s)
    assert third.embedded == 0 and third.rows == 6


def test_expand_metadata_still_gives_one_column_per_field(tmp_path):
    import mmindex

    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache")
    r = _embed(tmp_path, [{"id": "a", "text": "x", "meta": "a field named meta", "n": 1},
                          {"id": "b", "text": "y", "n": 2}], s)
    df = mmindex.open_index("evo", version=r.version, settings=s).to_polars(expand_metadata=True)
    assert df.sort("id")["meta"].to_list() == ["a field named meta", None]
    assert df.sort("id")["n"].to_list() == [1, 2] and "metadata" not in df.columns


def test_the_embedding_function_embeds_queries_in_the_query_role(tmp_path):
    """e5 prefixes ``query: `` to queries and ``passage: `` to documents: LanceDB's string
    query gets the index's query vector, not a document vector."""
    import lancedb
    import numpy as np

    import mmindex

    s = Settings(db=str(tmp_path / "db"), model="multilingual-e5-small-q4",
                 cache_dir=tmp_path / "cache")
    r = _embed(tmp_path, [{"id": "p", "text": "a penguin on the ice"},
                          {"id": "c", "text": "a red car"}], s)
    tbl = lancedb.connect(s.db).open_table(r.table)
    fn = tbl.embedding_functions["vector"].function
    got = np.asarray(fn.compute_query_embeddings("penguin")[0])
    idx = mmindex.open_index("evo", version=r.version, settings=s)
    assert np.allclose(got, idx.embed_query("penguin"), atol=1e-5)
    doc = np.asarray(fn.compute_source_embeddings(["penguin"])[0])
    assert not np.allclose(got, doc, atol=1e-3)  # the document role differs
    assert tbl.search("penguin").limit(1).to_polars()["id"][0] == "p"
