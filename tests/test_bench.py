"""Smoke tests of the benchmark code at tiny sizes: it runs, reports, and measures the right
things. They never assert on timings (a benchmark measures; a test checks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import CASES, run_bench
from bench.data import VASWANI, clustered_vectors, text_manifest
from mmindex.errors import ConfigError


def test_run_bench_writes_json_with_machine_and_prints_table(tmp_path, capsys):
    report = run_bench(["memory"], tmp_path, quick=True,
                       overrides={"memory": {"sizes": [100, 300], "models": ["hash"]}})
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["results"].keys() == {"memory"}
    m = saved["machine"]
    assert m["cores"] >= 1 and m["cpu"] and m["ram_gib"] > 0
    assert {"torch", "transformers", "lancedb"} <= m["versions"].keys()
    mem = saved["results"]["memory"]
    assert mem["small"]["n"] == 100 and mem["large"]["n"] == 300
    assert mem["small"]["items"] == 100 and mem["large"]["items"] == 300
    assert mem["large"]["peak_rss_mb"] > mem["large"]["baseline_mb"] > 0
    out = capsys.readouterr().out
    assert "peak RSS 100 vs 300 items" in out
    assert report["results"]["memory"]["growth"] == saved["results"]["memory"]["growth"]


def test_unknown_case_is_refused_with_help(tmp_path):
    with pytest.raises(ConfigError, match="Help: choose from"):
        run_bench(["nope"], tmp_path, quick=True)
    assert "efficiency" in CASES and "gpu" in CASES


def test_a_failing_case_is_reported_not_fatal(tmp_path, capsys):
    report = run_bench(["memory"], tmp_path, quick=True,
                       overrides={"memory": {"bogus_argument": 1}})
    assert "bogus_argument" in report["results"]["memory"]["error"]
    assert "ERROR" in capsys.readouterr().out
    assert (tmp_path / "cases" / "memory.log").is_file()


def test_efficiency_compares_the_same_items_end_to_end_and_bare(tmp_path):
    from bench import common as c
    from bench.efficiency import measure

    manifest = text_manifest(tmp_path / "m.jsonl", 150)
    r = measure(str(manifest), c.bench_settings(tmp_path, "hash", max_batch_items=16))
    assert r["end_to_end"]["items"] == r["bare_model"]["items"] == 150
    assert r["end_to_end"]["batches"] == r["bare_model"]["batches"]  # same packing
    assert r["efficiency"] > 0 and r["cpu_efficiency"] > 0
    assert len(r["bare_model"]["passes"]) == 2  # bare runs before and after the run


def test_efficiency_on_qwen_images_reports_the_stage_overlap(tmp_path, tiny_qwen_dir):
    from bench.efficiency import qwen_mid

    r = qwen_mid(True, items=4, model_dir=str(tiny_qwen_dir), work=tmp_path)
    assert r["end_to_end"]["items"] == r["bare_model"]["items"] == 4
    assert r["end_to_end"]["quarantined"] == 0
    o = r["overlap"]
    assert o["preprocess_s"] > 0 and o["model_s"] > 0 and o["wall_s"] > 0
    one = r["one_model_thread"]  # the same items with the model on one core
    assert one["end_to_end"]["items"] == one["bare_model"]["items"] == 4
    assert __import__("torch").get_num_threads() == r["torch_threads"]  # restored afterwards


def test_second_night_skips_unchanged_and_embeds_only_the_changed(tmp_path):
    from bench.second_night import run

    r = run(True, n=200, model="hash", work=tmp_path)
    assert r["first"]["items"] == 200
    assert r["rerun_unchanged"]["items"] == 0 and r["rerun_unchanged"]["skipped_unchanged"] == 200
    d = r["rerun_1pct_changed"]
    assert d["items"] == r["changed_items"] == 2 and d["updated"] == 2
    assert r["rerun_ratio"] > 0


def test_search_sweep_covers_every_setting_and_exact_search_is_exact(tmp_path):
    from bench.search import SWEEP_NPROBES, SWEEP_REFINE, run

    r = run(True, rows=600, dims=32, queries=8, work=tmp_path)
    assert r["exact"]["recall@10"] == 1.0
    assert len(r["sweep"]) == len(SWEEP_NPROBES) * len(SWEEP_REFINE)
    assert all(0.0 <= x["recall@10"] <= 1.0 for x in r["sweep"])
    assert r["index"]["num_partitions"] == int(600 ** 0.5) and r["index"]["num_sub_vectors"] == 2
    assert r["recommended"] in r["sweep"]


def test_synthetic_vectors_are_unit_length_and_reproducible():
    a, b = clustered_vectors(300, 48, clusters=5), clustered_vectors(300, 48, clusters=5)
    assert a.dtype == np.float32 and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a, b)


def test_gpu_case_says_why_it_is_skipped_without_cuda(tmp_path):
    import torch

    from bench.gpu import run

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the case measures instead")
    assert run(True, work=tmp_path) == {"skipped": "skipped: no CUDA device"}


def test_gpu_workloads_embed_on_cpu_with_the_tiny_model(tmp_path, tiny_qwen_dir):
    from bench.gpu import measure, workload_manifests

    manifests = workload_manifests(tmp_path / "data", 2, size=(320, 240))
    r = measure(Path(tiny_qwen_dir), manifests, device="cpu", end_to_end=True)
    for w in ("text", "image", "video"):
        assert r[w]["items"] == 2 and r[w]["items_per_s"] > 0
        assert r[w]["end_to_end"]["items"] == 2 and r[w]["end_to_end"]["items_per_s"] > 0
        assert r[w]["end_to_end"]["gpu_util_mean_pct"] is None  # CPU: nothing sampled
    assert r["dtype"] == "float32"


@pytest.mark.skipif(not VASWANI.is_dir(), reason="needs /work/shared/data/vaswani_npl")
def test_vs_sentence_transformers_embeds_the_same_texts(tmp_path):
    from bench.vs_st import run

    r = run(True, docs=40, work=tmp_path)
    assert r["ours"]["items"] == r["sentence_transformers"]["items"] == 40
    assert r["ratio"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not VASWANI.is_dir(), reason="needs /work/shared/data/vaswani_npl")
def test_orchestration_runs_the_flow_and_direct_on_the_same_input(tmp_path):
    from bench.orchestration import run

    r = run(True, sizes=[20, 30], model="hash", work=tmp_path)
    assert [x["items"] for x in r["sizes"]] == [[20, 20], [30, 30]] and r["cold_items"] == 20
    assert r["docs"] == 30 and r["overhead"] == r["sizes"][-1]["overhead"]
    assert r["flow_cold_s"] > 0 and all(len(x["direct_s"]) == 2 for x in r["sizes"])
