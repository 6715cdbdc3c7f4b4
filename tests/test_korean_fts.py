"""Korean full-text search as a user meets it: embed Korean items, search word forms.

The issue's acceptance: over Korean items, ``search --mode fts "세포분열"`` finds the
items that say "세포분열의" and "세포분열을", "분열 단계" finds "세포분열의 단계를", and
hybrid works on the same data. LanceDB's English defaults find neither (they keep
"세포분열의" whole).
"""

from __future__ import annotations

import json
import logging
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmindex
from mmindex import index as ix
from mmindex.config import Settings
from mmindex.index import analysis, fulltext
from mmindex.pipeline import run_embed

ITEMS = [
    {"id": "bio-1", "text": "세포분열의 단계를 설명하시오."},
    {"id": "bio-2", "text": "식물 세포는 세포분열을 통해 자란다."},
    {"id": "bio-3", "text": "광합성은 엽록체에서 일어난다."},
    {"id": "bio-4", "text": "DNA의 복제와 mRNA 전사 과정을 비교하시오."},
    {"id": "en-1", "text": "A penguin swims in cold water."},
    {"id": "stamp-1", "text": "A frog.", "caption_ko": "개구리"},
    {"id": "odd-1", "text": "😀 이모지\x00\x07와 제어 문자 ✨ " + "가나다라마바사 " * 3000},
]


def write(path, items):
    path.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items))
    return str(path)


def ids(idx, text, mode="fts", k=10):
    return idx.search(text, k=k, mode=mode)["id"].to_list()


@pytest.fixture(scope="module")
def korean(tmp_path_factory):
    """The items above embedded with the hash model; captions searched; promoted."""
    tmp = tmp_path_factory.mktemp("korean")
    s = Settings(db=str(tmp / "db"), model="hash", cache_dir=tmp / "cache",
                 fts_metadata_fields=["caption_ko"])
    source = write(tmp / "items.jsonl", ITEMS)
    r = run_embed(source, "ko", s)
    assert r.embedded == len(ITEMS) and not r.quarantined  # odd text is indexed, not lost
    ix.promote(ix.connect(s), "ko", r.table, r.version)
    return s, source, r


def test_fts_finds_korean_word_forms(korean):
    s, _, _ = korean
    idx = mmindex.open_index("ko", s.db)
    assert set(ids(idx, "세포분열")) == {"bio-1", "bio-2"}  # 세포분열의 / 세포분열을, nothing else
    assert ids(idx, "분열 단계")[0] == "bio-1"  # 세포분열의 단계를
    assert ids(idx, "엽록체")[0] == "bio-3"  # 엽록체에서


def test_hybrid_works_on_the_same_data(korean):
    s, _, _ = korean
    idx = mmindex.open_index("ko", s.db)
    assert set(ids(idx, "세포분열", mode="hybrid", k=2)) == {"bio-1", "bio-2"}
    assert ids(idx, "분열 단계", mode="hybrid")[0] == "bio-1"


def test_mixed_korean_and_english_and_english_stemming(korean):
    s, _, _ = korean
    idx = mmindex.open_index("ko", s.db)
    assert ids(idx, "DNA 복제")[0] == "bio-4"  # "DNA의": the foreign word without its particle
    assert ids(idx, "mrna")[0] == "bio-4"
    assert ids(idx, "penguins") == ["en-1"]  # the English column still stems


def test_a_metadata_field_is_searched_when_configured_and_a_change_reanalyses(korean, tmp_path):
    s, source, first = korean
    assert ids(mmindex.open_index("ko", s.db), "개구리") == ["stamp-1"]  # the Korean caption
    again = run_embed(source, "ko", s.with_overrides(fts_metadata_fields=[]))
    assert again.embedded == 0 and again.version > first.version  # re-analysed, not re-embedded
    tbl = ix.connect(s).open_table(again.table)
    assert fulltext.FtsSpec.of(tbl).fields == ()
    ix.promote(ix.connect(s), "ko", again.table, again.version)
    assert ids(mmindex.open_index("ko", s.db), "개구리") == []
    back = run_embed(source, "ko", s)  # and back, for the other tests
    ix.promote(ix.connect(s), "ko", back.table, back.version)
    assert back.embedded == 0 and ids(mmindex.open_index("ko", s.db), "개구리") == ["stamp-1"]


def test_bad_text_is_indexed_and_searchable(korean):
    s, _, _ = korean
    idx = mmindex.open_index("ko", s.db)
    assert "odd-1" in ids(idx, "이모지")
    assert "odd-1" in ids(idx, "제어 문자")


def test_an_index_written_before_fts_text_searches_then_is_reanalysed(tmp_path):
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache")
    source = write(tmp_path / "items.jsonl", ITEMS[:5])
    r = run_embed(source, "old", s)
    db = ix.connect(s)
    tbl = db.open_table(r.table)  # make it look like an index of the previous release
    tbl.drop_columns([fulltext.FTS_TEXT])
    tbl.to_lance().update_schema_metadata({}, replace=True)
    tbl.checkout_latest()
    ix.promote(db, "old", r.table, tbl.version)
    old = mmindex.open_index("old", s.db)
    assert ids(old, "penguins") == ["en-1"]  # opens and searches, on `text` as before
    assert ids(old, "세포분열") == []
    assert ids(old, "penguin", mode="hybrid")[0] == "en-1"
    new = run_embed(source, "old", s)
    assert new.embedded == 0 and new.version > tbl.version  # the column added and filled
    ix.promote(db, "old", new.table, new.version)
    assert set(ids(mmindex.open_index("old", s.db), "세포분열")) == {"bio-1", "bio-2"}


@pytest.fixture
def no_kiwi(monkeypatch):
    monkeypatch.setitem(sys.modules, "kiwipiepy", None)  # `import kiwipiepy` raises ImportError
    analysis.get_analyzer.cache_clear()
    yield
    analysis.get_analyzer.cache_clear()


def test_without_kiwipiepy_ngrams_are_used_and_it_is_said_once(no_kiwi, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="mmindex.index.analysis")
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache")
    r = run_embed(write(tmp_path / "items.jsonl", ITEMS[:5]), "ng", s)
    ix.promote(ix.connect(s), "ng", r.table, r.version)
    idx = mmindex.open_index("ng", s.db)
    assert fulltext.FtsSpec.of(idx.table).analyzer == "ngram"
    assert set(ids(idx, "세포분열")[:2]) == {"bio-1", "bio-2"}
    assert ids(idx, "분열 단계")[0] == "bio-1"
    warnings = [r.getMessage() for r in caplog.records if "kiwipiepy" in r.getMessage()]
    assert len(warnings) == 1 and "pip install kiwipiepy" in warnings[0]


@pytest.mark.parametrize("name", ["kiwi", "ngram"])
@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300))
def test_any_text_analyses_to_clean_repeatable_tokens(name, text):
    a = analysis.get_analyzer(name)
    out = a.analyse(text)
    assert out == a.analyse(text)
    tokens = out.split(" ") if out else []
    assert all(t and t.isprintable() and len(t) <= analysis.MAX_TOKEN_CHARS for t in tokens)


def test_korean_analysis_keeps_content_words():
    kiwi = analysis.get_analyzer("kiwi")
    assert kiwi.analyse("세포분열의 단계를 설명하시오.") == "세포 분열 단계 설명"
    assert kiwi.analyse("A penguin. 光合成 3.14") == "a penguin 光合成 3.14"
    assert analysis.get_analyzer("ngram").analyse("세포분열") == "세포 포분 분열 세포분 포분열"


def test_a_name_of_several_words_gives_no_one_syllable_pieces():
    # Kiwi's multi-word dictionary (not loaded: analysis.KIWI_OPTIONS) made "쇼와 천황" one token
    # whose 2-syllable pieces spanned the space: "와", "천" matched any text with those syllables
    kiwi = analysis.get_analyzer("kiwi")
    assert kiwi.analyse("쇼와 천황의 본명은?") == "쇼와 천황 본명"
    assert kiwi.version.endswith(f"/a{analysis.ANALYSIS_VERSION}")
