"""``prefect deployment run embed/nightly`` on a real Prefect server, as an operator runs it.

One real server (SQLite), one ``python -m flows.serve``; runs are started with the Prefect CLI and
checked through the API, ``mmindex versions``, the index table itself, and the UI in headless
Chromium (screenshots land in test-output/).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from prefect_server import REPO, SCHEDULE_TZ, VENV_BIN, Served, parse_run_id
from ui_check import Browser, find_chromium
from webhook import Webhook

pytest_plugins = ["prefect_server"]  # the prefect_server / served fixtures

pytestmark = pytest.mark.server

SCREENSHOTS = REPO / "test-output"


def versions_cli(served: Served, index: str) -> subprocess.CompletedProcess:
    """``mmindex versions --index INDEX --json`` on the served database."""
    return subprocess.run([str(VENV_BIN / "mmindex"), "versions", "--index", index, "--json"],
                          env={**served.server.env, "MMINDEX_DB": str(served.db)}, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def versions(served: Served, index: str) -> dict:
    """What ``mmindex versions --index INDEX --json`` shows for the served database."""
    done = versions_cli(served, index)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def artifacts_of(served: Served, run_id: UUID) -> dict:
    """The artifacts a flow run created, by key."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with served.server.client() as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    return {a.key: a for a in found}


def table_data(artifact) -> list[dict]:
    return json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data


def index_ids(db: Path, table: str) -> list[str]:
    import lancedb

    return lancedb.connect(str(db)).open_table(table).to_arrow().column("id").to_pylist()


@pytest.fixture(scope="module")
def nightly(served: Served):
    """One ``prefect deployment run embed/nightly`` with its served defaults: the sample data,
    index ``sample``, the real all-MiniLM-L6-v2, the sample golden set. Returns the final run."""
    run_id = served.run_deployment("embed/nightly")
    return served.wait(run_id)


def test_nightly_run_commits_a_version_evaluates_it_and_publishes_artifacts(
        served: Served, nightly) -> None:
    assert nightly.parameters == {}  # the deployment pins nothing: the settings decide
    # each night's run has its own name: the index and the scheduled start, in the schedule's
    # timezone (02:00 Seoul is 02:00 in the name, not 17:00 of the day before)
    seoul = nightly.expected_start_time.astimezone(ZoneInfo(SCHEDULE_TZ))
    assert nightly.name == f"embed-sample-{seoul:%Y%m%d-%H%M}", nightly.name

    # A new committed version of the index, recorded under this flow run's id.
    info = versions(served, "sample")
    run_key = nightly.id.hex[:12]
    runs = [r for r in info["runs"] if r["run_id"] == run_key]
    assert len(runs) == 1, info["runs"]
    run = runs[0]
    assert run["status"] == "committed" and isinstance(run["version"], int), run
    assert run["model"] == "all-minilm-l6-v2" and run["embedded"] > 0
    assert run["decision"] in ("promote", "reject"), run  # the gate decided
    if run["decision"] == "promote":
        assert (info["production"]["table"], info["production"]["version"]) == (
            run["table"], run["version"])
        assert nightly.state_type.value == "COMPLETED", nightly.state.message
    else:  # a rejected night is not green (test_a_rejected_nightly_... checks it in full)
        assert (nightly.state_type.value, nightly.state.name) == ("FAILED", "Rejected")

    # The evaluate flow ran as a child of this run, on the version just committed.
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    with served.server.client() as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[nightly.id])))
        assert len(children) == 1, children
        child = children[0]
        assert client.read_flow(child.flow_id).name == "evaluate"
        assert client.read_task_run(child.parent_task_run_id).flow_run_id == nightly.id
    assert child.state.name == ("Completed" if run["decision"] == "promote" else "Rejected")
    # named by index, model (and dims) and version: two tables of one index differ
    model_dims = run["table"].split("__", 1)[1].replace("__", "-")
    assert child.name == f"evaluate-sample-{model_dims}-v{run['version']}", child.name
    assert child.parameters["version"] == run["version"]

    # The library's own log lines reach the run's logs (the UI's Logs tab).
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with served.server.client() as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(
            any_=[nightly.id])))
    library = [x for x in logs if x.name.startswith("mmindex.")]
    assert any("quarantined (unsupported_format: 2)" in x.message for x in library), \
        [(x.name, x.message) for x in logs][:40]

    # The documented artifacts, on the runs a user would open.
    arts = artifacts_of(served, nightly.id)
    assert set(arts) >= {"embed-progress-sample", "embed-throughput-sample",
                         "embed-summary-sample"}, sorted(arts)
    progress = arts["embed-progress-sample"]
    assert progress.type == "progress" and float(progress.data) == 100.0
    assert progress.description.startswith(f"done: {run['embedded']} embedded")
    throughput = {r["metric"]: r["value"] for r in table_data(arts["embed-throughput-sample"])}
    for metric in ("items/s", "tokens/s", "batch p50 (s)", "batch p95 (s)", "model (s)",
                   "wall (s)", "batches", "peak RSS (MiB)", "quarantined items"):
        assert metric in throughput, sorted(throughput)
    assert throughput["items/s"] > 0 and throughput["batches"] >= 1
    assert throughput["quarantined items"] == run["quarantined"]
    summary = arts["embed-summary-sample"].data
    assert f"New version: **{run['table']} v{run['version']}**" in summary
    word = "PASSED" if run["decision"] == "promote" else "REJECTED"
    assert f"## Gate: **{word}**" in summary and "| ndcg@10 |" in summary, summary
    assert f"gate {word if word == 'REJECTED' else 'passed'}" in \
        arts["embed-summary-sample"].description

    report = artifacts_of(served, child.id).get("evaluation-report-sample")
    assert report is not None and report.type == "markdown"
    assert f"{run['table']} v{run['version']}" in report.data
    assert ("PASS" if run["decision"] == "promote" else "FAIL") in report.data


ALERT_SCRIPT = """
import os, sys
sys.path.insert(0, os.getcwd())
from prefect.client.orchestration import get_client
from tasks.alerts import ensure_nightly_alert
with get_client(sync_client=True) as client:
    print("AUTOMATION", ensure_nightly_alert(client, sys.argv[1], allow_private=True))
"""


def test_a_rejected_nightly_ends_failed_named_rejected_and_alerts(served: Served) -> None:
    """The gate refuses a night's candidate (the hash test double scores below the floors): the
    run is not green, says why, is found by the state filters, and the alert automation that
    infra/setup-work-pool.sh creates posts it to the webhook."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )

    hook = Webhook()
    posts = hook.posts
    made = subprocess.run([str(VENV_BIN / "python"), "-c", ALERT_SCRIPT, hook.url()],
                          env=served.server.env, cwd=REPO, capture_output=True, text=True,
                          timeout=180)
    assert made.returncode == 0, made.stdout + made.stderr
    automation = UUID(made.stdout.split("AUTOMATION ")[1].split()[0])
    try:
        run = served.wait(served.run_deployment("embed/nightly", {"index": "gated",
                                                                  "model": "hash"}))
        deadline = time.monotonic() + 90
        while not posts and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        hook.close()
        with served.server.client() as client:
            client.delete_automation(automation)

    # Not green: Failed, named Rejected, the reason as the message.
    assert (run.state_type.value, run.state.name) == ("FAILED", "Rejected"), run.state
    message = run.state.message
    assert message.startswith("gate rejected gated__hash__d"), message
    assert "floor" in message and "nothing was promoted" in message, message
    with served.server.client() as client:
        [child] = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])))
        # what the UI's and the API's state filters find
        rejected = {r.id for r in client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Rejected"]))))}
    assert (child.state_type.value, child.state.name) == ("FAILED", "Rejected"), child.state
    assert child.state.message == message
    assert {run.id, child.id} <= rejected
    listed = json.loads(served.server.cli("flow-run", "ls", "--state", "Rejected", "-o", "json"))
    assert run.name in {r["name"] for r in listed}, listed  # as the docs tell operators to look

    # The summary card states the decision and the key metrics.
    summary = artifacts_of(served, run.id)["embed-summary-gated"]
    assert "gate REJECTED: gate rejected gated__hash__d" in summary.description
    assert "## Gate: **REJECTED** → rejected" in summary.data
    assert "| ndcg@10 |" in summary.data and "| hit@5 |" in summary.data, summary.data

    # The ledger agrees, and the alert reached the webhook with the run's name and reason.
    [recorded] = versions(served, "gated")["runs"]
    assert recorded["decision"] == "reject" and recorded["status"] == "committed"
    texts = [p["text"] for p in posts]
    assert texts == [f"embed/nightly failed, crashed or was rejected: mmindex nightly "
                     f"{run.name} is Rejected: {message}"], texts
    print(f"rejected nightly: {run.name}: {message}")

    chromium = find_chromium()
    if chromium is not None:  # the run's page, as an operator opens it from the alert
        with Browser(chromium) as browser:
            browser.goto(f"{served.server.url}/runs/flow-run/{run.id}")
            browser.wait_for_text([run.name, "Rejected", "gate rejected gated__hash__d"])
            browser.screenshot(SCREENSHOTS / "prefect-rejected-nightly.png")


@pytest.mark.slow
def test_mmindex_embed_prefect_exits_1_on_a_rejection_and_prints_the_result(
        served: Served) -> None:
    """``mmindex embed --prefect`` runs the same flow: the run ends Rejected on the server and the
    command still prints the run's result and exits 1 (the gate rejected), not 2 (an error)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    golden = REPO / "data" / "sample" / "golden"
    done = subprocess.run(
        [str(VENV_BIN / "mmindex"), "embed", "data/sample/manifest.jsonl", "--index",
         "gated-cli", "--model", "hash", "--prefect", "--queries", str(golden / "queries.jsonl"),
         "--qrels", str(golden / "qrels.tsv"), "--json"],
        env={**served.server.env, "MMINDEX_DB": str(served.db)}, cwd=REPO, capture_output=True,
        text=True, timeout=600)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-4000:]
    out = json.loads(done.stdout)
    assert out["evaluation"]["action"] == "rejected" and out["version"] is not None
    with served.server.client() as client:
        [run] = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(like_="embed-gated-cli-")))
    assert (run.state_type.value, run.state.name) == ("FAILED", "Rejected"), run.state
    assert run.state.message.startswith(f"gate rejected {out['table']} v{out['version']}")


@pytest.mark.slow
def test_two_concurrent_nightly_runs_on_one_index_take_turns(served: Served, tmp_path) -> None:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    manifest = tmp_path / "race.jsonl"
    good = [{"id": f"doc/{i:02d}", "text": f"Document {i} about topic {i % 5}."}
            for i in range(30)]
    bad = [{"id": "bad/empty", "text": ""}, {"id": "bad/missing", "image": "nope.png"}]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in good + bad))
    params = {"source": str(manifest), "index": "race", "model": "hash",
              "run_evaluation": False}

    # Both started at once, through the CLI, as two operators (or a cron and a human) would.
    procs = [subprocess.Popen([str(VENV_BIN / "prefect"), "deployment", "run", "embed/nightly",
                               "--params", json.dumps(params)],
                              env=served.server.env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    run_ids = [parse_run_id(p.communicate(timeout=180)[0]) for p in procs]
    runs = [served.wait(r) for r in run_ids]

    states = [r.state_type.value for r in runs]
    for r in runs:
        if r.state_type.value != "COMPLETED":  # the other legitimate outcome: a clear refusal
            assert r.state_type.value == "FAILED" and "IndexBusyError" in r.state.message, (
                r.state.message)
    assert "COMPLETED" in states, [r.state.message for r in runs]

    with served.server.client() as client:
        # One writer at a time: the runs' task windows (plan .. commit) do not overlap.
        windows = []
        for r in runs:
            if r.state_type.value == "COMPLETED":
                tasks = client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.id])))
                windows.append((min(t.start_time for t in tasks), max(t.end_time for t in tasks)))
        windows.sort()
        for (_, first_end), (second_start, _) in zip(windows, windows[1:], strict=False):
            assert first_end <= second_start, windows
        # ... and the writer slot is free again for tomorrow's nightly.
        limit = client.read_global_concurrency_limit_by_name("mmindex-writer-race")
        assert (limit.limit, limit.active_slots) == (1, 0)

    info = versions(served, "race")
    committed = [r for r in info["runs"] if r["status"] == "committed"]
    assert len(committed) == states.count("COMPLETED"), info["runs"]
    # The later run found everything already embedded by the earlier one.
    assert sorted(r["embedded"] for r in committed) == ([0, 30] if len(committed) == 2 else [30])
    assert all(r["quarantined"] == len(bad) for r in committed), committed
    table = committed[0]["table"]
    ids = index_ids(served.db, table)
    assert len(ids) == len(set(ids)) == len(good)
    assert set(ids) == {r["id"] for r in good}
    print(f"concurrent nightly runs: {states}")


@pytest.mark.slow
def test_prefect_variables_switch_the_nightly_without_a_redeploy(served: Served,
                                                                  tmp_path) -> None:
    from prefect.client.schemas.actions import VariableCreate

    manifest = tmp_path / "var.jsonl"
    manifest.write_text(json.dumps({"id": "a", "text": "alpha"}) + "\n")
    values = {"mmindex_model": "hash", "mmindex_nightly_index": "switched",
              "mmindex_nightly_source": str(manifest)}
    with served.server.client() as client:
        created = [client.create_variable(VariableCreate(name=k, value=v))
                   for k, v in values.items()]
        try:
            run = served.wait(served.run_deployment("embed/nightly",
                                                    {"run_evaluation": False}))
        finally:
            for v in created:
                client.delete_variable_by_name(v.name)
    assert run.state_type.value == "COMPLETED", run.state.message
    assert run.name.startswith("embed-switched-")
    [recorded] = versions(served, "switched")["runs"]
    assert recorded["model"] == "hash" and recorded["embedded"] == 1


@pytest.mark.slow
def test_run_fails_with_index_busy_when_another_writer_holds_the_slot(served: Served,
                                                                      tmp_path) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    manifest = tmp_path / "busy.jsonl"
    manifest.write_text(json.dumps({"id": "a", "text": "alpha"}) + "\n")
    with served.server.client() as client:
        # Another writer (this test) holds the index's only writer slot, with a lease.
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="mmindex-writer-busy", limit=1))
        held = client.increment_concurrency_slots_with_lease(
            ["mmindex-writer-busy"], 1, "concurrency", lease_duration=300).json()
        try:
            run = served.wait(served.run_deployment("embed/nightly", {
                "source": str(manifest), "index": "busy", "model": "hash",
                "run_evaluation": False, "writer_wait_s": 2}))
        finally:
            client.release_concurrency_slots_with_lease(UUID(held["lease_id"]))
    assert run.state_type.value == "FAILED"
    message = run.state.message
    assert "IndexBusyError" in message and "mmindex-writer-busy" in message, message
    assert "Help:" in message, message
    print(f"busy run: {message}")
    # nothing was written, not even a run: the index does not exist
    done = versions_cli(served, "busy")
    assert done.returncode == 2 and "no index named 'busy'" in done.stderr, done.stderr


@pytest.mark.slow
def test_ui_shows_the_runs_progress_and_throughput_artifacts(served: Served, nightly) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium not found (apt-get install -y chromium; scripts/test.sh does it)")
    arts = artifacts_of(served, nightly.id)
    progress, throughput = arts["embed-progress-sample"], arts["embed-throughput-sample"]
    rows = {r["metric"]: r["value"] for r in table_data(throughput)}
    base = served.server.url
    with Browser(chromium) as browser:
        # The page `prefect deployment run` prints, on its Artifacts tab.
        browser.goto(f"{base}/runs/flow-run/{nightly.id}")
        browser.click_text("Artifacts")
        browser.wait_for_text(["embed-progress-sample", progress.description,
                               "embed-throughput-sample", throughput.description,
                               "embed-summary-sample"])
        browser.screenshot(SCREENSHOTS / "prefect-flow-run-artifacts.png")

        # The throughput table itself, with its numbers.
        browser.goto(f"{base}/artifacts/artifact/{throughput.id}")
        text = browser.wait_for_text([throughput.description, "items/s", "tokens/s",
                                      "batch p95 (s)", "peak RSS (MiB)"])
        cells = " ".join(text.split())  # table cells come back as "items/s\n\t6.24"
        assert f"items/s {rows['items/s']} tokens/s {rows['tokens/s']}" in cells, text
        browser.screenshot(SCREENSHOTS / "prefect-throughput-artifact.png")

        browser.goto(f"{base}/artifacts/artifact/{progress.id}")
        browser.wait_for_text([progress.description, "Progress: 100%"])


PROGRESS_SCRIPT = """
import sys, time
from prefect import flow
from mmindex.embed import Counts, Progress
from tasks.artifacts import ProgressReporter, start_progress

@flow
def watch():
    art = start_progress("progress-check")
    reporter = ProgressReporter(art, every_s=0.2)
    for done in range(1, 51):
        reporter(Progress(done, 100, Counts(embedded=done)))
        time.sleep(0.02)  # the reporter's thread posts meanwhile (about every 0.2 s)
    reporter.close()
    return art

print("RESULT", watch())
"""


@pytest.mark.slow
def test_progress_is_posted_from_its_own_thread_to_the_real_server(served: Served) -> None:
    env = {**served.server.env, "PREFECT_API_URL": served.server.api_url,
           "PYTHONPATH": str(REPO)}
    done = subprocess.run([str(VENV_BIN / "python"), "-c", PROGRESS_SCRIPT], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    art = done.stdout.split("RESULT ")[1].split()[0]
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterId

    with served.server.client() as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(id=ArtifactFilterId(any_=[UUID(art)])))
    assert float(artifact.data) == 50.0  # the last state, posted by the reporter's thread
    assert artifact.description.startswith("50/100 items: 50 embedded")
    assert "progress update failed" not in done.stderr
