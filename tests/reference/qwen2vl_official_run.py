"""GME's and VLM2Vec's documented steps, on transformers at the version each pins; runs inside
the scratch venv (``python qwen2vl_official_run.py JOB.json OUT.npz``).

Neither official code base installs from a package index: GME's ``gme_inference.py`` is a file
in the model's hub repository, VLM2Vec is a GitHub repository (``TIGER-AI-Lab/VLM2Vec``); a CI
machine reaches neither. What runs here are the library calls those two make, in their order,
with the library at their pin, so that what matters (the positions the model computes, the
processor's resize and normalisation) is the library's own behaviour, not mmindex's:

- ``gme`` (transformers 4.51.3; ``gme_inference.py`` requires < 4.52): the image converted to
  RGB, resized by qwen-vl-utils' ``smart_resize`` with 3,136 / 12,845,056 pixels (the function
  and bounds its ``fetch_image`` copies) and PIL's default filter; ``AutoProcessor`` loaded with
  the job's ``min_pixels`` / ``max_pixels`` and run with its defaults (it resizes again); the
  chat prompt; ``inputs_embeds`` from the text model's embeddings with the ``visual`` tower's
  output at the image tokens; the text model (4.51's ``Qwen2VLModel``) called with
  ``input_ids=None, position_ids=None``; the last real token, L2-normalised.
- ``vlm2vec`` (transformers 4.52.3, its ``requirements.txt`` pin): ``Image.open`` then
  ``resize((1344, 1344))`` (the evaluation's ``--image_resolution high``); a
  ``Qwen2VLImageProcessor`` with ``size`` = the job's pixel bounds, one processor call per item;
  ``Qwen2VLForConditionalGeneration(**inputs, output_hidden_states=True)``; the last real token
  of ``hidden_states[-1]``, L2-normalised.

The twin is saved by transformers 5 (nested ``text_config``, ``rope_parameters``,
``processor_config.json``); its config is rewritten here in the 4.x layout. Written: ``vectors``
(items x dims) and ``ids_<i>`` (each item's token ids).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

GME_FIRST = (4 * 28 * 28, 16384 * 28 * 28)  # gme_inference.py: MIN_PIXELS, MAX_PIXELS
VLM2VEC_SIZE = (1344, 1344)  # VLM2Vec: RESOLUTION_MAPPING["high"]


def legacy_checkpoint(src: Path, dst: Path) -> Path:
    """The transformers-5 twin as a transformers-4.5x checkpoint (same weights, same tokenizer)."""
    config = json.loads((src / "config.json").read_text())
    text = config.pop("text_config")
    rope = text.pop("rope_parameters")
    flat = {**config, **{k: v for k, v in text.items() if k != "model_type"},
            "rope_theta": rope["rope_theta"],
            "rope_scaling": {"type": "mrope", "mrope_section": rope["mrope_section"]},
            "torch_dtype": "float32"}
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "config.json").write_text(json.dumps(flat, indent=1))
    processor = json.loads((src / "processor_config.json").read_text())
    image = dict(processor["image_processor"], processor_class="Qwen2VLProcessor")
    (dst / "preprocessor_config.json").write_text(json.dumps(image, indent=1))
    tokenizer = json.loads((src / "tokenizer_config.json").read_text())
    # 4.5x reads a list of extra special tokens as "additional_special_tokens"
    tokenizer["additional_special_tokens"] = tokenizer.pop("extra_special_tokens", [])
    (dst / "tokenizer_config.json").write_text(json.dumps(tokenizer, indent=1))
    for name in ("model.safetensors", "tokenizer.json"):
        shutil.copy(src / name, dst / name)
    return dst


def _pool(hidden: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    last = hidden[torch.arange(hidden.shape[0]), mask.sum(dim=1) - 1]
    return torch.nn.functional.normalize(last, p=2, dim=1)[0].numpy()


def gme(path: Path, items: list[dict], bounds: tuple[int, int]) -> list[tuple]:
    from qwen_vl_utils.vision_process import smart_resize
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    processor = AutoProcessor.from_pretrained(str(path), min_pixels=bounds[0],
                                              max_pixels=bounds[1])
    processor.tokenizer.padding_side = "right"
    model = Qwen2VLForConditionalGeneration.from_pretrained(str(path),
                                                            torch_dtype=torch.float32).eval()
    out = []
    for item in items:
        images, content = [], ""
        for ref in item["images"]:
            image = Image.open(ref).convert("RGB")
            height, width = smart_resize(image.height, image.width, 28, *GME_FIRST)
            images.append(image.resize((width, height)))
            content += "<|vision_start|><|image_pad|><|vision_end|>"
        content += item["text"] or ""
        prompt = (f"<|im_start|>system\n{item['instruction']}<|im_end|>\n<|im_start|>user\n"
                  f"{content}<|im_end|>\n<|im_start|>assistant\n<|endoftext|>")
        inputs = processor(text=[prompt], images=images or None, padding=True, truncation=True,
                           max_length=item["max_length"], return_tensors="pt")
        ids = inputs["input_ids"]
        with torch.inference_mode():
            embeds = model.model.get_input_embeddings()(ids)
            if images:
                pixels = inputs["pixel_values"].type(model.visual.get_dtype())
                embeds[ids == model.config.image_token_id] = model.visual(
                    pixels, grid_thw=inputs["image_grid_thw"])
            hidden = model.model(input_ids=None, position_ids=None,
                                 attention_mask=inputs["attention_mask"],
                                 inputs_embeds=embeds).last_hidden_state
        out.append((_pool(hidden, inputs["attention_mask"]), ids[0].numpy()))
    return out


def vlm2vec(path: Path, items: list[dict], bounds: tuple[int, int]) -> list[tuple]:
    from transformers import (
        Qwen2TokenizerFast,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
    )
    from transformers.image_utils import ChannelDimension

    size = {"shortest_edge": bounds[0], "longest_edge": bounds[1]}
    processor = Qwen2VLProcessor.from_pretrained(
        str(path), image_processor=Qwen2VLImageProcessor.from_pretrained(str(path), size=size),
        tokenizer=Qwen2TokenizerFast.from_pretrained(str(path)), size=size)
    model = Qwen2VLForConditionalGeneration.from_pretrained(str(path),
                                                            torch_dtype=torch.float32).eval()
    out = []
    for item in items:
        images = [Image.open(ref).resize(VLM2VEC_SIZE) for ref in item["images"]]
        images = [i.resize((56, 56)) if min(i.size) < 28 else i for i in images]
        if images:
            inputs = processor(text=[item["prompt"]], images=images, return_tensors="pt",
                               input_data_format=ChannelDimension.LAST)
        else:
            inputs = processor(text=[item["prompt"]], images=None, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**inputs, output_hidden_states=True,
                           return_dict=True).hidden_states[-1]
        out.append((_pool(hidden, inputs["attention_mask"]), inputs["input_ids"][0].numpy()))
    return out


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    torch.manual_seed(0)
    torch.set_num_threads(1)
    path = legacy_checkpoint(Path(job["model"]), Path(sys.argv[2]).with_suffix(".ckpt"))
    run = {"gme": gme, "vlm2vec": vlm2vec}[job["family"]]
    results = run(path, job["items"], (job["min_pixels"], job["max_pixels"]))
    arrays = {"vectors": np.stack([v for v, _ in results]).astype(np.float32)}
    arrays.update({f"ids_{i}": ids for i, (_, ids) in enumerate(results)})
    np.savez(sys.argv[2], **arrays)


if __name__ == "__main__":
    main()
