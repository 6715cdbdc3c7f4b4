"""The Ray executor on a real local multi-node Ray cluster (a head and one worker node, started
here): Ray equals local on the sample, an actor killed mid-group, the Prefect flow (groups on
the actors, a lost actor retried by Prefect), the embed process killed and re-run, a node
removed non-gracefully; a real model (USE) on Ray; an S3 manifest that the actors read from the
plan's local copy. Marker ``ray`` (needs the ``ray`` extra):
CI runs ``pytest -m ray tests/test_ray.py``; about two minutes on 2 cores.

Faults are injected inside the Ray workers by tests/rayhook/sitecustomize.py (orders written as
files in the cluster's control folder), with the ``hash`` model for speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mmindex import index as ix
from mmindex.config import Settings
from mmindex.index import ledger
from mmindex.pipeline import run_embed

pytestmark = pytest.mark.ray
pytest_plugins = ["s3server"]
ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "manifest.jsonl"
# small groups and batches: 11 groups of 8 items, 2 batches each, every batch staged at once
SMALL = dict(model="hash", group_items=8, read_chunk_rows=4, max_batch_items=4, stage_rows=4,
             model_threads=1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from ray.cluster_utils import Cluster

    import mmindex.cluster
    from bench import netns

    if not netns.isolated():  # Ray binds its nodes to the interface address when there is one
        pytest.skip(f"the Ray tests refuse to start: {netns.why_not()}")

    control = tmp_path_factory.mktemp("ray-control")
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "PYTHONPATH", "MMINDEX_TEST_RAY_CONTROL")}
    os.makedirs("/tmp/r", exist_ok=True)  # Ray's unix sockets need a short path
    os.environ.update(RAY_TMPDIR="/tmp/r", MMINDEX_TEST_RAY_CONTROL=str(control), PYTHONPATH=(
        os.pathsep.join([str(REPO / "tests" / "rayhook"), str(REPO / "src"), str(REPO),
                         saved["PYTHONPATH"] or ""])))
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    worker = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    try:
        yield {"cluster": c, "worker": worker, "control": control, "address": c.address}
    finally:
        mmindex.cluster.shutdown()
        c.shutdown()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def ray_settings(cluster, db: Path, **kw) -> Settings:
    return Settings(db=str(db), executor="ray", ray_address=cluster["address"], ray_actors=2,
                    **SMALL, **kw)


def run_on_ray(s: Settings):
    from mmindex.cluster import RayExecutor

    return run_embed(str(SAMPLE), "s", s, executor=RayExecutor(s))


def vectors(db: Path, table: str) -> dict[str, np.ndarray]:
    t = ix.connect(Settings(db=str(db))).open_table(table).to_arrow()
    ids = t.column("id").to_pylist()
    assert len(ids) == len(set(ids)), "an id is in the index twice"
    return dict(zip(ids, np.stack(t.column("vector").to_numpy(zero_copy_only=False)),
                    strict=True))


def assert_same_vectors(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for k, v in want.items():
        cos = float(np.dot(got[k], v) / (np.linalg.norm(got[k]) * np.linalg.norm(v)))
        assert cos >= 0.999999, (k, cos)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    db = tmp_path_factory.mktemp("local") / "db"
    r = run_embed(str(SAMPLE), "s", Settings(db=str(db), **SMALL))
    versions = len(ix.connect(Settings(db=str(db))).open_table(r.table).list_versions())
    return {"db": db, "result": r, "vectors": vectors(db, r.table), "versions": versions}


def test_every_ray_node_is_on_loopback(cluster):
    import ipaddress

    ray.init(address=cluster["address"], include_dashboard=False, ignore_reinit_error=True)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert len(nodes) == 2, nodes
    for n in nodes:
        assert ipaddress.ip_address(n["NodeManagerAddress"]).is_loopback, n["NodeManagerAddress"]
    # the driver and the GCS too
    assert ipaddress.ip_address(ray.util.get_node_ip_address()).is_loopback
    assert ipaddress.ip_address(cluster["address"].rsplit(":", 1)[0]).is_loopback


def test_ray_equals_local_on_the_sample_with_one_commit(cluster, local_run, tmp_path):
    from mmindex.cluster import pool_for

    s = ray_settings(cluster, tmp_path / "db")
    r = run_on_ray(s)
    assert len({w["node_id"] for w in pool_for(s).where}) == 2  # an actor on each node
    assert (r.embedded, r.inserted, r.rows, r.quarantined) == (84, 84, 84, 0)
    assert_same_vectors(vectors(tmp_path / "db", r.table), local_run["vectors"])
    db = ix.connect(s)
    tbl = db.open_table(r.table)
    # one commit: the same table history as the local run (create, pieces, FTS), none per batch
    assert tbl.version == r.version and len(tbl.list_versions()) == local_run["versions"]
    assert not ix.table_exists(db, "_staging__" + r.table)
    run = [x for x in ledger.runs(db, "s") if x["run_id"] == r.run_id][-1]
    assert run["status"] == "committed" and run["version"] == r.version
    # the actors' batch stats reach the run's throughput: the same batches as the local run
    local_batches = local_run["result"].throughput.batches
    assert (r.throughput.items, r.throughput.batches) == (84, local_batches)

    again = run_on_ray(s)  # unchanged: nothing embedded, no new version, no staging left
    assert (again.embedded, again.skipped_unchanged, again.version) == (0, 84, r.version)
    assert not ix.table_exists(db, "_staging__" + r.table)


def test_actors_on_the_plans_host_read_an_s3_manifest_from_its_copy(cluster, s3_server,
                                                                    s3_bucket, tmp_path):
    import logging

    from mmindex.cluster import RayExecutor

    data = "".join(json.dumps({"id": f"r{k}", "text": f"row {k}"}) + "\n" for k in range(200))
    uri = s3_server.put(f"{s3_bucket}/m.jsonl", data.encode())
    gets: list[str] = []  # the moto server (a thread here) logs every request it answers

    class Requests(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "GET /" in (msg := record.getMessage()) and "/m.jsonl" in msg:
                gets.append(msg)

    handler = Requests()
    logging.getLogger("werkzeug").addHandler(handler)
    try:
        kw = dict(group_items=20, read_chunk_rows=10, storage_options=s3_server.storage_options,
                  cache_dir=tmp_path / "cache")
        local = run_embed(uri, "s", Settings(db=str(tmp_path / "local"), model="hash", **kw))
        assert local.rows == 200
        s = Settings(db=str(tmp_path / "db"), executor="ray", ray_address=cluster["address"],
                     ray_actors=2, model="hash", model_threads=1, **kw)
        plans: list[int] = []

        def counted(plan, progress):  # the plan's pass is over: count the actors' reads
            plans.append(len(gets))
            return RayExecutor(s)(plan, progress)

        r = run_embed(uri, "s", s, executor=counted)
    finally:
        logging.getLogger("werkzeug").removeHandler(handler)
    assert (r.embedded, r.rows) == (200, 200)
    assert_same_vectors(vectors(tmp_path / "db", r.table), vectors(tmp_path / "local", r.table))
    assert plans[0] >= 1 and len(gets) == plans[0]  # 10 groups, 2 actors: not one GET more
    assert list((tmp_path / "cache" / "spool").iterdir()) == []


def test_an_actor_killed_mid_group_is_replaced_and_its_group_retried(cluster, local_run,
                                                                    tmp_path):
    from mmindex.cluster import pool_for

    s = ray_settings(cluster, tmp_path / "db")
    pool = pool_for(s)
    before = {ray.get(a.where.remote())["pid"] for a in pool.actors}
    (cluster["control"] / "kill").write_text("")  # the first actor to batch again: os._exit(1)
    r = run_on_ray(s)
    assert list(cluster["control"].glob("kill.claimed-by-*")), "no actor died"
    after = {where(a)["pid"] for a in pool.actors}
    assert len(after - before) == 1  # Ray started a replacement process
    assert r.rows == 84 and r.embedded + r.reused_staged == 84
    assert_same_vectors(vectors(tmp_path / "db", r.table), local_run["vectors"])


def test_the_prefect_flow_dispatches_groups_to_actors_and_retries_a_lost_one(
        cluster, local_run, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.testing.utilities import prefect_test_harness

    from flows.embed import embed

    for k, v in SMALL.items():
        monkeypatch.setenv(f"MMINDEX_{k.upper()}", str(v))
    monkeypatch.setenv("MMINDEX_RAY_ACTORS", "2")
    killed = len(list(cluster["control"].glob("kill.claimed-by-*")))
    (cluster["control"] / "kill").write_text("")  # one actor dies mid-group: Prefect retries
    with prefect_test_harness(server_startup_timeout=120):
        r = embed(source=str(SAMPLE), index="s", model="hash", db=str(tmp_path / "db"),
                  run_evaluation=False, executor="ray", ray_address=cluster["address"])

        async def task_runs():
            async with get_client() as client:
                return await client.read_task_runs()
        import asyncio

        runs = asyncio.run(task_runs())
    assert len(list(cluster["control"].glob("kill.claimed-by-*"))) == killed + 1
    names = sorted(x.name for x in runs)
    groups = [n for n in names if n.startswith("embed-batch-group-")]
    assert len(groups) == 11 and "plan-embed-run" in " ".join(names)
    assert "commit-index-version" in " ".join(names)
    # the lost group's task run failed once with WorkerLostError and was retried by Prefect
    assert sum(x.run_count for x in runs if x.name in groups) == 12
    assert r["rows"] == 84 and r["embedded"] + r["reused_staged"] == 84
    assert_same_vectors(vectors(tmp_path / "db", r["table"]), local_run["vectors"])


def where(actor, wait_s: float = 60) -> dict:
    """Where an actor runs, once it answers (a restarted one takes a few seconds)."""
    from ray.exceptions import ActorUnavailableError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return ray.get(actor.where.remote(), timeout=wait_s)
        except ActorUnavailableError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def staged_rows(db: Path, table: str) -> int:
    d = ix.connect(Settings(db=str(db)))
    name = "_staging__" + table
    return d.open_table(name).count_rows() if ix.table_exists(d, name) else 0


def test_the_embed_process_killed_then_rerun_loses_and_doubles_nothing(cluster, local_run,
                                                                      tmp_path):
    import mmindex.cluster

    mmindex.cluster.shutdown(leave=False)  # this process's actors make room for the child's
    db, table = tmp_path / "db", local_run["result"].table
    env = {**os.environ, "MMINDEX_GROUP_ITEMS": "8", "MMINDEX_READ_CHUNK_ROWS": "4",
           "MMINDEX_MAX_BATCH_ITEMS": "4", "MMINDEX_STAGE_ROWS": "4", "MMINDEX_RAY_ACTORS": "2"}
    cmd = [sys.executable, "-m", "mmindex", "embed", str(SAMPLE), "--index", "s", "--model",
           "hash", "--db", str(db), "--executor", "ray", "--ray-address", cluster["address"],
           "--no-prefect", "--json"]
    (cluster["control"] / "slow").write_text("0.4")
    try:
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while staged_rows(db, table) < 8 and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        (cluster["control"] / "slow").unlink()
    assert not ix.table_exists(ix.connect(Settings(db=str(db))), table)  # nothing committed
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(done.stdout)
    assert r["rows"] == 84 and r["reused_staged"] >= 8  # what the killed run staged is reused
    assert_same_vectors(vectors(db, table), local_run["vectors"])
    runs = {x["run_id"]: x["status"] for x in ledger.runs(ix.connect(Settings(db=str(db))), "s")}
    assert sorted(runs.values()) == ["committed", "crashed"]


def test_a_node_removed_mid_run_loses_and_doubles_nothing(cluster, local_run, tmp_path, caplog):
    from mmindex.cluster import pool_for

    s = ray_settings(cluster, tmp_path / "db")
    assert len({w["node_id"] for w in pool_for(s).where}) == 2
    (cluster["control"] / "slow").write_text("0.3")
    out: dict = {}

    def embed() -> None:
        try:
            out["result"] = run_on_ray(s)
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc
    t = threading.Thread(target=embed)
    try:
        t.start()
        deadline = time.monotonic() + 120
        while staged_rows(tmp_path / "db", local_run["result"].table) < 8:
            assert t.is_alive() and time.monotonic() < deadline
            time.sleep(0.1)
        cluster["cluster"].remove_node(cluster["worker"], allow_graceful=False)
        t.join(300)
    finally:
        (cluster["control"] / "slow").unlink()
    assert "error" not in out, out.get("error")
    # the removal hit a running group: its actor was lost and the group retried
    assert "its Ray actor died" in caplog.text
    r = out["result"]
    assert r.rows == 84 and r.embedded + r.reused_staged == 84
    assert_same_vectors(vectors(tmp_path / "db", r.table), local_run["vectors"])


def test_a_real_model_on_ray_gives_the_local_vectors(cluster, tmp_path):
    # the multilingual USE (numpy, offline): the actors' one thread and the local path's two
    # must not change a vector; a pool for another model replaces the hash model's
    from mmindex.cluster import pool_for

    model = dict(model="use-multilingual", model_threads=1)
    local = run_embed(str(SAMPLE), "s", Settings(db=str(tmp_path / "local"), **model))
    s = Settings(db=str(tmp_path / "ray"), executor="ray", ray_address=cluster["address"],
                 ray_actors=2, group_items=16, read_chunk_rows=8, **model)
    r = run_on_ray(s)
    assert len(pool_for(s).actors) == 2
    assert (r.rows, r.quarantined, r.version) == (local.rows, local.quarantined, local.version)
    assert_same_vectors(vectors(tmp_path / "ray", r.table), vectors(tmp_path / "local", r.table))
