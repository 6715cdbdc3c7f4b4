"""Case ``gpu``: the real-shape (random-weight) Qwen3-VL-2B on a CUDA device.

Three workloads, each a batch stream through the backend's collate + forward (bf16, sdpa or
flash-attention 2 when ``flash_attn`` imports): text only, one 1024x768 image + text, and an
8-frame video (+ text). Reported per workload: items/s, peak GPU memory
(``torch.cuda.max_memory_allocated``) and GPU utilisation sampled from ``nvidia-smi`` while it
runs; compared with the proof of concept's 3.9 items/s. Without CUDA the case is skipped; in full
mode on CPU it runs the 2b shape on a handful of items for context (fp32, as the backend does on
CPU). :func:`measure` works on any device and any checkpoint, so it is unit-tested on CPU with
the tiny model.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import write_jsonl
from mmindex.embed.gpu import GpuSampler

POC_ITEMS_PER_S = 3.9


def workload_manifests(root: Path, n: int, size: tuple[int, int] = (1024, 768)
                       ) -> dict[str, Path]:
    """``text``, ``image`` (a ``size`` PNG + text) and ``video`` (8 s at 4 fps of ``size`` -> 8
    frames at the backend's 1 fps, + text) manifests of ``n`` items each."""
    import numpy as np
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    words = "the energy of a photon is proportional to its frequency and inversely so to".split()
    texts = [" ".join(rng.choice(words, 40)) for _ in range(n)]
    w, h = size
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / "img.png")
    _video(root / "clip.mp4", seconds=8, fps=4, size=size)
    return {
        "text": write_jsonl(root / "text.jsonl", [{"id": f"t{i}", "text": t}
                                                  for i, t in enumerate(texts)]),
        "image": write_jsonl(root / "image.jsonl", [{"id": f"i{i}", "text": t, "image": "img.png"}
                                                    for i, t in enumerate(texts)]),
        "video": write_jsonl(root / "video.jsonl", [{"id": f"v{i}", "text": t,
                                                     "video": "clip.mp4"}
                                                    for i, t in enumerate(texts)]),
    }


def _video(path: Path, *, seconds: int, fps: int, size: tuple[int, int]) -> None:
    import av
    import numpy as np

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(seconds * fps):
            frame = np.full((h, w, 3), (i * 7) % 256, dtype=np.uint8)
            frame[:, : (i + 1) * w // (seconds * fps)] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def measure(model_dir: Path, manifests: dict[str, Path], *, device: str,
            max_batch_items: int = 16, end_to_end: bool = False) -> dict[str, Any]:
    """Items/s of each workload through collate + forward on ``device`` (model loaded once);
    with ``end_to_end`` also a full embed run of the same manifest (read to LanceDB write)."""
    import torch

    from bench import common as c

    out: dict[str, Any] = {}
    s = c.bench_settings(model_dir.parent, f"qwen3-vl:{model_dir}", device=device,
                         max_batch_items=max_batch_items)
    emb = c.load_model(s)
    out["dtype"], out["attention"] = str(emb.dtype).removeprefix("torch."), emb.attn_implementation
    for name, manifest in manifests.items():
        batches, _, decode_s = c.prepared_batches(str(manifest), s, emb)
        c.warm_up(emb, batches)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        sampler = GpuSampler.for_device(device)
        with sampler or contextlib.nullcontext():
            t0 = time.perf_counter()
            bare = c.bare_model(emb, batches)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            wall = time.perf_counter() - t0
        r = {"items": bare["items"], "batches": bare["batches"], "wall_s": round(wall, 3),
             "items_per_s": round(bare["items"] / wall, 3), "decode_s": round(decode_s, 3),
             "vs_poc": round(bare["items"] / wall / POC_ITEMS_PER_S, 3)}
        if device.startswith("cuda"):
            r["max_memory_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        if sampler:
            r.update(gpu_util_mean_pct=sampler.stats.util_mean,
                     gpu_mem_used_max_mb=sampler.stats.mem_max)
        if end_to_end:  # the whole pipeline: prep threads, pinned copies, fitted budget, write
            with tempfile.TemporaryDirectory(dir=model_dir.parent) as tmp:
                e2e = c.timed_embed(str(manifest), name, s.with_overrides(db=str(Path(tmp) / "db")))
            r["end_to_end"] = {k: e2e[k] for k in ("items", "wall_s", "items_per_s",
                                                   "gpu_util_mean_pct", "gpu_mem_used_max_mb")}
            r["end_to_end"]["vs_poc"] = round(e2e["items_per_s"] / POC_ITEMS_PER_S, 3)
        out[name] = r
    return out


def run(quick: bool, items: int | None = None, cpu_items: int = 4,
        work: Path | None = None) -> dict[str, Any]:
    import torch

    from mmindex.backends.twins.qwen3vl import build_tiny_model

    cuda = torch.cuda.is_available()
    if not cuda and quick:
        return {"skipped": "skipped: no CUDA device"}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        w = Path(tmp)
        t0 = time.perf_counter()
        model_dir = build_tiny_model(w / "qwen3-vl-2b-random", shape="2b")
        build_s = round(time.perf_counter() - t0, 1)
        if cuda:
            n = items or (32 if quick else 128)
            res = measure(model_dir, workload_manifests(w / "data", n), device="cuda",
                          end_to_end=True)
            return {"device": torch.cuda.get_device_name(0), "items": n, "build_s": build_s,
                    "poc_items_per_s": POC_ITEMS_PER_S, **res}
        manifests = workload_manifests(w / "data", cpu_items)
        res = measure(model_dir, {"text": manifests["text"], "image": manifests["image"]},
                      device="cpu", max_batch_items=cpu_items)
        return {"skipped": "skipped: no CUDA device",
                "cpu_context": {"note": "2b shape, random weights, fp32 on this CPU: context only",
                                "items": cpu_items, "build_s": build_s, **res}}
