"""The Qwen3-VL-Reranker backend against a plain-transformers rendition of the published recipe.

The yardstick below follows the reference ``Qwen3VLReranker`` (QwenLM/Qwen3-VL-Embedding,
``src/models/qwen3_vl_reranker.py``) step by step -- file paths in the conversation,
``process_vision_info``, the prompt's placeholders expanded by the transformers 4.57.3 rule the
official code runs under (``qwen3vl_reference.reference_inputs``), its special-token-keeping
truncation, one pair at a time, ``sigmoid(h_last . (W_yes - W_no))`` -- and shares no code with
the library. Differences: fp32 on CPU and transformers 5's ``mm_token_type_ids`` passed along.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from qwen3vl_reference import mm_token_types, reference_inputs

from mmindex.errors import ConfigError, ItemError, ModelUnavailableError
from mmindex.items import Item

TOL = 1e-5
SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the Instruct '
          'provided. Note that the answer can only be "yes" or "no".')
INSTRUCT = "Given a search query, retrieve relevant candidates that answer the query."


class ReferenceReranker:
    def __init__(self, model_dir: Path, max_length: int = 10240):
        from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

        lm = Qwen3VLForConditionalGeneration.from_pretrained(str(model_dir), dtype=torch.float32)
        self.model = lm.model.eval()
        self.processor = AutoProcessor.from_pretrained(str(model_dir), padding_side="left")
        vocab = self.processor.tokenizer.get_vocab()
        self.linear = torch.nn.Linear(lm.config.text_config.hidden_size, 1, bias=False)
        with torch.no_grad():
            self.linear.weight[0] = lm.lm_head.weight[vocab["yes"]] - lm.lm_head.weight[vocab["no"]]
        self.max_length = max_length

    @staticmethod
    def content(prefix, text=None, images=(), video=None):
        out = [{"type": "text", "text": prefix}]
        if video:
            out.append({"type": "video", "video": "file://" + str(video), "fps": 1,
                        "max_frames": 64})
        out += [{"type": "image", "image": "file://" + str(im), "min_pixels": 4 * 32 * 32,
                 "max_pixels": 1800 * 32 * 32} for im in images]
        if text:
            out.append({"type": "text", "text": text})
        return out

    def truncate(self, ids: list[int]) -> list[int]:
        if len(ids) <= self.max_length:
            return ids
        special = set(self.processor.tokenizer.all_special_ids)
        body, tail = ids[:-5], ids[-5:]
        room = self.max_length - sum(t in special for t in body)
        kept = []
        for t in body:
            if t in special:
                kept.append(t)
            elif room > 0:
                kept.append(t)
                room -= 1
        return kept + tail

    @torch.no_grad()
    def score(self, query: dict, doc: dict) -> float:
        from qwen_vl_utils import process_vision_info

        pair = [{"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
                {"role": "user", "content": [{"type": "text", "text": "<Instruct>: " + INSTRUCT},
                                             *self.content("<Query>:", **query),
                                             *self.content("\n<Document>:", **doc)]}]
        text = self.processor.apply_chat_template([pair], tokenize=False,
                                                  add_generation_prompt=True)
        images, videos, video_kwargs = process_vision_info(
            [pair], image_patch_size=16, return_video_kwargs=True, return_video_metadata=True)
        # the placeholders expanded by the official code's transformers (4.57.3) rule
        inputs, text = reference_inputs(self.processor, text, images, videos, video_kwargs)
        kept = self.truncate(self.processor.tokenizer(text[0])["input_ids"])
        inputs["input_ids"] = torch.tensor([kept])
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
        inputs["mm_token_type_ids"] = mm_token_types(self.processor, inputs["input_ids"])
        h = self.model(**inputs).last_hidden_state[:, -1]
        return float(torch.sigmoid(self.linear(h)).squeeze())


@pytest.fixture(scope="module")
def tiny_reranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmindex.backends.twins.reranker import build_tiny_reranker

    return build_tiny_reranker(tmp_path_factory.mktemp("tiny-reranker"))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import av
    from PIL import Image

    root = tmp_path_factory.mktemp("rr-media")
    rng = np.random.default_rng(11)
    paths = {"photo": root / "photo.png", "small": root / "small.png",
             "broken": root / "broken.png", "video": root / "clip.mp4"}
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(paths["photo"])
    Image.fromarray(rng.integers(0, 255, (40, 70, 4), dtype=np.uint8), "RGBA").save(paths["small"])
    paths["broken"].write_bytes(paths["photo"].read_bytes()[:200])
    with av.open(str(paths["video"]), "w") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(8):
            frame = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return paths


@pytest.fixture(scope="module")
def reranker(tiny_reranker_dir: Path):
    from mmindex.backends.qwen3vl_reranker import Qwen3VLReranker

    torch.set_num_threads(1)
    return Qwen3VLReranker(str(tiny_reranker_dir), device="cpu", batch_size=8)


def item(i: str, text: str = "", images=(), video=None) -> Item:
    return Item(i, text=text, images=tuple(str(p) for p in images),
                video=str(video) if video else None)


DOCS = {
    "text": lambda m: dict(text="A penguin stands on the ice."),
    "korean": lambda m: dict(text="남극에 사는 펭귄은 날지 못하는 새이다."),
    "image": lambda m: dict(images=[m["photo"]]),
    "text+image": lambda m: dict(text="그림 1", images=[m["small"]]),
    "two images": lambda m: dict(text="compare", images=[m["photo"], m["small"]]),
    "video": lambda m: dict(video=m["video"]),
}
QUERIES = {
    "text": lambda m: dict(text="a penguin"),
    "image+text": lambda m: dict(text="this bird", images=[m["small"]]),
}


@pytest.mark.parametrize("qname", list(QUERIES))
def test_scores_equal_the_plain_transformers_recipe_and_batches_equal_singles(
        reranker, tiny_reranker_dir, media, qname):
    ref = ReferenceReranker(tiny_reranker_dir)
    q = QUERIES[qname](media)
    docs = {name: make(media) for name, make in DOCS.items()}
    expected = [ref.score(q, d) for d in docs.values()]
    query = item("q", **q)
    documents = [item(name, **d) for name, d in docs.items()]
    batched = reranker.score(query, documents)
    singles = [reranker.score(query, [d])[0] for d in documents]
    print(f"{qname}: max |Δscore| batched {np.max(np.abs(np.array(batched) - expected)):.1e}, "
          f"one at a time {np.max(np.abs(np.array(singles) - expected)):.1e}")
    assert np.max(np.abs(np.array(batched) - expected)) <= TOL, (batched, expected)
    assert np.max(np.abs(np.array(singles) - expected)) <= TOL
    assert all(0.0 < s < 1.0 for s in batched)
    assert len(set(np.round(batched, 6))) > 1  # the tiny twin's scores do differ by document


def test_long_pair_is_truncated_like_the_reference(tiny_reranker_dir, media):
    from mmindex.backends.qwen3vl_reranker import Qwen3VLReranker

    short = Qwen3VLReranker(str(tiny_reranker_dir), device="cpu", max_length=96)
    ref = ReferenceReranker(tiny_reranker_dir, max_length=96)
    long_text = "the penguin walks across the ice " * 40
    got = short.score(item("q", "a penguin"), [item("d", long_text, images=[media["small"]])])
    want = ref.score(dict(text="a penguin"), dict(text=long_text, images=[media["small"]]))
    assert abs(got[0] - want) <= TOL


def test_bad_inputs_are_refused_with_reasons_and_the_rest_still_scored(reranker, media):
    with pytest.raises(ItemError, match="empty_item"):
        reranker.score(item("q", "  "), [item("d", "text")])
    with pytest.raises(ItemError, match="corrupt_media") as err:
        reranker.score(item("q", "x"), [item("bad", images=[media["broken"]])])
    assert err.value.item_id == "bad"
    docs = [item("ok", "a penguin"), item("bad", images=[media["broken"]]),
            item("gone", images=[media["photo"].with_name("missing.png")]), item("empty")]
    scores, errors = reranker.score_each(item("q", "penguin"), docs)
    assert scores[0] == pytest.approx(reranker.score(item("q", "penguin"), docs[:1])[0], abs=TOL)
    assert scores[1:] == [None, None, None]
    assert errors["bad"].startswith("corrupt_media")
    assert errors["gone"].startswith("missing_media")
    assert errors["empty"].startswith("empty_item")


def test_specs_and_the_offline_error(tmp_path):
    from mmindex.backends.rerankers import load_reranker, parse_reranker

    assert parse_reranker("qwen3-vl-reranker-2b") == "Qwen/Qwen3-VL-Reranker-2B"
    assert parse_reranker("Qwen3-VL-Reranker-8B") == "Qwen/Qwen3-VL-Reranker-8B"
    assert parse_reranker(f"qwen3-vl-reranker:{tmp_path}") == str(tmp_path)
    with pytest.raises(ConfigError, match="unknown reranker"):
        parse_reranker("all-minilm-l6-v2")
    with pytest.raises(ModelUnavailableError, match="hf download Qwen/Qwen3-VL-Reranker-2B"):
        load_reranker("qwen3-vl-reranker-2b", device="cpu")


def test_the_2b_spec_loads_from_a_cached_hub_snapshot_offline(tiny_reranker_dir, tmp_path,
                                                              monkeypatch, media):
    """``qwen3-vl-reranker-2b`` resolves from the HF cache layout (the tiny twin stands in for the
    released files), scores like the directory it came from, and records the snapshot's commit."""
    import shutil

    from mmindex.backends.qwen3vl_reranker import Qwen3VLReranker
    from mmindex.backends.rerankers import load_reranker

    commit = "89abcdef0123456789abcdef0123456789abcdef"
    repo = tmp_path / "hub" / "models--Qwen--Qwen3-VL-Reranker-2B"
    shutil.copytree(tiny_reranker_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("mmindex.backends.rerankers._CACHE", {})  # not kept for other tests
    cached = load_reranker("qwen3-vl-reranker-2b", device="cpu")
    assert cached.fingerprint()["revision"] == commit
    assert cached.fingerprint()["model"] == "Qwen/Qwen3-VL-Reranker-2B"
    local = Qwen3VLReranker(str(tiny_reranker_dir), device="cpu")
    q, docs = item("q", "a penguin"), [item("d", "penguin", images=[media["photo"]])]
    assert cached.score(q, docs) == pytest.approx(local.score(q, docs), abs=1e-6)


def test_the_instruction_is_used_as_given_like_the_reference(tiny_reranker_dir):
    """The official reranker formats ``<Instruct>: {instruction}`` with the text as given; a
    trailing space is part of the prompt (it moved a logit by 0.29), so it is not stripped."""
    from mmindex.backends.qwen3vl_reranker import INSTRUCTION, Qwen3VLReranker

    spaced = Qwen3VLReranker(str(tiny_reranker_dir), device="cpu", instruction="Find it. ")
    assert spaced.instruction == "Find it. "
    q, d = item("q", "a penguin"), item("d", "A penguin stands on the ice.")
    plain = Qwen3VLReranker(str(tiny_reranker_dir), device="cpu", instruction="Find it.")
    assert spaced.score(q, [d])[0] != plain.score(q, [d])[0]
    assert Qwen3VLReranker(str(tiny_reranker_dir), device="cpu").instruction == INSTRUCTION
