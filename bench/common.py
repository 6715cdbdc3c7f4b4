"""Helpers shared by the benchmark cases: settings on a temp database, timed runs, the bare model.

"Bare model" means the backend's ``collate`` + ``forward`` on items that were read, decoded and
packed into batches *before* the clock starts (with :mod:`mmindex.embed.batching` and the run's own
budgets), so it is the best the model could do if it never waited on anything else. Pipeline
efficiency is the end-to-end items/s divided by that.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mmindex.config import Settings


class ChildError(RuntimeError):
    """A :func:`call_in_child` process failed; ``stderr`` holds its output."""

    def __init__(self, target: str, returncode: int, stderr: str):
        super().__init__(f"{target} failed in its child process (rc={returncode}): "
                         f"{stderr[-3000:]}")
        self.stderr = stderr


_RESULT = "BENCH-RESULT "


CHECKOUT = Path(__file__).resolve().parents[1]


def call_in_child(target: str, *args: Any, env: dict[str, str] | None = None,
                  cwd: Path | None = None) -> Any:
    """``module:function(*args)`` in a fresh Python process; its return value.

    Arguments and result travel as JSON. A fresh process gives clean peak-RSS figures and no
    model or import cached from an earlier measurement.

    Raises:
        ChildError: the child exited non-zero or printed no result.
    """
    module, func = target.split(":")
    # the child imports bench/ from this checkout, whatever its working directory
    code = (f"import json,sys; sys.path.insert(0, {str(CHECKOUT)!r}); "
            f"from {module} import {func}; "
            f"print({_RESULT!r} + json.dumps({func}(*json.loads(sys.argv[1]))))")
    p = subprocess.run([sys.executable, "-c", code, json.dumps(args, default=str)], env=env,
                       cwd=cwd, capture_output=True, text=True, check=False)
    lines = [x for x in p.stdout.splitlines() if x.startswith(_RESULT)]
    if p.returncode or not lines:
        raise ChildError(target, p.returncode, p.stderr)
    return json.loads(lines[-1].removeprefix(_RESULT))


def bench_settings(work: Path, model: str, **overrides: Any) -> Settings:
    """Settings for one measured run: a fresh database under ``work``, CPU unless CUDA exists."""
    return Settings(db=str(work / "db"), model=model,
                    **{"cache_dir": work / "cache", "device": "auto", **overrides})


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def load_model(s: Settings):
    """Load (and cache in-process) the run's embedder, so no measurement pays for the load.

    Also imports what a run imports lazily (LanceDB, polars: ~2 s of CPU on first import), so
    that one-time process start-up is not charged to whichever measurement happens to go first.
    """
    import lancedb  # noqa: F401
    import polars  # noqa: F401

    from mmindex.pipeline import run_embedder

    return run_embedder(s)


def timed_embed(source: str, index: str, s: Settings, **kw: Any) -> dict[str, Any]:
    """``run_embed`` with the wall time measured around the whole call (plan + groups + commit)."""
    from mmindex.pipeline import run_embed

    t0, c0 = time.perf_counter(), time.process_time()
    r = run_embed(source, index, s, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tp = r.throughput
    return {"items": r.embedded, "seen": r.seen, "skipped_unchanged": r.skipped_unchanged,
            "inserted": r.inserted, "updated": r.updated, "deleted": r.deleted,
            "quarantined": r.quarantined, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "items_per_s": round(r.embedded / wall, 3) if wall else 0.0,
            "run_wall_s": round(tp.wall_s, 3), "preprocess_s": round(tp.preprocess_s, 3),
            "model_s": round(tp.model_s, 3), "read_s": round(tp.read_s, 3),
            "write_s": round(tp.write_s, 3), "batches": tp.batches, "tokens": tp.tokens,
            "peak_rss_mb": round(tp.peak_rss_mb, 1), "gpu_util_mean_pct": tp.gpu_util_mean_pct,
            "gpu_mem_used_max_mb": tp.gpu_mem_used_max_mb}


def prepared_batches(source: str, s: Settings, emb: Any, *, format: str | None = None,
                     role: str = "document") -> tuple[list[Any], float, float]:
    """Read, decode and pack every item of ``source`` like a run does, outside any timing.

    Returns:
        (decoded batches, seconds spent reading+costing, seconds spent decoding). Each batch is
        a list of decoded items; ``collate`` is left to the timed part.
    """
    from mmindex.backends.base import LoadedItem
    from mmindex.embed.batching import iter_batches
    from mmindex.extract.media import read_blobs
    from mmindex.extract.sources import open_source

    t0 = time.perf_counter()
    src = open_source(source, format=format, storage_options=s.storage_options,
                      chunk_rows=s.read_chunk_rows)
    loaded = []
    for chunk in src.iter_chunks():
        for x in chunk:
            if hasattr(x, "reason"):  # BadRecord: a run quarantines it, the bare model skips it
                continue
            li = LoadedItem(x, read_blobs(x, storage_options=s.storage_options), len(loaded))
            li.cost = emb.estimate_cost(li)
            loaded.append(li)
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    batches = [[emb.decode(li) for li in b.entries] for b in iter_batches(
        loaded, lambda li: li.cost, token_budget=s.token_budget, pixel_budget=s.pixel_budget,
        max_items=s.max_batch_items, window=s.sort_window)]
    return batches, read_s, time.perf_counter() - t0


def bare_model(emb: Any, batches: list[list[Any]], role: str = "document") -> dict[str, Any]:
    """Time collate + forward over pre-decoded batches (forward alone is reported too)."""
    collate_s = forward_s = 0.0
    items = 0
    t_all, c_all = time.perf_counter(), time.process_time()
    for b in batches:
        t0 = time.perf_counter()
        x = emb.collate(b, role)
        t1 = time.perf_counter()
        emb.forward(x)
        t2 = time.perf_counter()
        collate_s, forward_s, items = collate_s + t1 - t0, forward_s + t2 - t1, items + len(b)
    wall, cpu = time.perf_counter() - t_all, time.process_time() - c_all
    return {"items": items, "batches": len(batches), "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "collate_s": round(collate_s, 3), "forward_s": round(forward_s, 3),
            "items_per_s": round(items / wall, 3) if wall else 0.0,
            "forward_items_per_s": round(items / forward_s, 3) if forward_s else 0.0}


def warm_up(emb: Any, batches: list[list[Any]]) -> None:
    """One small forward first: the first call pays for lazy kernels/allocations."""
    if batches:
        emb.forward(emb.collate(batches[0][:4], "document"))


def combine(*runs: dict[str, Any]) -> dict[str, Any]:
    """Several bare-model passes over the same batches as one (sums; rates recomputed)."""
    out = {k: runs[0][k] for k in ("items", "batches")}
    for k in ("wall_s", "cpu_s", "collate_s", "forward_s"):
        out[k] = round(sum(r[k] for r in runs), 3)
    n = out["items"] * len(runs)
    out["items_per_s"] = round(n / out["wall_s"], 3) if out["wall_s"] else 0.0
    out["forward_items_per_s"] = round(n / out["forward_s"], 3) if out["forward_s"] else 0.0
    out["passes"] = [r["items_per_s"] for r in runs]
    out["best_items_per_s"] = max(out["passes"])
    return out


def speed_probe(reps: int = 20) -> float:
    """GFLOP/s of a fixed float32 matmul: how fast this machine is *right now*.

    The cores here are virtual and shared: the same forward pass was measured 3x slower a few
    minutes later in the same quiet process. Probing before and after each phase shows whether
    the machine's speed changed under a comparison (then the ratio is not to be trusted).
    """
    a = np.random.default_rng(0).standard_normal((512, 512), dtype=np.float32)
    a @ a  # noqa: B018  (warm-up)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ a  # noqa: B018
    return round(reps * 2 * 512**3 / (time.perf_counter() - t0) / 1e9, 1)


def speed_change(speeds: list[float]) -> float:
    """Spread of the probes taken during a comparison: (max - min) / max."""
    return round((max(speeds) - min(speeds)) / max(speeds), 3) if speeds and max(speeds) else 0.0


def load_average() -> float:
    """1-minute load average (other processes competing for the cores skew every timing)."""
    import os

    return round(os.getloadavg()[0], 2)


def ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0
