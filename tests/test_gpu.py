"""The GPU path's CPU-checkable parts: budget fitting, nvidia-smi sampling, pinned batches, and
that a CPU run records "no GPU" (None), never a made-up figure. The CUDA branches themselves
(probe forward, pinned copies) run only on a GPU machine: ``mmindex bench`` case ``gpu``."""

from __future__ import annotations

import sys

import pytest

from mmindex.backends.device import pin, to_device
from mmindex.backends.fake import HashEmbedder
from mmindex.config import Settings
from mmindex.embed.gpu import (
    GpuSampler,
    GpuStats,
    calibrate_token_budget,
    fit_token_budget,
    parse_smi,
)
from mmindex.index import connect, ledger
from mmindex.pipeline import run_embed


def test_token_budget_fits_free_memory_within_the_users_cap():
    gib = 2**30
    # 10 GiB free, 80% usable, 100 KiB per token -> 83,886 tokens; the user's cap wins
    assert fit_token_budget(10 * gib, 100 * 1024, fraction=0.8, configured=16384) == 16384
    # 1 GiB free -> 8,388 tokens fit: lowered
    assert fit_token_budget(gib, 100 * 1024, fraction=0.8, configured=16384) == 8388
    # almost nothing free: the floor, so one long item can still form a batch (OOM split next)
    assert fit_token_budget(10 * 2**20, 100 * 1024, fraction=0.8, configured=16384) == 512
    # nothing measured: the configured budget stands
    assert fit_token_budget(gib, 0.0, fraction=0.8, configured=4096) == 4096


def test_smi_output_is_parsed_per_gpu_and_garbage_is_skipped():
    assert parse_smi("37, 1024\n 99 , 80000\n") == [(37.0, 1024.0), (99.0, 80000.0)]
    assert parse_smi("[N/A], 1024\nnot csv\n\n") == []


def test_sampler_records_the_selected_gpu_while_it_runs(tmp_path):
    script = tmp_path / "smi.py"
    script.write_text("print('10, 100'); print('70, 3000')\n")
    with GpuSampler(gpu=1, every_s=0.01, command=(sys.executable, str(script))) as s:
        while s.stats.samples < 3:
            pass
    assert s.stats.util_mean == 70.0 and s.stats.mem_max_mb == 3000.0
    assert GpuSampler.for_device("cpu") is None


def test_sampler_asks_nvidia_smi_for_the_gpu_by_the_uuid_torch_reports():
    # cuda:1 of a worker given GPUs "3,5" is physical GPU 5 only if CUDA and nvidia-smi order
    # GPUs alike; the UUID names the same GPU in both
    uuids = {"cuda:1": "GPU-5e2d", "cuda": "GPU-3a1f"}
    assert GpuSampler.for_device("cuda:1", uuid_of=uuids.get).command[-1] == "--id=GPU-5e2d"
    assert GpuSampler.for_device("cuda", uuid_of=uuids.get).command[-1] == "--id=GPU-3a1f"
    # no UUID to be had (no CUDA here): the logical index
    assert GpuSampler.for_device("cuda:2").command[-1] == "--id=2"


def test_a_failing_sampler_stops_quietly(tmp_path):
    with GpuSampler(every_s=0.01, command=(sys.executable, "-c", "raise SystemExit(9)")) as s:
        pass
    assert s.stats.samples == 0 and s.stats.util_mean is None


def test_stats_merge_across_groups():
    a, b = GpuStats(), GpuStats()
    a.add(50, 1000)
    b.add(90, 4000)
    b.add(100, 3000)
    a.merge(b)
    assert (a.samples, a.util_mean, a.mem_max_mb) == (3, 80.0, 4000)


def test_cpu_batches_are_not_pinned_and_calibration_is_skipped():
    import torch

    x = {"input_ids": torch.ones(2, 3, dtype=torch.long), "n": 2}
    assert pin(x, "cpu") is x
    moved = to_device(x, "cpu")
    assert moved["n"] == 2 and torch.equal(moved["input_ids"], x["input_ids"])
    assert calibrate_token_budget(HashEmbedder(), 16384, 0.8) is None


def test_a_cpu_run_records_no_gpu_figures_rather_than_zeros(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n')
    s = Settings(db=str(tmp_path / "db"), model="hash", cache_dir=tmp_path / "cache")
    r = run_embed(str(manifest), "idx", s)
    assert r.throughput.gpu_util_mean_pct is None and r.throughput.gpu_mem_used_max_mb is None
    runs = ledger.runs(connect(s), "idx")
    done = [x for x in runs if x["status"] == "committed"]
    assert done and done[0].get("gpu_util_mean_pct") is None and done[0]["items_per_s"] > 0


def test_a_ledger_written_by_an_older_version_gains_the_new_columns(tmp_path):
    db = connect(Settings(db=str(tmp_path / "db")))
    old = {k: v for k, v in ledger.RUN_FIELDS.items() if not k.startswith("gpu_")}
    ledger.append(db, ledger.RUNS, old, [{"run_id": "old", "items_per_s": 1.5}])
    new = [{"run_id": "new", "gpu_util_mean_pct": 64.0}]
    ledger.append(db, ledger.RUNS, ledger.RUN_FIELDS, new)
    rows = {r["run_id"]: r for r in db.open_table(ledger.RUNS).to_arrow().to_pylist()}
    assert rows["old"]["items_per_s"] == 1.5 and rows["old"]["gpu_util_mean_pct"] is None
    assert rows["new"]["gpu_util_mean_pct"] == 64.0


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_cuda_budget_is_measured_and_batches_are_pinned(tmp_path, tiny_qwen_dir):
    from mmindex.backends.qwen3vl import Qwen3VLEmbedder

    emb = Qwen3VLEmbedder(str(tiny_qwen_dir), device="cuda")
    fitted = calibrate_token_budget(emb, 1 << 30, 0.5)
    assert fitted and fitted["bytes_per_token"] > 0 and 512 <= fitted["token_budget"] < 1 << 30


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_run_fits_its_budget_and_records_gpu_figures(tmp_path, tiny_qwen_dir):
    import json
    import shutil

    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"t{i}", "text": f"item {i}"}) + "\n"
                                for i in range(64)))
    s = Settings(db=str(tmp_path / "db"), model=f"qwen3-vl:{tiny_qwen_dir}", device="cuda",
                 cache_dir=tmp_path / "cache")
    r = run_embed(str(manifest), "idx", s)
    assert r.embedded == 64 and r.throughput.peak_gpu_mb > 0
    if shutil.which("nvidia-smi"):
        assert r.throughput.gpu_mem_used_max_mb and r.throughput.gpu_mem_used_max_mb > 0
    [run] = [x for x in ledger.runs(connect(s), "idx") if x["status"] == "committed"]
    assert json.loads(run["config"])["gpu_budget"]["bytes_per_token"] > 0
