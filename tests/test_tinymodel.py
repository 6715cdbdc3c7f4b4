"""The offline checkpoint builder: real layout, real tokenizer, real 2B shapes, safe caching."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from mmindex.backends.twins import qwen3vl as twin

RELEASED_FILES = {  # what Qwen/Qwen3-VL-Embedding-2B ships (weights may be sharded there)
    "config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
    "video_preprocessor_config.json", "chat_template.json", "tokenizer.json",
    "tokenizer_config.json", "vocab.json", "merges.txt",
}


def test_tiny_checkpoint_has_the_released_layout(tiny_qwen_dir: Path):
    from safetensors import safe_open

    assert RELEASED_FILES <= {p.name for p in tiny_qwen_dir.iterdir()}
    config = json.loads((tiny_qwen_dir / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl"
    assert config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    with safe_open(str(tiny_qwen_dir / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        dtypes = {str(f.get_slice(k).get_dtype()) for k in keys}
    assert "model.language_model.embed_tokens.weight" in keys
    assert "model.visual.patch_embed.proj.weight" in keys
    assert "model.visual.deepstack_merger_list.0.linear_fc1.weight" in keys
    assert all(k.startswith(("model.language_model.", "model.visual.", "lm_head.")) for k in keys)
    assert dtypes == {"BF16"}  # like the released weights: the loader must ask for fp32 on CPU
    assert "Apache-2.0" in (tiny_qwen_dir / "NOTICE.md").read_text()


def test_tokenizer_is_the_real_qwen3_one(tiny_qwen_dir: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_qwen_dir))
    config = json.loads((tiny_qwen_dir / "config.json").read_text())
    for name, token in (("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
                        ("vision_start_token_id", "<|vision_start|>"),
                        ("vision_end_token_id", "<|vision_end|>")):
        assert tok.convert_tokens_to_ids(token) == config[name]
    assert len(tok) == 151669
    korean = "다음 중 옳은 것을 고르시오. 삼각형 ABC의 넓이는?"
    ids = tok(korean)["input_ids"]
    assert tok.decode(ids) == korean
    assert len(ids) < len(korean)  # merges Hangul, not one token per byte


def test_build_is_deterministic(tiny_qwen_dir: Path, tmp_path: Path):
    again = twin.build_tiny_model(tmp_path / "again")

    def digest(d: Path) -> str:
        return hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()

    assert digest(again) == digest(tiny_qwen_dir)


def test_2b_shape_matches_the_real_model_without_weights():
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    config = twin.model_config("2b")
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.num_hidden_layers, text.intermediate_size) == (2048, 28, 6144)
    assert (text.num_attention_heads, text.num_key_value_heads, text.head_dim) == (16, 8, 128)
    assert text.rope_parameters["mrope_section"] == [24, 20, 20]
    assert (vision.depth, vision.hidden_size, vision.out_hidden_size) == (24, 1024, 2048)
    assert list(vision.deepstack_visual_indexes) == [5, 11, 17]
    with torch.device("meta"):
        model = Qwen3VLForConditionalGeneration(config)
    params = sum(p.numel() for p in model.model.parameters())  # lm_head is tied
    assert 2.0e9 < params < 2.3e9


def test_ensure_tiny_model_builds_once_survives_a_race_and_loads(tmp_path: Path):
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(twin.ensure_tiny_model(tmp_path))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    target = tmp_path / "tiny-qwen3-vl"
    assert results == [target, target]
    assert [p.name for p in tmp_path.iterdir()] == ["tiny-qwen3-vl"]  # no temp dirs left
    weights = target / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert twin.ensure_tiny_model(tmp_path) == target
    assert weights.stat().st_mtime_ns == before  # reused, not rebuilt

    from mmindex.backends import load_embedder

    emb = load_embedder("tiny-qwen3-vl", device="cpu", cache_dir=tmp_path, reuse=False)
    assert emb.backend == "qwen3-vl" and emb.full_dims == 64
    assert weights.stat().st_mtime_ns == before


@pytest.mark.slow
def test_2b_checkpoint_builds_and_loads(tmp_path: Path):
    """Writes ~4.3 GB and needs ~10 GB RAM."""
    from mmindex.backends.qwen3vl import Qwen3VLEmbedder

    out = twin.build_tiny_model(tmp_path / "2b", shape="2b")
    emb = Qwen3VLEmbedder(str(out), device="cpu")
    assert emb.full_dims == 2048


def test_one_mark_says_which_twin_and_which_builder(tmp_path: Path):
    from mmindex.backends.twins import MARKER, ensure_built, is_built, write_marker

    calls: list[Path] = []

    def build(out: Path) -> None:
        calls.append(out)
        (out / "weights").write_text("new")
        write_marker(out, "tiny-x", 2)

    stale = tmp_path / "tiny-x"
    stale.mkdir()
    (stale / "weights").write_text("old")
    write_marker(stale, "tiny-x", 1)  # an older builder's folder
    assert not is_built(stale, "tiny-x", 2) and is_built(stale, "tiny-x", 1)
    assert ensure_built(tmp_path, "tiny-x", 2, build) == stale
    assert (stale / "weights").read_text() == "new" and len(calls) == 1
    assert ensure_built(tmp_path, "tiny-x", 2, build) == stale and len(calls) == 1  # reused
    assert not is_built(stale, "tiny-y", 2)  # another twin's mark is not this one's
    (stale / MARKER).write_text("{not json")
    assert not is_built(stale, "tiny-x", 2)
    with pytest.raises(RuntimeError, match="did not mark"):
        ensure_built(tmp_path, "tiny-z", 1, lambda out: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-x"]  # no temp dirs left
