"""Run colpali-engine's own classes on a mmindex twin; runs inside the scratch venv.

``python colpali_engine_run.py JOB.json OUT.npz``. The job names the twin's directory, its
family, page images and query texts. The twin is saved in transformers' ``-hf`` layout
(``ColPaliForRetrieval`` / ``ColQwen2ForRetrieval``); its weights are renamed here into the
engine's layout (``ColPali`` / ``ColQwen2``), and its projection resized to the twin's
``embedding_dim`` (the engine hard-codes 128). Everything else is the engine's code: its
processor's ``process_images`` / ``process_queries``, its model's forward, its ``score``.
Each page and query runs alone (no padding), as the engine's token vectors do not depend on it.

Written: per page ``page_<i>`` (tokens with attention mask 1) and ``page_ids_<i>``, per query
``query_<i>`` and ``query_ids_<i>``, and ``scores`` (queries x pages, the processor's MaxSim,
each page alone) and ``scores_batched`` (all pages in one call, as the engine pads them).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file


def _rename(cls, family: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers' ``-hf`` keys -> colpali-engine's keys, by the engine's own key mapping."""
    mapping = dict(getattr(super(cls, cls), "_checkpoint_conversion_mapping", {}) or {})
    mapping.update(cls._checkpoint_conversion_mapping)
    out = {}
    for key, value in state.items():
        if key.startswith("embedding_proj_layer."):
            key = "custom_text_proj." + key.removeprefix("embedding_proj_layer.")
        else:  # ColQwen2 is the Qwen2VLModel itself; ColPali holds PaliGemma as ``model``
            key = key.removeprefix("vlm.") if family == "colqwen2" else "model." + key[4:]
            for pattern, replacement in mapping.items():
                key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


def load(family: str, path: Path):
    from transformers import (
        AutoImageProcessor,
        AutoTokenizer,
        PaliGemmaConfig,
        Qwen2VLConfig,
        Qwen2VLVideoProcessor,
    )

    config = json.loads((path / "config.json").read_text())
    dim = int(config["embedding_dim"])
    state = {}
    for shard in sorted(path.glob("*.safetensors")):
        state.update(load_file(str(shard)))
    if family == "colqwen2":
        from colpali_engine.models import ColQwen2, ColQwen2Processor

        cls = ColQwen2
        model = ColQwen2(Qwen2VLConfig(**config["vlm_config"]))
        # the twin has no video processor file; the engine's processor never reads video
        processor = ColQwen2Processor(image_processor=AutoImageProcessor.from_pretrained(path),
                                      tokenizer=AutoTokenizer.from_pretrained(path),
                                      video_processor=Qwen2VLVideoProcessor())
    else:
        from colpali_engine.models import ColPali, ColPaliProcessor

        cls = ColPali
        model = ColPali(PaliGemmaConfig(**config["vlm_config"]))
        processor = ColPaliProcessor.from_pretrained(str(path))
    model.dim = dim
    model.custom_text_proj = torch.nn.Linear(model.custom_text_proj.in_features, dim)
    missing, unexpected = model.load_state_dict(_rename(cls, family, state), strict=False)
    tied = {"model.lm_head.weight"}  # PaliGemma's head is the tied embedding, not saved
    if set(missing) - tied or unexpected:
        raise SystemExit(f"weights do not match: missing {missing}, unexpected {unexpected}")
    if missing:
        model.tie_weights()
    return model.float().eval(), processor


def main(job_path: str, out_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    torch.manual_seed(0)
    model, processor = load(job["family"], Path(job["model"]))
    out: dict[str, np.ndarray] = {}
    pages, queries = [], []
    with torch.no_grad():
        for i, image in enumerate(job["pages"]):
            batch = processor.process_images([Image.open(image)])
            tokens = model(**batch)[0][batch["attention_mask"][0].bool()]
            out[f"page_{i}"], out[f"page_ids_{i}"] = tokens.numpy(), batch["input_ids"][0].numpy()
            pages.append(tokens)
        for i, text in enumerate(job["queries"]):
            batch = processor.process_queries([text])
            tokens = model(**batch)[0][batch["attention_mask"][0].bool()]
            out[f"query_{i}"], out[f"query_ids_{i}"] = tokens.numpy(), batch["input_ids"][0].numpy()
            queries.append(tokens)
    # each page scored alone; "scores_batched" pads the pages with zero vectors, so a query
    # token whose best cosine on a shorter page is negative gets 0 there instead
    out["scores"] = torch.cat([processor.score(queries, [page], device="cpu") for page in pages],
                              dim=1).numpy()
    out["scores_batched"] = processor.score(queries, pages, device="cpu").numpy()
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
