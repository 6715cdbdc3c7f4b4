"""Case ``second_night``: re-running over an unchanged source is cheap; a 1% change costs ~1%.

Three runs into one database with all-MiniLM-L6-v2 on short synthetic texts: the first run
(everything new), a re-run over the same manifest (target: < 5% of the first's wall time), and a
run where 1% of the items changed text (reported: its wall time / the first's, and embedded
items). N is 100,000 unless the measured speed says the first run would not fit in
``budget_s``; then N is cut to fit and the 100k figure is extrapolated (both reported).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from bench import common as c
from bench.data import text_manifest

TARGET = 0.05
FULL_N = 100_000


def _calibrate(s: Any, work: Path, n: int = 1000) -> float:
    """Items/s of a small end-to-end run (its own database): sizes the real measurement."""
    manifest = text_manifest(work / "calib.jsonl", n, seed=99)
    out = c.timed_embed(str(manifest), "calibrate", s)
    return out["items_per_s"]


def run(quick: bool, n: int | None = None, model: str = "all-minilm-l6-v2",
        budget_s: float = 900.0, work: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        w = Path(tmp)
        s = c.bench_settings(w, model)
        c.load_model(s)
        calib = None
        if n is None:
            if quick:
                n = 5_000
            else:
                calib = _calibrate(s, w)
                fit = int(calib * budget_s) // 1000 * 1000
                n = max(5_000, min(FULL_N, fit))
        manifest = w / "manifest.jsonl"
        text_manifest(manifest, n)
        first = c.timed_embed(str(manifest), "night", s)
        again = c.timed_embed(str(manifest), "night", s)
        changed = set(random.Random(5).sample(range(n), max(1, n // 100)))
        text_manifest(manifest, n, changed=changed)
        delta = c.timed_embed(str(manifest), "night", s)
        rerun = c.ratio(again["wall_s"], first["wall_s"])
        out = {"model": model, "n": n, "first": first, "rerun_unchanged": again,
               "rerun_1pct_changed": delta, "rerun_ratio": rerun,
               "changed_ratio": c.ratio(delta["wall_s"], first["wall_s"]),
               "changed_items": len(changed), "target": TARGET, "meets_target": rerun < TARGET}
        if calib is not None:
            out["calibration_items_per_s"] = calib
        if n < FULL_N:
            out["extrapolated_first_100k_s"] = round(first["wall_s"] * FULL_N / n, 1)
        return out
