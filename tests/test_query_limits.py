"""Query limits in the library (issue 23): a query longer than ``max_query_chars`` is refused
before it is embedded or searched (a 1 MB full-text query used to peak at about 1 GB), a
whitespace-only query says it is empty (not "fix or drop the row"), and ``k`` / ``rerank_top``
must be counts from 1. The CLI's side is in tests/test_cli_errors.py's table."""

from __future__ import annotations

import json

import pytest

from mmindex.config import Settings
from mmindex.errors import ConfigError


@pytest.fixture(scope="module")
def idx(tmp_path_factory: pytest.TempPathFactory):
    from mmindex.pipeline import run_embed
    from mmindex.search import open_index

    tmp = tmp_path_factory.mktemp("limits")
    (tmp / "items.jsonl").write_text("".join(
        json.dumps({"id": f"d{i}", "text": t}) + "\n"
        for i, t in enumerate(["a penguin on ice", "a frog in a pond", "an owl at night"])))
    s = Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache", device="cpu",
                 max_query_chars=1000)
    r = run_embed(str(tmp / "items.jsonl"), "limits", s)
    return open_index("limits", s.db, version=r.version, table=r.table, settings=s)


def test_a_query_over_max_query_chars_is_refused_in_every_mode(idx):
    long = "penguin " * 200  # 1,600 characters: over this index's max_query_chars = 1000
    for mode in ("vector", "fts", "hybrid"):
        with pytest.raises(ConfigError, match="1,600 characters; at most 1,000"):
            idx.search(long, mode=mode)
    with pytest.raises(ConfigError, match="max_query_chars"):
        idx.ranked(long, None, mode="fts")
    assert idx.search("penguin " * 100, mode="fts")["id"][0] == "d0"  # 800: within the cap
    assert Settings().max_query_chars == 10_000  # the default: 120 KB is refused


def test_an_empty_query_and_bad_counts_are_clear_errors(idx):
    for text in ("   ", "\n\t"):
        with pytest.raises(ConfigError, match="the query is empty") as err:
            idx.search(text)
        assert "manifest" not in str(err.value) and "row" not in str(err.value)
    for kwargs in ({"k": 0}, {"k": 2**63}, {"rerank": True, "rerank_top": 0}):
        with pytest.raises(ConfigError, match="from 1 to 100,000"):
            idx.search("penguin", **kwargs)
