"""Random-weight CLIP and SigLIP checkpoints built offline (``tiny-clip``, ``tiny-siglip``).

Like :mod:`mmindex.backends.twins.qwen3vl` for Qwen3-VL: a ``CLIPModel`` / ``SiglipModel`` built
from its transformers config at toy sizes (hidden 32, 2 layers per tower, 32x32 images in 8x8
patches, CLIP with a projection of 24 that differs from the hidden size; SigLIP's heads keep the
hidden size, as in the released models), saved with the real on-disk layout
(``config.json``, ``model.safetensors``, processor and tokenizer files), loaded by the same code as
the released checkpoints (:class:`mmindex.backends.twotower.TwoTowerEmbedder`).

**Tokenizers.** No installed package ships CLIP's BPE vocabulary or SigLIP's SentencePiece model,
so each twin gets a *small tokenizer made here, offline*, with the real tokenizer class and its
real pipeline: ``CLIPTokenizer`` (byte-level BPE, ``</w>`` word ends, lower-casing) over the 256
byte symbols without merges (514 tokens; built, so the same on every machine) and
``SiglipTokenizer`` (a SentencePiece unigram model with byte fallback, T5's
``<pad>``/``</s>``/``<unk>`` ids; 384 pieces, trained on :data:`CORPUS` with one thread:
deterministic). Any text tokenises
(byte fallback); the ids mean nothing, like the weights. The image processors are the real ones
with the families' published normalisation (CLIP's mean/std; SigLIP's 0.5) at 32x32.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from mmindex.backends.twins.marker import ensure_built, write_marker

Family = Literal["clip", "siglip"]

SEED = 20250102
BUILDER_VERSION = 3  # 3: the CLIP twin's vocabulary is built, not trained (deterministic)
IMAGE_SIZE, PATCH = 32, 8
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # CLIP's published normalisation
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

CORPUS = [
    "A frog.", "A penguin.", "An owl.", "A violin on a table.", "a photo of a cat",
    "a photo of a dog", "The triangle has three sides and three angles.",
    "Photosynthesis turns light into chemical energy.", "Which figure shows a right angle?",
    "Read the passage and answer the question below.", "exam item 12: the graph of y = 2x + 1",
    "개구리", "펭귄", "올빼미", "바이올린", "광합성 과정", "다음 그림을 보고 물음에 답하시오.",
    "삼각형의 세 각의 합은 180도이다.", "지문을 읽고 알맞은 답을 고르시오.",
]


def _clip_tokenizer(out: Path) -> Any:
    """CLIP's real tokenizer class and pipeline over a byte-level vocabulary with no merges:
    every byte symbol, alone and as a word end (``</w>``), then the two specials. Built, not
    trained: ``tokenizers``' BPE trainer breaks ties differently from run to run, and a twin must
    be the same on every machine (Ray actors on several nodes each build their own)."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    symbols = [*alphabet, *(c + "</w>" for c in alphabet), "<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(symbols)}, merges=[],
                         model_max_length=77)


def _siglip_tokenizer(out: Path) -> Any:
    import io

    import sentencepiece as spm
    from transformers import SiglipTokenizer

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([s.lower() for s in CORPUS] * 4), model_writer=model,
        vocab_size=384, model_type="unigram", byte_fallback=True, character_coverage=1.0,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, minloglevel=2,
        hard_vocab_limit=False, seed_sentencepiece_size=100000)
    spiece = out / "spiece.model"
    spiece.write_bytes(model.getvalue())
    return SiglipTokenizer(vocab_file=str(spiece), model_max_length=64)


def build_tiny_two_tower(out_dir: str | os.PathLike[str], family: Family) -> Path:
    """Build a random-weight ``family`` checkpoint into ``out_dir`` (deterministic seed)."""
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        SiglipConfig,
        SiglipImageProcessor,
        SiglipModel,
        SiglipProcessor,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    towers = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4)
    vision = dict(towers, image_size=IMAGE_SIZE, patch_size=PATCH)
    if family == "clip":
        tokenizer = _clip_tokenizer(out)
        text = dict(towers, vocab_size=len(tokenizer), max_position_embeddings=77,
                    bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id)
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)
        cls: Any = CLIPModel
        processor = CLIPProcessor(
            image_processor=CLIPImageProcessor(
                size={"shortest_edge": IMAGE_SIZE},
                crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                image_mean=CLIP_MEAN, image_std=CLIP_STD),
            tokenizer=tokenizer)
    elif family == "siglip":
        tokenizer = _siglip_tokenizer(out)
        text = dict(towers, vocab_size=len(tokenizer), max_position_embeddings=64,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                    bos_token_id=None)  # no projection size: SigLIP's text head keeps hidden
        config = SiglipConfig(text_config=text, vision_config=vision)
        cls = SiglipModel
        processor = SiglipProcessor(
            image_processor=SiglipImageProcessor(
                size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]),
            tokenizer=tokenizer)
    else:
        raise ValueError(f"unknown two-tower family {family!r}; use 'clip' or 'siglip'")
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = cls(config)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(str(out))
    write_marker(out, f"tiny-{family}", BUILDER_VERSION, family=family, seed=SEED)
    (out / "NOTICE.md").write_text(
        f"Random-weight {family} checkpoint built offline by mmindex.backends.twins.twotower. Its "
        "vectors mean nothing; use it for tests. Its tokenizer is a small one trained offline on "
        "a few sentences (not the released vocabulary), with the real tokenizer class.\n")
    return out


def ensure_tiny_two_tower(family: Family,
                          cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cached ``tiny-<family>`` checkpoint, built once into ``cache_dir`` (race-safe:
    :func:`mmindex.backends.twins.marker.ensure_built`)."""
    return ensure_built(cache_dir, f"tiny-{family}", BUILDER_VERSION,
                        lambda out: build_tiny_two_tower(out, family))
