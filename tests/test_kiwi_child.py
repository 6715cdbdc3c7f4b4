"""A cold Korean search analyses its query with Kiwi in a child process (index/analysis.py,
``prefetch``): the same tokens as Kiwi in the process, a failing child falls back, and the CLI's
hits are those of the library. Each case runs in a fresh interpreter: Kiwi must not be loaded
yet, as in a cold ``mmindex search``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("kiwipiepy")

QUERIES = ["세포분열의 단계를 설명하시오 (3.5점)", "한국어 😀 emoji\tand\x00control", "쇼와 천황"]

SCRIPT = """
import json, sys
from mmindex.index import analysis as a
if sys.argv[1] == "fail":
    a._CHILD = "import sys; sys.exit(3)"
out = []
for q in json.loads(sys.argv[2]):
    if sys.argv[1] != "here":
        a.prefetch(q, "always")
    started = len(a._CHILDREN)
    tokens = a.get_analyzer("kiwi").analyse(q)
    out.append({"tokens": tokens, "started": started,
                "kiwi_here": a._load_kiwi.cache_info().currsize})
    a._load_kiwi.cache_clear()  # the next query is cold again
print(json.dumps(out))
"""


def run(how: str) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, how, json.dumps(QUERIES)],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def test_the_child_gives_the_tokens_kiwi_gives_here_without_loading_kiwi_here():
    here, child = run("here"), run("child")
    assert [r["tokens"] for r in child] == [r["tokens"] for r in here]
    assert all(r["tokens"] for r in here)
    assert all(r["started"] == 1 and r["kiwi_here"] == 0 for r in child)  # the child's tokens
    assert all(r["kiwi_here"] == 1 for r in here)


def test_a_failing_child_falls_back_to_kiwi_here():
    here, failed = run("here"), run("fail")
    assert [r["tokens"] for r in failed] == [r["tokens"] for r in here]
    assert all(r["started"] == 1 and r["kiwi_here"] == 1 for r in failed)


def test_no_child_for_text_without_hangul():
    from mmindex.index import analysis

    before = dict(analysis._CHILDREN)
    analysis.prefetch("a penguin in the sea")
    analysis.prefetch("")
    assert analysis._CHILDREN == before
