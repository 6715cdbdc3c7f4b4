"""``mmindex compare``: one source, several models, one table of metrics per search mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = {
    "d1": "penguins are flightless seabirds of the southern hemisphere",
    "d2": "a violin is a bowed string instrument",
    "d3": "the trumpet is a brass instrument played in orchestras",
    "d4": "photosynthesis turns light into chemical energy in plants",
    "d5": "the moon orbits the earth once a month",
    "d6": "a bicycle has two wheels and pedals",
}
QUERIES = {"q1": ("flightless bird", "d1"), "q2": ("brass instrument", "d3"),
           "q3": ("how plants make energy from light", "d4"), "q4": ("orbit of the moon", "d5")}


@pytest.fixture
def golden(tmp_path: Path) -> tuple[Path, Path, Path]:
    src = tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in DOCS.items()))
    q = tmp_path / "queries.jsonl"
    q.write_text("".join(json.dumps({"_id": k, "text": t}) + "\n"
                         for k, (t, _) in QUERIES.items()))
    r = tmp_path / "qrels.tsv"
    r.write_text("query-id\tcorpus-id\tscore\n"
                 + "".join(f"{k}\t{d}\t1\n" for k, (_, d) in QUERIES.items()))
    return src, q, r


@pytest.mark.slow
def test_compare_prints_one_table_and_writes_json(tmp_path: Path, golden) -> None:
    src, q, r = golden
    env = {**os.environ, "MMINDEX_DB": str(tmp_path / "db"), "MMINDEX_CONFIG": os.devnull}
    env.pop("PREFECT_API_URL", None)
    out = tmp_path / "compare.json"
    done = subprocess.run(
        [sys.executable, "-m", "mmindex", "compare", str(src), "--models",
         "hash,all-minilm-l6-v2,st:no-such-org/no-such-model", "--queries", str(q),
         "--qrels", str(r), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    table, _, footnote = done.stdout.partition("\n\n")
    table = table.splitlines()
    assert table[0].split()[:5] == ["model", "mode", "ndcg@10", "hit@5", "mrr@10"]
    rows = {(line.split()[0], line.split()[1]) for line in table[2:]}
    assert {("hash", m) for m in ("vector", "fts", "hybrid")} <= rows
    assert {("all-minilm-l6-v2", m) for m in ("vector", "fts", "hybrid")} <= rows
    # hybrid is the held-out figure; the one fit and scored on the same queries is labelled
    assert ("all-minilm-l6-v2", "hybrid@in-sample") in rows
    # a model whose weights are not here is reported; the others were compared all the same
    assert any(line.startswith("st:no-such-org") and "ModelUnavailableError" in line
               for line in table)

    data = json.loads(out.read_text())
    by_model = {x["model"]: x for x in data["results"]}
    minilm = by_model["all-minilm-l6-v2"]
    # a real sentence model finds every paraphrased query's document
    assert minilm["metrics"]["vector"]["hit@5"] == 1.0
    assert minilm["embedded"] == 6 and minilm["s_per_1k"] > 0
    # the model's load and its throughput apart: one figure was load-dominated on small sets
    assert minilm["load_s"] > 0 and minilm["items_per_s"] > 0
    assert table[0].split()[5:8] == ["load", "s", "items/s"]
    assert minilm["index_mib"] > 0
    # the tables went to a scratch database, not the settings' (production) one
    assert data["db"] is None and not (tmp_path / "db").exists()
    assert "scratch database, removed" in footnote and "load s:" in footnote
    assert by_model["hash"]["table"] != minilm["table"]  # each model has its own table
    assert by_model["st:no-such-org/no-such-model"]["error"].startswith("ModelUnavailableError")


def test_a_misspelt_model_fails_before_any_work(tmp_path: Path, golden) -> None:
    src, q, r = golden
    env = {**os.environ, "MMINDEX_DB": str(tmp_path / "db"), "MMINDEX_CONFIG": os.devnull}
    done = subprocess.run(
        [sys.executable, "-m", "mmindex", "compare", str(src), "--models", "hash,minilm",
         "--queries", str(q), "--qrels", str(r), "--no-prefect"], capture_output=True,
        text=True, env=env, timeout=120)
    assert done.returncode == 2 and "unknown model spec 'minilm'" in done.stderr
    assert not (tmp_path / "db").exists() or not any((tmp_path / "db").iterdir())


@pytest.mark.slow
def test_compare_flow_publishes_the_table_as_an_artifact(tmp_path: Path, golden) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.compare import compare

    src, q, r = golden
    with prefect_test_harness(server_startup_timeout=120):
        out = compare(source=str(src), models=["hash"], queries=str(q), qrels=str(r),
                      index="cmp", db=str(tmp_path / "db"))
        from prefect import get_client

        with get_client(sync_client=True) as client:
            art = client.read_latest_artifacts()
            keys = {a.key for a in art}
    assert out["results"][0]["model"] == "hash" and out["results"][0]["metrics"]
    assert "model-comparison-cmp" in keys


def test_compare_keeps_its_tables_in_a_named_db_and_refuses_the_production_one(
        tmp_path: Path, golden) -> None:
    src, q, r = golden
    env = {**os.environ, "MMINDEX_DB": str(tmp_path / "prod"), "MMINDEX_CONFIG": os.devnull}
    env.pop("PREFECT_API_URL", None)
    args = [sys.executable, "-m", "mmindex", "compare", str(src), "--models", "hash",
            "--queries", str(q), "--qrels", str(r), "--no-prefect", "--json"]
    done = subprocess.run([*args, "--db", str(tmp_path / "bakeoff")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["db"] == str(tmp_path / "bakeoff")
    import lancedb

    lancedb.connect(str(tmp_path / "bakeoff")).open_table(data["results"][0]["table"])
    assert not (tmp_path / "prod").exists()

    refused = subprocess.run([*args, "--db", str(tmp_path / "prod")], capture_output=True,
                             text=True, env=env, timeout=120)
    assert refused.returncode == 2 and "production" in refused.stderr, refused.stderr
    assert not (tmp_path / "prod").exists()
