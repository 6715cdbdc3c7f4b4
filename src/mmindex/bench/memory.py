"""Case ``memory``: peak RSS of an embed run stays flat as the corpus grows.

Two runs of the ``hash`` model (no model weights, so the pipeline's own memory shows) over short
synthetic texts, each in a fresh Python process: small (10k; quick 5k) and large (200k; quick
50k) items. growth = (peak_large - peak_small) / peak_small; target < 10%. ``baseline_mb`` is the
process's RSS after imports, before the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TARGET = 0.10


def child(n: int, work: Path, model: str) -> dict[str, Any]:
    """Runs inside the fresh process: one embed run of ``n`` items; returns its numbers."""
    from mmindex import pipeline, store  # noqa: F401  (imports counted in the baseline)
    from mmindex.bench import common as c
    from mmindex.bench.data import text_manifest
    from mmindex.throughput import peak_rss_mb

    manifest = text_manifest(work / "manifest.jsonl", n)
    s = c.bench_settings(work, model)
    c.load_model(s)
    baseline = peak_rss_mb()
    out = c.timed_embed(str(manifest), "bench", s)
    out.update(n=n, baseline_mb=round(baseline, 1), peak_rss_mb=round(peak_rss_mb(), 1))
    return out


def _spawn(n: int, work: Path, model: str) -> dict[str, Any]:
    code = ("import json,sys; from pathlib import Path; from mmindex.bench.memory import child; "
            "print('BENCH-RESULT ' + json.dumps(child(int(sys.argv[1]), Path(sys.argv[2]), "
            "sys.argv[3])))")
    p = subprocess.run([sys.executable, "-c", code, str(n), str(work), model],
                       capture_output=True, text=True)
    lines = [x for x in p.stdout.splitlines() if x.startswith("BENCH-RESULT ")]
    if p.returncode or not lines:
        raise RuntimeError(f"memory child for n={n} failed (rc={p.returncode}): {p.stderr[-2000:]}")
    return json.loads(lines[-1].removeprefix("BENCH-RESULT "))


def run(quick: bool, sizes: tuple[int, int] | None = None, model: str = "hash",
        work: Path | None = None) -> dict[str, Any]:
    small, large = sizes or ((5_000, 50_000) if quick else (10_000, 200_000))
    runs = {}
    for n in (small, large):
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            runs[n] = _spawn(n, Path(tmp), model)
    a, b = runs[small]["peak_rss_mb"], runs[large]["peak_rss_mb"]
    growth = round((b - a) / a, 4)
    return {"model": model, "small": runs[small], "large": runs[large], "growth": growth,
            "target": TARGET, "meets_target": growth < TARGET}
