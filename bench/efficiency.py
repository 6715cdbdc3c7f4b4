"""Case ``efficiency``: does the pipeline keep the model busy?

efficiency = end-to-end items/s of ``run_embed`` (read, hash, preprocess, embed, stage, commit to
LanceDB) / items/s of the bare model (``collate`` + ``forward`` over the same items, read,
decoded and packed into the same batches beforehand). 1.0 means the pipeline costs nothing on
top of the model; the target is >= 0.90. ``vs_forward_only`` is the stricter ratio against
``forward`` alone (tokenising/patchifying excluded): on a GPU machine collate runs on CPU cores
beside the GPU, here it competes with the model for the same two cores.

Variants: ``minilm`` (all-MiniLM-L6-v2 on Vaswani) and ``qwen_mid`` (a mid-size random-weight
Qwen3-VL on text+image items: shows image decode/resize overlapping model compute).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common as c
from bench.data import Skip, image_manifest, vaswani_corpus

TARGET = 0.90


def measure(source: str, s: Any, *, format: str | None = None, profile: Path | None = None
            ) -> dict[str, Any]:
    """Bare model, end-to-end run, bare model again (in one process, the model loaded once).

    The two bare passes sandwich the run so that a change of load on the shared cores during
    the measurement hits both sides; ``efficiency`` uses the faster bare pass (conservative),
    ``efficiency_pooled`` both; ``speed_gflops`` probes the machine between phases;
    ``cpu_efficiency`` (process CPU seconds of the bare model /
    of the run) is less sensitive to other processes than the wall-clock ratio.
    """
    emb = c.load_model(s)
    batches, read_s, decode_s = c.prepared_batches(source, s, emb, format=format)
    c.warm_up(emb, batches)
    speed = [c.speed_probe()]
    first = c.bare_model(emb, batches)
    speed.append(c.speed_probe())
    if profile is not None:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        e2e = c.timed_embed(source, "bench", s, format=format)
        prof.disable()
        prof.dump_stats(str(profile))
    else:
        e2e = c.timed_embed(source, "bench", s, format=format)
    speed.append(c.speed_probe())
    bare = c.combine(first, c.bare_model(emb, batches))
    speed.append(c.speed_probe())
    bare.update(prep_read_s=round(read_s, 3), prep_decode_s=round(decode_s, 3))
    pooled = c.ratio(e2e["items_per_s"], bare["items_per_s"])
    # Noise only ever slows a pass down, so the best bare pass is the fairest reference: the
    # verdict uses it (conservative); the pooled ratio is reported beside it.
    eff = c.ratio(e2e["items_per_s"], bare["best_items_per_s"])
    return {"end_to_end": e2e, "bare_model": bare, "efficiency": eff,
            "efficiency_pooled": pooled,
            "cpu_efficiency": round(bare["cpu_s"] / 2 / e2e["cpu_s"], 4) if e2e["cpu_s"] else 0.0,
            "vs_forward_only": c.ratio(e2e["items_per_s"], bare["forward_items_per_s"]),
            "target": TARGET, "meets_target": eff >= TARGET, "speed_gflops": speed,
            "speed_change": c.speed_change(speed), "load_average": c.load_average(),
            "batch_settings": {
                "token_budget": s.token_budget, "max_batch_items": s.max_batch_items,
                "sort_window": s.sort_window, "prep_workers": s.prep_workers}}


def minilm(quick: bool, docs: int | None = None, work: Path | None = None) -> dict[str, Any]:
    """all-MiniLM-L6-v2 on Vaswani (all 11,429 docs; quick: the first 2,000)."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        w = Path(tmp)
        limit = docs if docs is not None else (2000 if quick else None)
        try:
            corpus = vaswani_corpus(w, limit)
        except Skip as e:
            return {"skipped": str(e)}
        s = c.bench_settings(w, "all-minilm-l6-v2")
        out = measure(str(corpus), s, format="beir")
        out["corpus"] = f"vaswani ({'all' if limit is None else limit} docs)"
        return out


def qwen_mid(quick: bool, items: int | None = None, shape: str = "mid",
             model_dir: str | None = None, work: Path | None = None) -> dict[str, Any]:
    """A mid-size random-weight Qwen3-VL on captioned PNGs of varying sizes (fp32 on CPU).

    ``model_dir``: use this checkpoint instead of building ``shape`` (tests pass the tiny one).
    Sizes (quick 240, full 960 items) keep the run at seconds, not a fraction of one: a run's
    fixed work (plan, ledger rows, one commit, the FTS index: ~0.1 s) must not be what the
    ratio measures.
    """
    import torch

    from bench.midmodel import build_model
    from mmindex.backends import set_model_threads

    n = items if items is not None else (240 if quick else 960)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        w = Path(tmp)
        t0 = time.perf_counter()
        model_dir = Path(model_dir) if model_dir else build_model(w / "model", shape)
        build_s = time.perf_counter() - t0
        manifest = image_manifest(w / "data", n)
        # pixel cap: 1024x1024 -> at most ~1,000 visual tokens; a batch holds 8 such items
        s = c.bench_settings(w, f"qwen3-vl:{model_dir}", max_batch_items=8)
        out = _with_overlap(measure(str(manifest), s))
        # The same with the model on one core: decoding gets the other one, as it gets the CPU
        # while the model runs on a GPU. Both sides (bare and end to end) use one thread.
        threads = torch.get_num_threads()
        one = c.bench_settings(w / "one", f"qwen3-vl:{model_dir}", max_batch_items=8,
                               model_threads=1)
        try:
            out["one_model_thread"] = _with_overlap(measure(str(manifest), one))
        finally:
            set_model_threads(threads)
        out.update(items=n, shape=shape, model_build_s=round(build_s, 1), torch_threads=threads)
        return out


def _with_overlap(out: dict[str, Any]) -> dict[str, Any]:
    e2e = out["end_to_end"]
    out["overlap"] = {"preprocess_s": e2e["preprocess_s"], "model_s": e2e["model_s"],
                      "wall_s": e2e["wall_s"], "hidden_preprocess_s": round(max(
                          0.0, e2e["preprocess_s"] + e2e["model_s"] - e2e["wall_s"]), 3)}
    return out


def run(quick: bool, **kw: Any) -> dict[str, Any]:
    """Both variants; ``kw`` may hold ``minilm`` / ``qwen_mid`` keyword dicts (tiny sizes)."""
    return {"minilm": minilm(quick, **kw.get("minilm", {})),
            "qwen_mid": qwen_mid(quick, **kw.get("qwen_mid", {}))}
