"""A cold ``mmindex search`` embeds its text query in a child process (search/prefetch.py): the
child's vector is byte for byte the one the process makes, the CLI prints the same hits with it
as without it, a hint for another model or a failing child falls back to embedding in the
process, and ``search_prefetch`` decides whether a child starts (children.py). Each case runs in a
fresh interpreter, as a cold search does (no model loaded yet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmindex.index import children

REPO = Path(__file__).resolve().parents[1]
QUERIES = ["a penguin", "바이올린", "세포분열의 단계를 설명하시오 (3.5점)"]

SCRIPT = """
import json, sys
from mmindex.backends import registry
from mmindex.config import Settings
from mmindex.search import open_index, prefetch
db, cache, how, queries = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
if how == "fail":
    prefetch.CHILD = "import sys; sys.exit(3)"
settings = Settings(db=db, cache_dir=cache, search_prefetch="always")
out = []
for q in queries:
    pre = prefetch.start(settings, "sample", q)
    idx = open_index("sample", settings=settings)
    v = pre.vector(idx) if pre else None
    loaded_here = bool(registry._CACHE)  # the model, loaded in this process by now?
    here = idx.embed_query(q)
    out.append({"started": pre is not None, "got": v is not None, "loaded_here": loaded_here,
                "equal": v is not None and v.dtype == here.dtype and v.tobytes() == here.tobytes(),
                "child_ended": pre is not None and pre.child.returncode is not None})
    registry._CACHE.clear()  # the next query is cold again
print(json.dumps(out))
"""


def _env(db: Path, cache: Path, when: str = "always") -> dict[str, str]:
    return dict(os.environ, MMINDEX_CONFIG=str(REPO / "mmindex.toml"), MMINDEX_DB=str(db),
                MMINDEX_CACHE_DIR=str(cache), MMINDEX_SEARCH_PREFETCH=when, HF_HUB_OFFLINE="1")


def _mm(env: dict[str, str], *args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "mmindex", *args], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """The sample embedded with use-multilingual and promoted (the checkout's settings)."""
    db = tmp_path_factory.mktemp("prefetch") / "db"
    env = _env(db, db.parent / "cache-embed")
    out = json.loads(_mm(env, "embed", str(REPO / "data/sample/manifest.jsonl"), "--index",
                         "sample", "--model", "use-multilingual", "--no-prefect", "--json"))
    _mm(env, "promote", "--index", "sample", "--version", str(out["version"]), "--reason", "test")
    return db


def _hints(cache: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((cache / "search-hints").glob("*.json"))]


def _script(db: Path, cache: Path, how: str = "child") -> list[dict]:
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(db), str(cache), how,
                        json.dumps(QUERIES)], capture_output=True, text=True, timeout=600,
                       env=_env(db, cache), cwd=REPO)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def search(env: dict[str, str], query: str) -> list[tuple[str, float]]:
    out = json.loads(_mm(env, "search", "--index", "sample", query, "-k", "5", "--json"))
    return [(r["id"], r["score"]) for r in out["results"]]


def test_the_childs_vector_is_the_one_made_here_and_the_model_is_not_loaded_here(sample, tmp_path):
    cache = tmp_path / "cache"
    assert search(_env(sample, cache), "a penguin")[0][0] == "animals/penguin"
    assert _hints(cache) == [{"model": "use-multilingual", "dims": 512, "query_instruction": None,
                              "device": "auto", "cache_dir": str(cache)}]  # written by search
    got = _script(sample, cache)
    assert all(r["started"] and r["got"] and r["equal"] for r in got), got
    assert not any(r["loaded_here"] for r in got), got


def test_the_cli_prints_the_same_hits_with_and_without_the_child(sample, tmp_path):
    for query in QUERIES[:2]:  # English, Korean (the Kiwi child too)
        with_child = [search(_env(sample, tmp_path / "c1", "always"), query) for _ in range(2)]
        without = search(_env(sample, tmp_path / "c2", "never"), query)
        assert with_child[0] == with_child[1] == without, query  # the 2nd took the child's
    assert _hints(tmp_path / "c1") and not (tmp_path / "c2" / "search-hints").exists()
    # the CLI took the child's vector: its own process never loaded the model
    cli = ("import contextlib, io, sys\n"
           "from mmindex.backends import registry\n"
           "from mmindex.cli.main import main\n"
           "with contextlib.redirect_stdout(io.StringIO()):\n"
           "    rc = main(['search', '--index', 'sample', 'a penguin', '--mode', 'vector'])\n"
           "print(rc, sorted(k[1] for k in registry._CACHE))\n")
    p = subprocess.run([sys.executable, "-c", cli], capture_output=True, text=True, timeout=600,
                       env=_env(sample, tmp_path / "c1"), cwd=REPO)
    assert p.stdout.split() == ["0", "[]"], p.stdout + p.stderr[-2000:]


def test_a_hint_for_another_model_is_dropped_and_rewritten(sample, tmp_path):
    cache = tmp_path / "cache"
    before = search(_env(sample, cache, "never"), "an owl")
    search(_env(sample, cache), "an owl")  # writes the hint
    (hint,) = list((cache / "search-hints").glob("*.json"))
    hint.write_text(json.dumps(_hints(cache)[0] | {"dims": 256}))  # an index rebuilt at 256
    got = _script(sample, cache)
    assert all(r["started"] and not r["got"] and r["child_ended"] for r in got), got
    assert search(_env(sample, cache), "an owl") == before
    assert _hints(cache)[0]["dims"] == 512  # the search rewrote it


def test_a_failing_child_falls_back_to_the_model_here(sample, tmp_path):
    cache = tmp_path / "cache"
    search(_env(sample, cache), "a penguin")
    got = _script(sample, cache, "fail")
    assert all(r["started"] and not r["got"] for r in got), got


def test_a_hint_others_may_write_is_not_used(tmp_path):
    from mmindex.config import Settings
    from mmindex.search import prefetch

    settings = Settings(db=str(tmp_path / "db"), cache_dir=tmp_path / "cache",
                        search_prefetch="always")
    path = prefetch._hint_file(settings, "sample")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"model": "hash", "dims": 8, "query_instruction": None,
                                "device": "cpu", "cache_dir": None}))
    path.chmod(0o600)
    pre = prefetch.start(settings, "sample", "a penguin")
    assert pre is not None
    children.end(pre.child)
    path.chmod(0o666)  # group- and world-writable: anyone could name the model
    assert prefetch.start(settings, "sample", "a penguin") is None


def test_search_prefetch_auto_starts_a_child_only_on_a_spare_core(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    for load, spare in ((0.2, True), (1.4, True), (1.6, False), (3.0, False)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert children.wanted("auto") is spare, load
        assert children.wanted("always") and not children.wanted("never")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not children.wanted("auto")  # one CPU: a child only competes with the search
