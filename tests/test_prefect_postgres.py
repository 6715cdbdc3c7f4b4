"""The Prefect server on PostgreSQL, as infra/ runs it on a GPU box.

A throwaway PostgreSQL cluster (Debian's binaries, loopback only) backs a real
`prefect server start`; a flow run and the bootstrap script (infra/setup-work-pool.sh) go
through its API, and the rows are read back from PostgreSQL itself.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect_server import free_port, stop, wait_healthy

pytestmark = [pytest.mark.server, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PASSWORD = "mmindex-test-pw"


def _postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin holding initdb, or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent


@dataclass
class Postgres:
    bin: Path
    port: int
    user: str = "mmindex"
    database: str = "prefect"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}:{PASSWORD}@127.0.0.1:{self.port}/{self.database}"

    def sql(self, query: str) -> list[list[str]]:
        """Rows of `query`, read with psql straight from the database."""
        out = subprocess.run(
            [self.bin / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
             "-d", self.database, "-X", "-tA", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
            env={**os.environ, "PGPASSWORD": PASSWORD},
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout
        return [line.split("\t") for line in out.splitlines() if line]


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster in a temp dir, on a free loopback port, with database `prefect`."""
    pg_bin = _postgres_bin()
    if pg_bin is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                    "(install them with: apt-get install -y postgresql)")
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="mmindex-pg-"))
    if os.geteuid() == 0:
        # initdb refuses to run as root: the cluster belongs to the `postgres` system user.
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root and there is no `postgres` user to own the cluster")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    (root / "pw").write_text(PASSWORD + "\n")
    if run_as:
        os.chown(root / "pw", owner.pw_uid, owner.pw_gid)
    pg = Postgres(bin=pg_bin, port=free_port())
    data, log = root / "data", root / "postgres.log"
    subprocess.run(
        [*run_as, pg_bin / "initdb", "-D", data, "-U", pg.user, f"--pwfile={root / 'pw'}",
         "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, timeout=120,
    )
    options = f"-h 127.0.0.1 -p {pg.port} -c unix_socket_directories='' -c fsync=off"
    subprocess.run([*run_as, pg_bin / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
                    "-o", options, "start"], check=True, capture_output=True, timeout=90)
    try:
        pg.database = "postgres"
        pg.sql("CREATE DATABASE prefect")
        pg.database = "prefect"
        yield pg
    finally:
        subprocess.run([*run_as, pg_bin / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def prefect_api(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`prefect server start` on PostgreSQL; yields the environment for its clients."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    base_env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
    }
    base_env.pop("PREFECT_API_URL", None)
    server_env = {**base_env, "PREFECT_API_DATABASE_CONNECTION_URL": postgres.url}
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [VENV_BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api_url, server, log_path, 240)  # first start migrates PostgreSQL
        yield {**base_env, "PREFECT_API_URL": api_url}
    finally:
        stop(server)


SMOKE_FLOW = '''
from prefect import flow, task
from prefect.runtime import flow_run

@task
def add(a: int, b: int) -> int:
    return a + b

@flow(name="infra-smoke")
def smoke() -> int:
    print("FLOW_RUN_ID", flow_run.id)
    return add(2, 3)

assert smoke() == 5
'''


def test_flow_run_through_the_api_is_recorded_completed_in_postgres(
    prefect_api: dict, postgres: Postgres, tmp_path: Path
) -> None:
    script = tmp_path / "smoke.py"
    script.write_text(SMOKE_FLOW)
    done = subprocess.run([sys.executable, script], env=prefect_api, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = re.search(r"FLOW_RUN_ID ([0-9a-f-]{36})", done.stdout).group(1)

    rows = postgres.sql(
        "SELECT f.name, r.state_type FROM flow_run r JOIN flow f ON f.id = r.flow_id "
        f"WHERE r.id = '{run_id}'"
    )
    assert rows == [["infra-smoke", "COMPLETED"]]
    task_states = postgres.sql(f"SELECT state_type FROM task_run WHERE flow_run_id = '{run_id}'")
    assert task_states == [["COMPLETED"]]


def test_setup_script_creates_pool_limits_and_deployments_idempotently(
    prefect_api: dict, postgres: Postgres
) -> None:
    env = {**prefect_api, "MMINDEX_INDEXES": "sample Exams_KO", "MMINDEX_TIMEZONE": "Asia/Seoul"}
    script = REPO / "infra" / "setup-work-pool.sh"

    def bootstrap() -> None:
        done = subprocess.run(["bash", script], env=env, cwd="/", capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    bootstrap()
    # Someone loosens a writer limit by hand; the next bootstrap puts it back to one writer.
    postgres.sql(
        "UPDATE concurrency_limit_v2 SET \"limit\" = 4 WHERE name = 'mmindex-writer-sample'")
    bootstrap()

    assert postgres.sql("SELECT name, type FROM work_pool WHERE name = 'mmindex-gpu'") == [
        ["mmindex-gpu", "process"]
    ]
    limits = postgres.sql(
        "SELECT name, \"limit\", active FROM concurrency_limit_v2 "
        "WHERE name LIKE 'mmindex-writer-%' ORDER BY name"
    )
    # Named as the embed flow names them (tasks.concurrency.limit_name): lowercase, dashes.
    assert limits == [["mmindex-writer-exams-ko", "1", "t"], ["mmindex-writer-sample", "1", "t"]]

    deployments = postgres.sql(
        "SELECT f.name || '/' || d.name, d.pull_steps, d.parameters, wp.name "
        "FROM deployment d JOIN flow f ON f.id = d.flow_id "
        "JOIN work_queue wq ON wq.id = d.work_queue_id "
        "JOIN work_pool wp ON wp.id = wq.work_pool_id "
        "ORDER BY 1"
    )
    assert [row[0] for row in deployments] == ["embed/nightly", "evaluate/on-demand"]
    for name, pull_steps, _parameters, pool in deployments:
        assert pool == "mmindex-gpu", name
        # Runs start in the checkout the script deployed from, where the relative paths resolve.
        assert json.loads(pull_steps) == [{
            "prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]
    # no parameters: each run takes them from its settings (MMINDEX_* on the worker win)
    assert json.loads(deployments[0][2]) == {}

    schedules = postgres.sql(
        "SELECT f.name || '/' || d.name, s.schedule, s.active FROM deployment_schedule s "
        "JOIN deployment d ON d.id = s.deployment_id JOIN flow f ON f.id = d.flow_id"
    )
    assert len(schedules) == 1, schedules  # a second bootstrap must not add a second schedule
    name, schedule, active = schedules[0]
    assert (name, active) == ("embed/nightly", "t")
    schedule = json.loads(schedule)
    assert (schedule["cron"], schedule["timezone"]) == ("0 2 * * *", "Asia/Seoul")

    # The server's scheduler turns that into runs at 02:00 Seoul time (17:00 UTC).
    deadline = time.monotonic() + 120
    while not (starts := postgres.sql(
            "SELECT to_char(r.expected_start_time AT TIME ZONE 'Asia/Seoul', 'HH24:MI') "
            "FROM flow_run r JOIN deployment d ON d.id = r.deployment_id "
            "WHERE d.name = 'nightly' AND r.state_type = 'SCHEDULED'")):
        assert time.monotonic() < deadline, "the scheduler created no embed/nightly runs"
        time.sleep(1)
    assert {start for [start] in starts} == {"02:00"}


def test_a_failed_or_crashed_nightly_posts_to_the_alert_webhook(
    prefect_api: dict, postgres: Postgres
) -> None:
    """The setup script's automation, end to end on the real server: a nightly run that ends
    Failed (and one that ends Crashed, and one the gate Rejected) makes the server POST to the
    webhook (a loopback one)."""
    from webhook import Webhook

    hook = Webhook()
    posts = hook.posts
    env = {**prefect_api, "MMINDEX_TIMEZONE": "Asia/Seoul",
           "MMINDEX_ALERT_WEBHOOK_URL":
               hook.url("/hook?token=tok-SECRET-31a"),
           "MMINDEX_ALERT_ALLOW_PRIVATE": "1"}
    try:
        done = subprocess.run(["bash", REPO / "infra" / "setup-work-pool.sh"], env=env, cwd="/",
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        assert "tok-SECRET-31a" not in done.stdout + done.stderr  # printed masked only
        script = ("from prefect import get_client\n"
                  "from prefect.states import Crashed, Failed\n"
                  "import sys\n"
                  "with get_client(sync_client=True) as c:\n"
                  "    d = c.read_deployment_by_name('embed/nightly')\n"
                  "    for state in (Failed(message='boom'), Crashed(message='killed'),\n"
                  "                  Failed(name='Rejected', message='gate rejected v9')):\n"
                  "        run = c.create_flow_run_from_deployment(d.id)\n"
                  "        c.set_flow_run_state(run.id, state, force=True)\n")
        subprocess.run([VENV_BIN / "python", "-c", script], env=env, check=True, timeout=120)
        deadline = time.monotonic() + 90
        while len(posts) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        hook.close()
    texts = [p["text"] for p in posts]
    assert len(texts) == 3, posts
    # one POST per run, whichever arrives first (the runs' names are random)
    assert sum("is Crashed: killed" in x for x in texts) == 1, texts
    assert sum("is Failed: boom" in x for x in texts) == 1, texts
    assert sum("is Rejected: gate rejected v9" in x for x in texts) == 1, texts
