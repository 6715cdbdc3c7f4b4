"""The README's "For analysts" code runs as printed, against the sample index."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

from mmindex import index as ix
from mmindex.config import Settings
from mmindex.pipeline import run_embed

REPO = Path(__file__).resolve().parents[1]


def analysts_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### For analysts"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_for_analysts_code_runs_on_the_sample(tmp_path: Path, monkeypatch) -> None:
    s = Settings(db=str(tmp_path / "db"), model="all-minilm-l6-v2",
                 cache_dir=tmp_path / "cache")
    r = run_embed(str(REPO / "data" / "sample" / "manifest.jsonl"), "sample", s)
    ix.promote(ix.connect(s), "sample", r.table, r.version, reason="readme test")
    monkeypatch.setenv("MMINDEX_DB", s.db)
    monkeypatch.setenv("MMINDEX_CONFIG", os.devnull)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    ns: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(analysts_block(), "README.md", "exec"), ns)  # noqa: S102 - our own README
    printed = out.getvalue()
    assert f"version {r.version}" in printed
    assert "animals/penguin" in printed  # the hybrid search found the penguin
    assert ns["animals"].height > 0 and set(ns["animals"]["id"].str.slice(0, 8)) == {"animals/"}
    assert ns["music"].height > 0 and set(ns["music"]["category"]) == {"hobbies"}
    assert ns["same"].version == r.version
    # the joined frames keep the search's ranking: best first, the same ids as the search
    for name, query, k in (("hits", "a penguin", 5), ("music", "musical instrument", 10)):
        joined = ns[name]
        assert joined["score"].to_list() == sorted(joined["score"].to_list(), reverse=True)
        ranked = ns["idx"].search(query, k=k, **({"mode": "hybrid"} if name == "hits" else {}))
        assert joined["id"].to_list() == [i for i in ranked["id"].to_list()
                                          if i in set(joined["id"].to_list())]
    assert ns["hits"]["id"][0] == "animals/penguin"

