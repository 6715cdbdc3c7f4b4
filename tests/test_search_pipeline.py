"""One query, one pipeline: the table reads a search makes (counted on a real LanceDB table),
``where=`` prefiltering in every mode, the hit rows' columns in the results, the default mode,
and the messages of queries an index cannot answer."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mmindex.errors import ConfigError

RERANKER = "tiny-qwen3-vl-reranker"
ITEMS = {
    "animals/penguin": ("A penguin swims in cold water.", "animals"),
    "animals/penguins": ("Penguins live in Antarctica.", "animals"),
    "space/mars": ("The red planet Mars.", "space"),
    "space/mars-ko": ("화성은 붉은 행성이다.", "space"),
    "stamps/penguin": ("A penguin stamp.", "stamps"),
    "science/cells": ("세포분열의 단계", "science"),
    "science/chloroplast": ("엽록체의 구조", "science"),
    "animals/zebra": ("A zebra.", "animals"),
    "animals/red-panda": ("A red panda on a tree.", "animals"),
    "space/moon": ("The moon, a planet's satellite.", "space"),
}


class CountingTable:
    """A real LanceDB table that counts its ``search()`` calls (every read a query makes)."""

    def __init__(self, table: Any) -> None:
        self.table, self.reads = table, 0

    def search(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return self.table.search(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.table, name)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    """A hash-model index of 10 items (LanceDB on disk) with a ``category`` in the metadata,
    promoted, opened in this process."""
    from mmindex import index as ix
    from mmindex.config import Settings
    from mmindex.pipeline import run_embed
    from mmindex.search import open_index

    tmp = tmp_path_factory.mktemp("pipeline")
    (tmp / "items.jsonl").write_text("".join(
        json.dumps({"id": k, "text": t, "category": c}, ensure_ascii=False) + "\n"
        for k, (t, c) in ITEMS.items()))
    s = Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache", device="cpu",
                 rerank_top=6, diversify_top=6)
    r = run_embed(str(tmp / "items.jsonl"), "small", s)
    ix.promote(ix.connect(s), "small", r.table, r.version, reason="test")
    return open_index("small", s.db, settings=s), tmp


def counted(idx: Any) -> tuple[Any, CountingTable]:
    table = CountingTable(idx.table)
    return dataclasses.replace(idx, table=table), table


@pytest.mark.parametrize("mode", ["vector", "fts", "ann", "text-vector"])
def test_a_search_with_both_post_steps_reads_the_table_once(small, mode):
    idx, _ = small
    if mode == "text-vector" and "vector_text" not in idx.table.schema.names:
        mode = "vector:vector"  # the hash model writes no part columns: another column mode
    c_idx, table = counted(idx)
    df = c_idx.search("penguin red planet", k=4, mode=mode, diversify=True, diversify_top=6)
    # before: the ranking, the vectors to cluster, the rows shown: 3 reads (4 with rerank)
    assert table.reads == 1
    assert df.height == 4 and {"text", "metadata"} <= set(df.columns)
    assert "vector" not in df.columns and "fts_text" not in df.columns
    assert df["_cluster"].null_count() == 0


def test_reranked_and_diversified_search_reads_once_and_hybrid_adds_one_row_read(small):
    import torch

    torch.set_num_threads(1)
    idx, _ = small
    c_idx, table = counted(idx)
    df = c_idx.search("penguin", k=3, mode="vector", rerank=RERANKER, diversify=True)
    assert table.reads == 1 and df["_rerank_score"].null_count() == 0  # before: 4 reads
    ranking = table.reads
    c_idx.ranked("penguin", idx.embed_query("penguin"), k=6, mode="hybrid")
    hybrid = table.reads - ranking  # what the version's fusion reads to rank
    before = table.reads
    df = c_idx.search("penguin", k=3, mode="hybrid+rerank+diversify", rerank=RERANKER,
                      rerank_top=6)
    assert table.reads - before == hybrid + 1  # the ranking, then one read of the hits' rows
    assert df.height == 3 and df["text"].null_count() == 0


def category(row: dict[str, Any]) -> str:
    """A hit's manifest ``category``: a column of its own, or a key of ``metadata``."""
    if "category" in row:
        return row["category"]
    meta = row["metadata"]
    return (json.loads(meta) if isinstance(meta, str) else meta)["category"]


def test_a_bare_rerank_whose_default_model_is_missing_names_the_setting_and_the_twin(small):
    from mmindex.errors import ModelUnavailableError

    idx, _ = small
    missing = dataclasses.replace(idx, rerank_model="qwen3-vl-reranker:nobody/Missing-Reranker")
    with pytest.raises(ModelUnavailableError,
                       match="rerank_model setting.*tiny-qwen3-vl-reranker.*MMINDEX_RERANK_MODEL"):
        missing.search("penguin", mode="vector", rerank=True)


def _ids(df) -> list[str]:
    return df["id"].to_list()


@pytest.mark.parametrize("mode", ["vector", "ann", "fts", "hybrid"])
def test_where_prefilters_every_mode(small, mode):
    idx, _ = small
    where = "id LIKE 'space/%'"
    full = _ids(idx.search("penguin red planet", k=10, mode=mode))
    got = _ids(idx.search("penguin red planet", k=2, mode=mode, where=where))
    space = [i for i in full if i.startswith("space/")]
    # a postfilter keeps the matches among the best 2; a prefilter ranks the matches only
    assert not all(i.startswith("space/") for i in full[:2])
    assert len(got) == 2 and all(i.startswith("space/") for i in got)
    if mode != "hybrid":  # hybrid's fusion normalises over what each leg found
        assert got == space[:2]
    everything = _ids(idx.search("penguin red planet", k=10, mode=mode, where="id != ''"))
    assert sorted(everything) == sorted(full)


def test_where_on_any_column_and_a_bad_filter_says_which_columns_there_are(small):
    idx, _ = small
    got = idx.search("penguin", k=10, mode="vector", where="text LIKE '%penguin%'")
    assert sorted(_ids(got)) == ["animals/penguin", "stamps/penguin"]
    with pytest.raises(ConfigError, match=r"where 'colour = 1'.*Help: .*\bid\b"):
        idx.search("penguin", mode="vector", where="colour = 1")
    with pytest.raises(ConfigError, match="where"):
        idx.search("penguin", mode="hybrid", where="colour = 1")


def test_results_carry_every_non_vector_column_and_default_to_the_gates_mode(small):
    idx, _ = small
    assert idx.default_mode == "hybrid"  # the settings' gate.mode
    df = idx.search("penguin", k=3)
    hybrid = idx.search("penguin", k=3, mode="hybrid")
    assert df.equals(hybrid)
    animals = idx.search("penguin", k=3, where="id LIKE 'animals/%'")
    assert [category(r) for r in animals.iter_rows(named=True)] == ["animals"] * 3
    assert {"text", "images", "video", "metadata", "content_hash", "run_id"} <= set(df.columns)
    assert not {"vector", "fts_text"} & set(df.columns)
    gated = dataclasses.replace(idx, default_mode="fts")
    assert gated.search("penguin", k=3)["score"].to_list() == \
        idx.search("penguin", k=3, mode="fts")["score"].to_list()


def test_an_image_query_on_a_text_only_index_says_what_the_model_embeds(small):
    idx, tmp = small
    text_only = dataclasses.replace(idx, model="all-minilm-l6-v2")
    with pytest.raises(ConfigError, match="embeds text only.*Help"):
        text_only.search(image=tmp / "x.png")


def mm(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MMINDEX_DB=str(db), MMINDEX_CONFIG=os.devnull)
    return subprocess.run([sys.executable, "-m", "mmindex", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_cli_search_where_json_metadata_and_mode_choices(small):
    idx, tmp = small
    p = mm(tmp / "db", "search", "--index", "small", "penguin", "-k", "3", "--where",
           "id LIKE 'space/%'", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["mode"] == "hybrid" and out["where"] == "id LIKE 'space/%'"
    assert len(out["results"]) == 3 and all(r["id"].startswith("space/") for r in out["results"])
    first = out["results"][0]
    assert isinstance(first.get("metadata", {}), dict)  # an object, not a JSON string
    assert category(first) == "space"
    assert "vector" not in first and "fts_text" not in first
    p = mm(tmp / "db", "search", "--index", "small", "penguin", "--where", "nope = 1")
    assert p.returncode == 2 and "where 'nope = 1'" in p.stderr and "Help:" in p.stderr
    p = mm(tmp / "db", "search", "--index", "small", "penguin", "--mode", "fts+diversify",
           "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["diversify"] is True


def test_one_mode_list_for_the_library_the_cli_and_the_flow():
    import typing

    from mmindex.cli.main import build_parser
    from mmindex.search import MODE_CHOICES, MODES

    assert {"multivector+rerank", "fused-vector+diversify", "hybrid"} <= set(MODE_CHOICES)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("search", "evaluate"):
        mode = next(a for a in sub.choices[name]._actions if a.dest == "mode")
        assert tuple(mode.choices) == MODE_CHOICES, name
    flows = pytest.importorskip("flows.evaluate")
    hints = typing.get_type_hints(flows.evaluate.fn)
    assert set(typing.get_args(typing.get_args(hints["mode"])[0])) == set(MODE_CHOICES)
    assert MODES[:4] == ("vector", "ann", "fts", "hybrid")


def test_where_prefilters_multivector_search_both_ways(tmp_path):
    """MaxSim over every row (LanceDB's multivector search) and over the pooled top N."""
    import lancedb
    import numpy as np
    import pyarrow as pa

    from mmindex.index import multivector as mv
    from mmindex.search import Index

    rng = np.random.default_rng(0)
    toks = [rng.normal(size=(3, 8)).astype(np.float32) for _ in range(10)]
    toks = [t / np.linalg.norm(t, axis=1, keepdims=True) for t in toks]
    pooled = np.stack([t.mean(0) / np.linalg.norm(t.mean(0)) for t in toks])
    tbl = lancedb.connect(str(tmp_path)).create_table("mv", pa.table({
        "id": [f"a/{i}" if i < 5 else f"b/{i}" for i in range(10)],
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(pooled.reshape(-1)), 8),
        mv.COLUMN: mv.column(toks, 8)}))
    idx = Index("mv", "mv", 1, "hash", 8, tbl)
    assert idx.ranked(None, toks[7], k=3, mode="multivector")[0][0] == "b/7"
    for first in (0, 5):
        got = dataclasses.replace(idx, first_stage=first).ranked(
            None, toks[7], k=3, mode="multivector", where="id LIKE 'a/%'")
        assert len(got) == 3 and all(i.startswith("a/") for i, _ in got), first


def test_lancedb_opens_without_the_rest_clients_api_modules_and_they_still_load(tmp_path):
    """index/lazyclient: a fresh process opens, writes and searches a local database without
    importing the namespace REST client's API modules; reading the package runs it in full.
    lancedb's ``@override`` marks are set, and the ``overrides`` package checks other code again
    once lancedb is imported (a wrong override still raises)."""
    script = f"""
import sys
from mmindex.config import Settings
from mmindex.index import connect
db = connect(Settings(db={str(tmp_path / "db")!r}))
rows = [{{"id": "a", "vector": [1.0, 0.0]}}, {{"id": "b", "vector": [0.0, 1.0]}}]
tbl = db.create_table("t", rows)
assert tbl.search([0.9, 0.1]).limit(1).to_arrow()["id"].to_pylist() == ["a"]
api = [m for m in sys.modules if m.startswith("lance_namespace_urllib3_client.api.")]
assert not api, api
from lance_namespace_urllib3_client import ApiClient, TableApi
assert TableApi.__module__ == "lance_namespace_urllib3_client.api.table_api"
assert getattr(type(db).table_names, "__override__", False)
import overrides
try:
    class Base:
        def f(self): pass
    class Wrong(Base):
        @overrides.override
        def g(self): pass
except TypeError:
    print("ok")
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]
