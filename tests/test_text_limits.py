"""Text length: a byte cap before any tokenizer, then the real token count (not the model's
capped estimate) against max_text_tokens, and an explicit policy for what is over it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mmindex.config import Settings
from mmindex.index import connect, ledger
from mmindex.pipeline import run_embed

WORDS = "photosynthesis converts light energy into chemical energy stored in glucose "


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    rows = {
        "short": "a penguin on the ice",
        "model-long": WORDS * 40,     # ~400 tokens: over MiniLM's 256, under max_text_tokens
        "too-long": WORDS * 150,      # ~1,500 tokens: over max_text_tokens
        "huge": "x" * (3 * 2**20),    # 3 MB: over max_text_bytes, never tokenised
    }
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in rows.items()))
    return path


def test_real_token_counts_and_the_byte_cap(tmp_path: Path, corpus: Path) -> None:
    s = Settings(db=str(tmp_path / "db"), model="all-minilm-l6-v2", max_text_tokens=1000,
                 max_text_bytes=2**20)
    t0 = time.perf_counter()
    r = run_embed(str(corpus), "items", s)
    assert time.perf_counter() - t0 < 60  # the 3 MB text was not tokenised
    # MiniLM's estimate is capped at 256 tokens: a limit above that never fired before
    assert r.quarantine_reasons == {"text_too_long": 2} and r.embedded == 2
    bad = {q["item_id"]: q["message"] for q in ledger.quarantined(connect(s), "items")}
    assert "max_text_bytes" in bad["huge"] and "not tokenised" in bad["huge"]
    assert "tokens > max_text_tokens=1,000" in bad["too-long"]
    assert r.truncated == 1  # model-long was embedded from its first 256 tokens, and counted
    run = ledger.get_run(connect(s), r.run_id)
    assert run["truncated"] == 1


def test_the_truncate_policy_embeds_and_counts(tmp_path: Path, corpus: Path) -> None:
    s = Settings(db=str(tmp_path / "db"), model="all-minilm-l6-v2", max_text_tokens=1000,
                 text_overflow="truncate")
    r = run_embed(str(corpus), "items", s)
    assert r.quarantine_reasons == {"text_too_long": 1}  # only the byte cap still quarantines
    assert r.embedded == 3 and r.truncated == 2
