"""infra/ is what a team runs on a GPU box: every file must parse, agree with the others, and
point at flows, parameters, pins and paths that really exist in this repository."""

from __future__ import annotations

import configparser
import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

pytest_plugins = ["prefect_server"]

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
POOL = "mmindex-gpu"
EXPECTED_DEPLOYMENTS = {"embed/nightly", "evaluate/on-demand"}
# The box layout shared by the image, compose and the systemd units.
WORKER_PATHS = {
    "MMINDEX_REPO_DIR": "/opt/mmindex",
    "MMINDEX_DB": "/var/lib/mmindex/db",
    "MMINDEX_CACHE_DIR": "/var/lib/mmindex/cache",
    "HF_HOME": "/var/lib/mmindex/huggingface",
    "HF_HUB_OFFLINE": "1",
}


def _yaml(name: str) -> dict:
    return yaml.safe_load((INFRA / name).read_text())


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock_pins() -> dict[str, str]:
    """requirements.lock, name -> version (names normalised as pip does)."""
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock line {line!r} is not an exact pin"
            pins[_norm(name)] = version.strip()
    return pins


def _project_pins() -> dict[str, str]:
    """The runtime dependencies of pyproject.toml (compatible ranges) at their locked versions:
    the core and the extras a worker runs with, plus Prefect's workaround pins, which live in the
    lock only."""
    from packaging.requirements import Requirement

    lock = _lock_pins()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # a worker embeds with the models in the flows, on S3 too, and scales out on Ray
    # (infra/docker-compose.ray.yml): every extra but the test tools
    extras = project["optional-dependencies"]
    deps = project["dependencies"] + [dep for extra in ("models", "write", "prefect", "s3", "ray",
                                                        "stats")
                                      for dep in extras[extra]]
    pins = {}
    for dep in deps:
        req = Requirement(dep)
        name = _norm(req.name)
        if name == "mmindex":  # an extra made of other extras (gpu = mmindex[models])
            continue
        assert name in lock, f"pyproject dependency {name} is not in requirements.lock"
        assert req.specifier.contains(lock[name]), (
            f"requirements.lock pins {name}=={lock[name]}, outside pyproject's {req.specifier}")
        pins[name] = lock[name]
    for name in ("fastapi", "sqlalchemy"):  # newer ones break Prefect 3.8.8 (see the lock)
        pins[name] = lock[name]
    return pins


def _dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage (`name` from `FROM ... AS name`), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (INFRA / "Dockerfile").read_text())
    stages: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        assert keyword in {"ARG", "FROM", "RUN", "ENV", "COPY", "WORKDIR", "USER", "EXPOSE",
                           "ENTRYPOINT", "CMD", "LABEL"}, f"unknown Dockerfile line: {line}"
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest.strip(), re.IGNORECASE)
            assert match, f"every stage is named: {line}"
            current = match.group(2)
            stages[current] = []
        stages[current].append((keyword, rest.strip()))
    return stages


def _unit(name: str) -> tuple[configparser.ConfigParser, dict[str, str]]:
    """A systemd unit as (sections, Environment= values merged in order)."""
    text = (INFRA / "systemd" / name).read_text()
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(text)
    env = {}
    for line in text.splitlines():
        if line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").partition("=")
            env[key] = value
    return parser, env


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"{path.name}: bad line {line!r}"
            values[key] = value
    return values


# --- every file parses ---------------------------------------------------------------------

def test_every_infra_file_parses() -> None:
    files = sorted(p for p in INFRA.rglob("*") if p.is_file())
    kinds = {p.relative_to(INFRA).as_posix() for p in files}
    assert {"prefect.yaml", "docker-compose.yml", "Dockerfile", ".env.example",
            "setup-work-pool.sh", "README.md", "systemd/prefect-server.service",
            "systemd/mmindex-worker@.service"} <= kinds
    for path in files:
        if path.suffix in {".yaml", ".yml"}:
            assert isinstance(yaml.safe_load(path.read_text()), dict), path
        elif path.suffix == ".sh":
            done = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
        elif path.suffix == ".service":
            assert {"Unit", "Service", "Install"} <= set(_unit(path.name)[0].sections()), path
        elif path.name.endswith(".env.example"):
            assert _env_file(path), path
    assert _dockerfile_stages().keys() >= {"server", "worker"}


# --- prefect.yaml --------------------------------------------------------------------------

def _deployments() -> dict[str, dict]:
    config = _yaml("prefect.yaml")
    flow_names = {"flows/embed.py:embed": "embed", "flows/evaluate.py:evaluate": "evaluate"}
    return {f"{flow_names[d['entrypoint']]}/{d['name']}": d for d in config["deployments"]}


def test_prefect_yaml_is_valid_for_prefects_own_models() -> None:
    from prefect.cli.deploy._models import PrefectYamlModel, RawScheduleConfig

    raw = _yaml("prefect.yaml")
    # The CLI validates with this model and, on failure, silently deploys *nothing*.
    model = PrefectYamlModel.model_validate(raw)
    assert len(model.deployments) == len(raw["deployments"]) == 2
    assert set(_deployments()) == EXPECTED_DEPLOYMENTS
    for deployment in model.deployments:
        assert deployment.work_pool.name == POOL
        assert deployment.description and deployment.tags and "mmindex" in deployment.tags
        for schedule in deployment.schedules or []:
            RawScheduleConfig.model_validate(schedule.model_dump(exclude_none=True))
    pull = raw["pull"]
    assert pull == [{"prefect.deployments.steps.set_working_directory":
                     {"directory": "{{ $MMINDEX_REPO_DIR }}"}}]


def test_nightly_schedule_comes_from_the_settings_and_is_a_valid_cron(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.utilities.templating import apply_values

    from mmindex.config import load_settings

    # one place: the settings (the checkout's mmindex.toml) say when the nightly runs
    monkeypatch.setenv("MMINDEX_CONFIG", str(REPO / "mmindex.toml"))
    s = load_settings()
    env = _env_file(INFRA / ".env.example")
    assert (env["MMINDEX_NIGHTLY_CRON"], env["MMINDEX_TIMEZONE"]) == (s.nightly_cron, s.timezone)
    deployments = _deployments()
    assert deployments["evaluate/on-demand"].get("schedules") in (None, [])
    [schedule] = deployments["embed/nightly"]["schedules"]
    # As `prefect deploy` does: `{{ $VAR }}` placeholders are filled from the environment,
    # which infra/setup-work-pool.sh fills from `mmindex config`.
    monkeypatch.setenv("MMINDEX_NIGHTLY_CRON", s.nightly_cron)
    monkeypatch.setenv("MMINDEX_TIMEZONE", s.timezone)
    schedule = apply_values(schedule, {}, remove_notset=False)
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # validates both
    assert (cron.cron, cron.timezone) == ("0 2 * * *", "Asia/Seoul")


@pytest.mark.parametrize("name", sorted(EXPECTED_DEPLOYMENTS))
def test_entrypoint_loads_the_named_flow_and_parameters_fit_its_signature(name: str) -> None:
    from prefect.flows import load_flow_from_entrypoint

    deployment = _deployments()[name]
    path, _, func = deployment["entrypoint"].partition(":")
    assert (REPO / path).is_file(), f"{path} is missing: the deployment {name} cannot load"
    flow = load_flow_from_entrypoint(f"{REPO / path}:{func}")
    assert flow.name == name.split("/")[0]

    signature = inspect.signature(flow.fn).parameters
    parameters = deployment["parameters"]
    unknown = set(parameters) - set(signature)
    assert not unknown, f"{name} passes parameters its flow does not take: {unknown}"
    required = {p for p, v in signature.items() if v.default is inspect.Parameter.empty}
    assert required <= set(parameters), f"{name} runs without required {required - set(parameters)}"
    # Types too, as the server checks them (enforce_parameter_schema).
    flow.validate_parameters(parameters)
    # no parameter pins a value the settings should decide (MMINDEX_MODEL must win)
    assert parameters == {}, f"{name} pins {parameters}: the settings decide these"


# --- docker-compose.yml and the Dockerfile -------------------------------------------------

def test_compose_runs_prefect_on_postgres_and_the_worker_on_a_gpu() -> None:
    compose = _yaml("docker-compose.yml")
    services = compose["services"]
    assert {"postgres", "prefect-server", "setup", "worker"} <= set(services)
    assert "pgdata" in services["postgres"]["volumes"][0] and "healthcheck" in services["postgres"]

    server = services["prefect-server"]
    assert server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith(
        "postgresql+asyncpg://")
    assert "@postgres:5432/" in server["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/api/health" in " ".join(server["healthcheck"]["test"])

    worker = services["worker"]
    [device] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    env = worker["environment"]
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    for key, value in WORKER_PATHS.items():
        assert re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(env[key])) == value, key
    mounts = {volume.split(":")[-1] for volume in worker["volumes"]}
    assert {WORKER_PATHS["MMINDEX_DB"], WORKER_PATHS["HF_HOME"]} <= mounts
    assert worker["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert services["setup"]["entrypoint"][-1] == "/opt/mmindex/infra/setup-work-pool.sh"

    # Every ${VAR} the file reads is documented in .env.example.
    used = set(re.findall(r"\$\{(\w+)", (INFRA / "docker-compose.yml").read_text()))
    documented = set(_env_file(INFRA / ".env.example"))
    assert used <= documented, used - documented


def _compose_cli() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_accepts_the_file_with_the_example_env(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` (v2 plugin) nor `docker-compose` is installed")
    text = (INFRA / "docker-compose.yml").read_text()
    if cli == ["docker-compose"]:
        # Compose v1 predates the top-level `name:` key; everything else is validated as is.
        text = re.sub(r"(?m)^name: .*\n", "", text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGRES_")}

    def config(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cli, *args, "-f", "-", "--project-directory", str(INFRA),
                               "config"], input=text, env=env, capture_output=True, text=True,
                              timeout=60)

    done = config("--env-file", str(INFRA / ".env.example"))
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    server_env = rendered["services"]["prefect-server"]["environment"]
    url = server_env["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url == "postgresql+asyncpg://prefect:change-me@postgres:5432/prefect"
    # Without a password compose refuses to start, naming the fix.
    (tmp_path / "empty.env").write_text("")
    refused = config("--env-file", str(tmp_path / "empty.env"))
    assert refused.returncode != 0 and "set POSTGRES_PASSWORD in infra/.env" in refused.stderr


def test_dockerfile_pins_equal_the_lock_and_worker_starts_the_pool() -> None:
    stages = _dockerfile_stages()
    pins = _project_pins()
    # pip itself is pinned where the dev venv is made.
    pins["pip"] = re.search(r'"pip==([^"]+)"', (REPO / "scripts" / "setup.sh").read_text()).group(1)
    installed: dict[str, dict[str, str]] = {}
    for stage, instructions in stages.items():
        for keyword, rest in instructions:
            if keyword == "RUN" and "pip install" in rest:
                for command in rest.split("&&"):
                    found = re.findall(r"([A-Za-z0-9_.\-]+)==([^\s\"']+)", command)
                    if found and "pip==" not in command:
                        # Transitive dependencies come from the same lock as the dev venv.
                        assert "-c /tmp/requirements.lock" in command, command
                    for name, version in found:
                        installed.setdefault(stage, {})[_norm(name)] = version
    for stage, found in installed.items():
        for name, version in found.items():
            assert pins.get(name) == version, (
                f"{stage}: {name}=={version}, requirements.lock: {pins.get(name)}")
    assert installed["worker"] == pins  # the worker holds every runtime pin, nothing else
    assert installed["server"] == {k: pins[k] for k in ("pip", "prefect", "fastapi", "sqlalchemy")}

    worker = dict((k, v) for k, v in stages["worker"] if k != "ENV")
    assert re.search(r"nvidia/cuda:[\w.]+-runtime", stages[""][0][1]), "CUDA runtime base"
    assert "python3.11" in " ".join(rest for k, rest in stages["worker"] if k == "RUN")
    assert shlex.split(worker["ENTRYPOINT"].replace(",", " ").strip("[]")) == [
        "prefect", "worker", "start", "--pool", POOL]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(v for k, v in stages["worker"] if k == "ENV")))
    for key, value in WORKER_PATHS.items():
        assert env[key] == value, key
    assert worker["WORKDIR"] == WORKER_PATHS["MMINDEX_REPO_DIR"]
    for keyword, rest in stages["worker"]:
        if keyword == "COPY":
            source = rest.split()[0]
            assert (REPO / source).exists(), f"the image copies {source}, which is not in the repo"


# --- systemd --------------------------------------------------------------------------------

def test_systemd_units_run_as_a_dedicated_user_and_restart_on_failure() -> None:
    server, _ = _unit("prefect-server.service")
    worker, worker_env = _unit("mmindex-worker@.service")
    for unit in (server, worker):
        service = unit["Service"]
        assert service["User"] == "mmindex" and service["Restart"] == "on-failure"
        assert service["EnvironmentFile"].startswith("/etc/mmindex/")
        assert service["ExecStart"].startswith("/opt/mmindex/.venv/bin/prefect ")
        assert unit["Install"]["WantedBy"] == "multi-user.target"
        example = INFRA / "systemd" / (Path(service["EnvironmentFile"]).name + ".example")
        assert example.is_file(), f"no example for {service['EnvironmentFile']}"
    assert "postgresql.service" in server["Unit"]["After"]
    assert "PREFECT_API_DATABASE_CONNECTION_URL" in _env_file(
        INFRA / "systemd" / "prefect-server.env.example")
    assert f"--pool {POOL}" in worker["Service"]["ExecStart"]
    assert worker_env["CUDA_VISIBLE_DEVICES"] == "%i"
    for key, value in WORKER_PATHS.items():
        assert worker_env[key] == value, key
    assert "PREFECT_API_URL" in _env_file(INFRA / "systemd" / "worker.env.example")


def test_systemd_analyze_finds_nothing_but_the_absent_install() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    units = [INFRA / "systemd" / "prefect-server.service",
             INFRA / "systemd" / "mmindex-worker@.service"]
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *units],
                          capture_output=True, text=True, timeout=60)
    # /opt/mmindex/.venv does not exist on a test machine; any other finding is a unit error.
    findings = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()
                and "/opt/mmindex/.venv/bin/prefect is not executable" not in line]
    assert findings == []


# --- setup-work-pool.sh -----------------------------------------------------------------------

def test_setup_script_refuses_to_run_without_an_api_url() -> None:
    done = subprocess.run(["bash", INFRA / "setup-work-pool.sh"], env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "PREFECT_API_URL is not set" in done.stderr and "Help: " in done.stderr


def test_every_worker_setup_runs_with_the_environment_the_memory_bench_measured() -> None:
    """The memory figures in docs/performance.md hold for the worker only with these set."""
    from bench.memory import WORKER_ENV

    compose = _yaml("docker-compose.yml")["services"]["worker"]["environment"]
    unit = (INFRA / "systemd" / "mmindex-worker@.service").read_text()
    docker = (INFRA / "Dockerfile").read_text()
    for key, value in WORKER_ENV.items():
        assert str(compose[key]) == value
        assert f"Environment={key}={value}" in unit
        assert re.search(rf"\b{key}={value}\b", docker)


# --- the alert webhook is a secret ---------------------------------------------------------------

WEBHOOK_SECRETS = ("T0SECRET/B0PATH", "tok-SECRET-9f2e")


@pytest.mark.slow
def test_the_alert_webhook_url_is_a_secret_of_the_block_and_never_printed(prefect_server) -> None:
    """The block keeps the URL in its SecretDict (the API shows it masked), the alert still
    reaches the full URL, and the setup step prints only the masked form."""
    import json

    from webhook import Webhook

    hook = Webhook()
    got = hook.paths
    url = hook.url(f"/hooks/{WEBHOOK_SECRETS[0]}?token={WEBHOOK_SECRETS[1]}")
    script = (
        "import json, sys\n"
        "from prefect.blocks.notifications import CustomWebhookNotificationBlock\n"
        "from prefect.client.orchestration import get_client\n"
        "from tasks.alerts import BLOCK, ensure_nightly_alert, masked\n"
        "url = sys.argv[1]\n"
        "print('alerting', masked(url))\n"
        "with get_client(sync_client=True) as c:\n"
        # its own flow: the server is the session's, and the served embed/nightly (the e2e
        # tests) must not find a deployment without code under its name
        "    flow_id = c.create_flow_from_name('webhook-check')\n"
        "    c.create_deployment(flow_id=flow_id, name='nightly')\n"
        "    ensure_nightly_alert(c, url, allow_private=True, deployment='webhook-check/nightly')\n"
        "    doc = c.read_block_document_by_name(BLOCK, 'custom-webhook', include_secrets=False)\n"
        "    print(json.dumps(doc.data, default=str))\n"
        "CustomWebhookNotificationBlock.load(BLOCK).notify('the body', 'the subject')\n")
    try:
        done = subprocess.run([sys.executable, "-c", script, url], env=prefect_server.env,
                              cwd=REPO, capture_output=True, text=True, timeout=300)
    finally:
        hook.close()
    assert done.returncode == 0, done.stderr[-3000:]
    shown = done.stdout
    assert f"alerting http://127.0.0.1:{hook.port}/***" in shown
    data = json.loads(shown.splitlines()[-1])
    assert data["url"] == "{{webhook_url}}", data
    for secret in WEBHOOK_SECRETS:
        assert secret not in shown + done.stderr, secret
    assert got == [f"/hooks/{WEBHOOK_SECRETS[0]}?token={WEBHOOK_SECRETS[1]}"]


def test_the_setup_script_prints_the_webhook_only_masked() -> None:
    from tasks.alerts import masked

    assert masked("https://user:pw@hooks.slack.com/services/T0/B0/XYZ?token=1") == \
        "https://hooks.slack.com/***"
    script = (INFRA / "setup-work-pool.sh").read_text()
    for line in script.splitlines():  # the URL reaches Python by the environment only
        if re.search(r"\b(log|echo|die|print)\b", line):
            assert not re.search(r"\$\{?MMINDEX_ALERT_WEBHOOK_URL\b", line), line


def test_run_names_use_the_schedules_timezone_and_tell_tables_apart() -> None:
    from datetime import UTC, datetime

    from tasks.names import embed_run_name, evaluate_run_name

    # the 02:00 Seoul nightly is scheduled at 17:00 UTC the day before
    scheduled = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
    assert embed_run_name("sample", scheduled, "Asia/Seoul") == "embed-sample-20261207-0200"
    assert embed_run_name("sample", scheduled, "UTC") == "embed-sample-20261206-1700"
    # two tables of one index evaluated the same night: both were "evaluate-sample-v4"
    names = {evaluate_run_name("sample", t, 4) for t in (
        "sample__use-multilingual__d512", "sample__all-minilm-l6-v2__d384")}
    assert names == {"evaluate-sample-use-multilingual-d512-v4",
                     "evaluate-sample-all-minilm-l6-v2-d384-v4"}
    assert evaluate_run_name("sample", None, None) == "evaluate-sample-production"


def test_a_rejection_is_a_failed_state_named_rejected_with_the_reason() -> None:
    from tasks.outcome import decision_markdown, gate_state

    evaluation = {
        "table": "s__m__d8", "version": 9, "action": "rejected",
        "metrics": {"hybrid": {"ndcg@10": 0.70, "hit@5": 0.80}},
        "production": {"table": "s__m__d8", "version": 7,
                       "metrics": {"hybrid": {"ndcg@10": 0.82, "hit@5": 0.89}}},
        "decision": {"passed": False, "mode": "hybrid", "deltas": {},
                     "reasons": ["ndcg@10 dropped 12.0 points vs production (0.820 -> 0.700), "
                                 "allowed 0.5"]}}
    result = {"version": 9}
    state = gate_state(result, evaluation)
    assert (state.type.value, state.name) == ("FAILED", "Rejected")
    assert state.message == ("gate rejected s__m__d8 v9 (hybrid search): ndcg@10 dropped 12.0 "
                             "points vs production (0.820 -> 0.700), allowed 0.5; production "
                             "stays s__m__d8 v7")
    card = "\n".join(decision_markdown(evaluation))
    assert "## Gate: **REJECTED** → rejected" in card
    assert "| ndcg@10 | 0.7000 | 0.8200 | -0.1200 |" in card
    passed = dict(evaluation, action="promoted",
                  decision=dict(evaluation["decision"], passed=True))
    assert gate_state(result, passed) is result  # Completed with the result, as before
