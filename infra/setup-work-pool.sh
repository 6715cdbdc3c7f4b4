#!/usr/bin/env bash
# Bootstrap a Prefect server for mmindex; safe to run any number of times.
#
#   1. waits for the Prefect API ($PREFECT_API_URL) to answer /health,
#   2. creates the `process` work pool (default mmindex-gpu) unless it exists,
#   3. creates, or resets to limit 1 and active, one global concurrency limit
#      `mmindex-writer-<index>` per index in MMINDEX_INDEXES (named by the flows' own
#      tasks.concurrency.limit_name): the embed flow holds it while writing, so there is only
#      ever one writer per LanceDB table (the flow creates a missing one on first use too),
#   4. registers the deployments in infra/prefect.yaml (embed/nightly, evaluate/on-demand),
#      updating them in place when they exist,
#   5. with MMINDEX_ALERT_WEBHOOK_URL, an automation that posts there when the nightly fails,
#      crashes or ends Rejected (the gate refused its candidate; tasks/alerts.py).
#
# By hand, steps 2-4 are:
#   prefect work-pool create mmindex-gpu --type process
#   prefect gcl create mmindex-writer-sample --limit 1
#   MMINDEX_NIGHTLY_CRON="0 2 * * *" MMINDEX_TIMEZONE=Asia/Seoul \
#       prefect deploy --all --prefect-file infra/prefect.yaml
# (steps 1-3 run in one Python process here because each `prefect` CLI call costs seconds).
#
# Environment (all optional except PREFECT_API_URL):
#   PREFECT_API_URL       e.g. http://127.0.0.1:4200/api
#   MMINDEX_WORK_POOL     work pool name                       (default mmindex-gpu)
#   MMINDEX_INDEXES       space-separated index names          (default "sample")
#   MMINDEX_NIGHTLY_CRON, MMINDEX_TIMEZONE  the nightly's schedule: the settings `nightly_cron`
#                         and `timezone` (mmindex.toml in the checkout, or these variables),
#                         read with `mmindex config`: one place for the schedule
#   MMINDEX_REPO_DIR      checkout that flow runs start in     (default: this script's repo)
#   MMINDEX_ALERT_WEBHOOK_URL  where to POST when embed/nightly fails, crashes or is rejected (a Prefect
#                         automation; Slack/Teams incoming webhooks work); none when unset
#   MMINDEX_ALERT_ALLOW_PRIVATE=1  the webhook is on a private/loopback address
#   PREFECT_BIN           prefect executable                   (default: prefect on PATH)
#   MMINDEX_SETUP_WAIT_S  seconds to wait for the API          (default 120)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="${MMINDEX_REPO_DIR:-$(dirname "$here")}"
pool="${MMINDEX_WORK_POOL:-mmindex-gpu}"
indexes="${MMINDEX_INDEXES:-sample}"
prefect_bin="${PREFECT_BIN:-prefect}"
wait_s="${MMINDEX_SETUP_WAIT_S:-120}"
# prefect.yaml's pull step reads it at deploy time: runs start in this checkout.
export MMINDEX_REPO_DIR="$repo_dir"
# Never stop at an interactive question (compose and systemd have no terminal).
export PREFECT_CLI_PROMPT=false

die() {
    echo "setup-work-pool: $1" >&2
    echo "Help: $2" >&2
    exit 1
}

log() { echo "setup-work-pool: $*"; }

[[ -n "${PREFECT_API_URL:-}" ]] || die "PREFECT_API_URL is not set." \
    "export PREFECT_API_URL=http://127.0.0.1:4200/api (the server this box's worker uses)."
command -v "$prefect_bin" >/dev/null 2>&1 || die "'$prefect_bin' was not found." \
    "activate the project's virtualenv or set PREFECT_BIN=/path/to/.venv/bin/prefect."
[[ -f "$repo_dir/infra/prefect.yaml" ]] || die "no infra/prefect.yaml under '$repo_dir'." \
    "set MMINDEX_REPO_DIR to the mmindex checkout."
[[ -z "${indexes//[A-Za-z0-9_ -]/}" ]] || die "MMINDEX_INDEXES='$indexes' has odd characters." \
    "list index names separated by spaces, e.g. MMINDEX_INDEXES=\"sample exams\"."
# The interpreter that `prefect` runs with, so the Prefect client below is the same version.
python_bin="$(dirname "$(command -v "$prefect_bin")")/python"
[[ -x "$python_bin" ]] || python_bin="python3"

log "waiting up to ${wait_s}s for $PREFECT_API_URL, then ensuring pool '$pool' and limits"
"$python_bin" - "$repo_dir" "$pool" "$wait_s" $indexes <<'PY' || die "bootstrap against $PREFECT_API_URL failed (see above)." \
    "check that the server is up (systemctl status prefect-server, or docker compose ps) and reachable."
import os
import sys
import time
import urllib.request

repo_dir, pool, wait_s, indexes = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
health = os.environ["PREFECT_API_URL"].rstrip("/") + "/health"
deadline = time.monotonic() + wait_s
while True:
    try:
        with urllib.request.urlopen(health, timeout=5) as response:
            if response.status == 200:
                break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(f"setup-work-pool: no answer from {health} within {wait_s:.0f}s")
    time.sleep(1)

from prefect.client.orchestration import get_client  # noqa: E402  (slow import: after the wait)
from prefect.client.schemas.actions import (  # noqa: E402
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
    WorkPoolCreate,
)
from prefect.exceptions import ObjectNotFound  # noqa: E402
from prefect.workers.process import ProcessWorker  # noqa: E402

sys.path.insert(0, repo_dir)
from tasks.concurrency import limit_name  # noqa: E402  (the name the embed flow acquires)

with get_client(sync_client=True) as client:
    try:
        existing = client.read_work_pool(pool)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(
            name=pool, type="process",
            description="mmindex flow runs as processes on the GPU box",
            base_job_template=ProcessWorker.get_default_base_job_template(),
        ))
        print(f"setup-work-pool: created process work pool '{pool}'")
    else:
        if existing.type != "process":
            sys.exit(f"setup-work-pool: work pool '{pool}' has type '{existing.type}', not "
                     "'process'.\nHelp: delete it (prefect work-pool delete) or set "
                     "MMINDEX_WORK_POOL to another name and edit infra/prefect.yaml to match.")
        print(f"setup-work-pool: work pool '{pool}' exists")
    for index in indexes:
        name = limit_name(index)
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
            print(f"setup-work-pool: created concurrency limit '{name}' (1 writer)")
            continue
        if limit.limit != 1 or not limit.active:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=1, active=True))
            print(f"setup-work-pool: reset concurrency limit '{name}' to 1 active writer")
        else:
            print(f"setup-work-pool: concurrency limit '{name}' is 1 writer")
PY

cd "$repo_dir"
# The schedule is a setting like any other: mmindex.toml here, overridden by MMINDEX_* variables.
schedule="$("$python_bin" -m mmindex config --json | "$python_bin" -c '
import json, sys
s = json.load(sys.stdin)["settings"]
print(s["nightly_cron"]["value"]); print(s["timezone"]["value"])')" \
    || die "mmindex config failed." "fix the settings it names (mmindex.toml or MMINDEX_*)."
export MMINDEX_NIGHTLY_CRON="$(sed -n 1p <<< "$schedule")"
export MMINDEX_TIMEZONE="$(sed -n 2p <<< "$schedule")"
log "deploying infra/prefect.yaml from $repo_dir (nightly: '$MMINDEX_NIGHTLY_CRON' $MMINDEX_TIMEZONE)"
"$prefect_bin" deploy --all --prefect-file infra/prefect.yaml

if [[ -n "${MMINDEX_ALERT_WEBHOOK_URL:-}" ]]; then
    # The URL is a secret (its path or ?token= is the credential): never printed whole; the
    # block keeps it in a SecretDict field (tasks/alerts.py).
    "$python_bin" - "$repo_dir" <<'PY' || die "could not create the nightly's alert." \
        "check MMINDEX_ALERT_WEBHOOK_URL (an http(s) URL) and the server's log."
import os
import sys

sys.path.insert(0, sys.argv[1])
from tasks.alerts import ensure_nightly_alert, masked  # noqa: E402

url = os.environ["MMINDEX_ALERT_WEBHOOK_URL"]
print(f"setup-work-pool: alerting {masked(url)} when embed/nightly fails, crashes or is rejected")
try:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        ensure_nightly_alert(client, url,
                             allow_private=os.environ.get("MMINDEX_ALERT_ALLOW_PRIVATE") == "1")
except Exception as exc:  # its text may quote the URL: shown redacted, never whole
    from mmindex.errors import redact

    sys.exit(f"setup-work-pool: {type(exc).__name__}: {redact(str(exc), [url])}")
PY
else
    log "no MMINDEX_ALERT_WEBHOOK_URL: failed, crashed or rejected nightly runs alert nobody (see infra/README.md)"
fi
log "done: start runs with 'prefect deployment run embed/nightly' or 'evaluate/on-demand'"
