"""``mmindex compare`` over two-tower and Qwen3-VL twins on the shipped sample: every model's
table rows, the part vector modes beside the item vector for the two-tower ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmindex.config import Settings

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
MODELS = ["tiny-clip", "tiny-siglip", "tiny-qwen3-vl"]
PART_MODES = {"text-vector", "image-vector", "fused-vector"}


@pytest.fixture
def small_sample(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The first 12 sample items (images and captions) and the golden queries about them."""
    rows = [json.loads(x) for x in (SAMPLE / "manifest.jsonl").read_text().splitlines()][:12]
    for r in rows:  # media stay in the sample folder (a data root, below)
        r["image"] = str(SAMPLE / r["image"])
    src = tmp_path / "manifest.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    ids = {r["id"] for r in rows}
    qrels = [line.split("\t") for line in (SAMPLE / "golden" / "qrels.tsv").read_text()
             .splitlines()[1:]]
    kept = [q for q in qrels if q[1] in ids]
    wanted = {q[0] for q in kept}
    queries = [json.loads(x) for x in (SAMPLE / "golden" / "queries.jsonl").read_text()
               .splitlines()]
    for x in queries:  # image queries: paths are relative to the queries file
        if x.get("image"):
            x["image"] = str(SAMPLE / "golden" / x["image"])
    q, r = tmp_path / "queries.jsonl", tmp_path / "qrels.tsv"
    q.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in queries
                         if x["_id"] in wanted))
    r.write_text("query-id\tcorpus-id\tscore\n" + "".join("\t".join(x) + "\n" for x in kept))
    return src, q, r


def test_compare_two_tower_and_qwen_twins(tmp_path: Path, small_sample, tiny_qwen_dir) -> None:
    import torch

    from mmindex.compare import compare_models

    src, q, r = small_sample
    (tmp_path / "cache").mkdir()  # the session's tiny Qwen3-VL (conftest), not a second build
    (tmp_path / "cache" / "tiny-qwen3-vl").symlink_to(tiny_qwen_dir, target_is_directory=True)
    s = Settings(db=str(tmp_path / "db"), cache_dir=tmp_path / "cache", device="cpu",
                 media_roots=[str(SAMPLE)], model_threads=1)
    before = torch.get_num_threads()
    try:
        report = compare_models(s, str(src), MODELS, queries=str(q), qrels=str(r))
    finally:
        torch.set_num_threads(before)
    by_model = {x.model: x for x in report.results}
    assert list(by_model) == MODELS
    for name, res in by_model.items():
        assert res.error is None and res.embedded == 12, (name, res.error)
        assert {"vector", "fts", "hybrid"} <= set(res.metrics)
        assert all(0.0 <= v <= 1.0 for m in res.metrics.values() for v in m.values())
    for name in ("tiny-clip", "tiny-siglip"):  # two towers: parts on by default, side by side
        assert PART_MODES <= set(by_model[name].metrics)
    assert not PART_MODES & set(by_model["tiny-qwen3-vl"].metrics)  # auto: off for Qwen3-VL
    # each model has its own table; the printed table has a row per model and mode
    assert len({x.table for x in report.results}) == 3
    lines = [line.split()[:2] for line in report.to_text().splitlines()[2:]]
    assert ["tiny-siglip", "fused-vector"] in lines and ["tiny-qwen3-vl", "vector"] in lines


@pytest.mark.slow
def test_compare_cli_over_the_whole_sample(tmp_path: Path) -> None:
    """The acceptance run: the shipped sample, the three twins, the CLI (about 20-60 s here)."""
    env = {**os.environ, "MMINDEX_DB": str(tmp_path / "db"), "MMINDEX_CONFIG": os.devnull,
           "MMINDEX_CACHE_DIR": str(tmp_path / "cache"), "MMINDEX_MODEL_THREADS": "1"}
    env.pop("PREFECT_API_URL", None)
    out = tmp_path / "compare.json"
    done = subprocess.run(
        [sys.executable, "-m", "mmindex", "compare", str(SAMPLE / "manifest.jsonl"),
         "--models", ",".join(MODELS), "--queries", str(SAMPLE / "golden" / "queries.jsonl"),
         "--qrels", str(SAMPLE / "golden" / "qrels.tsv"), "--out", str(out), "--no-prefect"],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    table = done.stdout.split("\n\n")[0].splitlines()[2:]  # the table, then its footnote
    rows = {(line.split()[0], line.split()[1]) for line in table}
    assert {(m, "hybrid") for m in MODELS} <= rows
    assert ("tiny-clip", "fused-vector") in rows and ("tiny-siglip", "image-vector") in rows
    data = {x["model"]: x for x in json.loads(out.read_text())["results"]}
    # 84 items; the clip-only models quarantine nothing: the video item has a caption
    assert all(data[m]["seen"] == 84 and data[m]["error"] is None for m in MODELS)
    assert data["tiny-clip"]["embedded"] == 84
