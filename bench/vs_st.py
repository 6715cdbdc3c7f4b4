"""Case ``vs_sentence_transformers``: our end-to-end run vs ``SentenceTransformer.encode``.

The same all-MiniLM-L6-v2 weights and texts (Vaswani), ``batch_size`` = our ``max_batch_items``.
``encode`` only computes vectors (nothing read from a manifest, nothing stored); our run also
reads, hashes, stages and commits to LanceDB. ratio = our items/s / encode's items/s; target
>= 1.0. encode sorts the whole list by length; we sort within windows of ``sort_window`` items.
encode runs before and after our run (sandwich); ``ratio`` uses encode's faster pass
(conservative), ``ratio_pooled`` both.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common as c
from bench.data import Skip, corpus_texts, vaswani_corpus

TARGET = 1.0


def _encode(model: Any, texts: list[str], batch_size: int) -> dict[str, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                 show_progress_bar=False)
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def run(quick: bool, docs: int | None = None, work: Path | None = None) -> dict[str, Any]:
    limit = docs if docs is not None else (2000 if quick else None)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        w = Path(tmp)
        try:
            corpus = vaswani_corpus(w, limit)
        except Skip as e:
            return {"skipped": str(e)}
        texts = corpus_texts(corpus)
        s = c.bench_settings(w, "all-minilm-l6-v2")
        emb = c.load_model(s)
        model = emb.model  # the very SentenceTransformer object our backend wraps
        model.encode(texts[:8], batch_size=8)  # warm-up
        speed = [c.speed_probe()]
        first = _encode(model, texts, s.max_batch_items)
        speed.append(c.speed_probe())
        ours = c.timed_embed(str(corpus), "bench", s, format="beir")
        speed.append(c.speed_probe())
        second = _encode(model, texts, s.max_batch_items)
        speed.append(c.speed_probe())
        wall = first["wall_s"] + second["wall_s"]
        st = {"items": len(texts), "batch_size": s.max_batch_items,
              "wall_s": round(wall / 2, 3),
              "cpu_s": round((first["cpu_s"] + second["cpu_s"]) / 2, 3),
              "items_per_s": round(2 * len(texts) / wall, 3),
              "passes": [round(len(texts) / p["wall_s"], 3) for p in (first, second)]}
        # conservative: against encode's faster pass (noise only slows a pass down)
        r = c.ratio(ours["items_per_s"], max(st["passes"]))
        return {"corpus": f"vaswani ({'all' if limit is None else limit} docs)",
                "sentence_transformers": st, "ours": ours, "ratio": r,
                "ratio_pooled": c.ratio(ours["items_per_s"], st["items_per_s"]),
                "target": TARGET, "meets_target": r >= TARGET, "speed_gflops": speed,
                "speed_change": c.speed_change(speed),
                "cpu_ratio": c.ratio(st["cpu_s"], ours["cpu_s"])}
