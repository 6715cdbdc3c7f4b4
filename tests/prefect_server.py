"""A real Prefect server and the project's served deployments, for end-to-end tests.

``prefect_server`` (session) runs ``prefect server start`` on a free loopback port with SQLite in
a temp ``PREFECT_HOME``; ``served`` (session) runs ``python -m flows.serve`` from the repo root
against it, with the index database in a temp dir, and waits for ``embed/nightly`` and
``evaluate/on-demand``. Runs are started the way a user starts them: ``prefect deployment run``.
Register the module in a test module to use them: ``pytest_plugins = ["prefect_server"]``.
Its helpers are imported at module level too, so pytest cannot rewrite its asserts (their
messages are explicit): PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DEPLOYMENTS = ("embed/nightly", "evaluate/on-demand")
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
SCHEDULE_TZ = "Asia/Seoul"  # the served deployments' `timezone` setting


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(proc: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM the process group started for ``proc`` (it was started in its own session)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def wait_for(ready, proc: subprocess.Popen, log_path: Path, timeout_s: float, what: str) -> None:
    """Poll ``ready()`` until it is true; fail with the process's log if it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what}:\n{tail(log_path)}")
        time.sleep(0.5)


def wait_healthy(api_url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    """Wait until ``{api_url}/health`` answers 200."""
    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    wait_for(healthy, proc, log_path, timeout_s, f"prefect server did not come up at {api_url}")


@dataclass
class PrefectServer:
    """A running server: its URLs and the environment its clients (CLI, serve) need."""

    url: str  # the UI, e.g. http://127.0.0.1:4321
    api_url: str
    env: dict[str, str]
    home: Path

    def client(self):
        """A synchronous Prefect client for this server (no global settings touched)."""
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.api_url)

    def cli(self, *args: str, timeout_s: float = 120, env: dict | None = None) -> str:
        """Run ``prefect ARGS`` as a user would; its stdout, or fail with its output."""
        done = subprocess.run([str(VENV_BIN / "prefect"), *args], env=env or self.env,
                              cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout


def client_env(home: Path) -> dict[str, str]:
    """The parent environment minus anything that could point children elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "MMINDEX_"))}
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
        "PREFECT_CLI_COLORS": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # No user mmindex.toml leaks in: the test's settings are the defaults plus env below.
        "MMINDEX_CONFIG": str(home / "no-mmindex.toml"),
    })
    return env


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """``prefect server start`` (SQLite) on a free port; stopped at the end of the session."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    url, api_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api"
    env = client_env(home)
    server_env = {
        **env,
        # Without this the UI calls the default port 4200, not --port (/ui-settings).
        "PREFECT_UI_API_URL": api_url,
        # The nightly's cron schedule must not add runs of its own in the middle of a test.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    }
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            env=server_env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_healthy(api_url, server, log_path, 180)  # ~5 s idle; longer on a loaded 2-core box
        yield PrefectServer(url=url, api_url=api_url, env={**env, "PREFECT_API_URL": api_url},
                            home=home)
    finally:
        stop(server)


@dataclass
class Served:
    """The ``python -m flows.serve`` process and the index database its runs write to."""

    server: PrefectServer
    db: Path
    log: Path
    proc: subprocess.Popen

    def run_deployment(self, name: str, params: dict[str, Any] | None = None) -> UUID:
        """``prefect deployment run NAME [--params JSON]``; the new flow run's id."""
        args = ["deployment", "run", name]
        if params:
            args += ["--params", json.dumps(params)]
        return parse_run_id(self.server.cli(*args))

    def wait(self, run_id: UUID, timeout_s: float = 600):
        """Poll until the flow run is final; the run. Fails with the serve log on a hang."""
        deadline = time.monotonic() + timeout_s
        with self.server.client() as client:
            while True:
                run = client.read_flow_run(run_id)
                if run.state_type is not None and run.state_type.value in FINAL:
                    return run
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"flow run {run_id} still {run.state_type} (serve exited: "
                                f"{self.proc.poll()}):\n{tail(self.log)}")
                time.sleep(1)


def parse_run_id(cli_output: str) -> UUID:
    """The flow run id from ``prefect deployment run``'s output (``└── UUID: ...``)."""
    found = re.search(r"UUID: ([0-9a-f-]{36})", cli_output)
    assert found, f"no flow run id in:\n{cli_output}"
    return UUID(found.group(1))


@pytest.fixture(scope="session")
def served(prefect_server: PrefectServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``python -m flows.serve`` from the repo root; waits until both deployments exist."""
    from prefect.exceptions import ObjectNotFound

    db = tmp_path_factory.mktemp("mmindex-db") / "db"
    env = {**prefect_server.env, "MMINDEX_DB": str(db),
           # the nightly's schedule (and so its run names) in Seoul time, as mmindex.toml has it
           "MMINDEX_TIMEZONE": SCHEDULE_TZ,
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}  # default 10 s between polls for runs
    log_path = prefect_server.home / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "flows.serve"], env=env, cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    served = Served(server=prefect_server, db=db, log=log_path, proc=proc)
    try:
        with prefect_server.client() as client:
            def registered() -> bool:
                try:
                    for name in DEPLOYMENTS:
                        client.read_deployment_by_name(name)
                except ObjectNotFound:
                    return False
                return True

            wait_for(registered, proc, log_path, 180,
                     f"flows.serve did not register {list(DEPLOYMENTS)}")
        yield served
    finally:
        stop(proc)
