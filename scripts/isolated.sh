#!/usr/bin/env bash
# Run a command in its own network namespace where the only interface is loopback (lo), so
# nothing it starts (Ray, Prefect, PostgreSQL, moto, Chromium, HTTP stubs) can reach any address
# but 127.0.0.1 / ::1: `bash scripts/isolated.sh .venv/bin/python -m pytest tests/test_ray.py`.
# Needs root and util-linux's unshare (CI runs as root). Where the namespace cannot be made the
# command still runs, after one plain line saying it is not isolated, with
# MMINDEX_TEST_ISOLATION=none: tests/test_isolation.py then skips instead of failing, and the
# Ray tests and the bench cases that start servers refuse to run. MMINDEX_REQUIRE_ISOLATION=1
# (set by .ci/run) turns "cannot isolate" into an error instead.
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: scripts/isolated.sh COMMAND [ARG...]" >&2
  exit 2
fi
why=""
if [ "$(id -u)" != 0 ]; then
  why="not root"
elif ! command -v unshare > /dev/null || ! command -v ip > /dev/null; then
  why="unshare or ip (util-linux, iproute2) is missing"
elif ! unshare -n true 2> /dev/null; then
  why="unshare -n is not permitted here"
fi
if [ -n "$why" ]; then
  if [ "${MMINDEX_REQUIRE_ISOLATION:-0}" = 1 ]; then
    echo "error: cannot make a loopback-only network namespace ($why), and MMINDEX_REQUIRE_ISOLATION=1" >&2
    exit 2
  fi
  echo "!! NOT ISOLATED: $why, so this runs with the machine's network (tests keep to loopback" \
       "by design, but nothing enforces it; the Ray tests and server bench cases will refuse)" >&2
  export MMINDEX_TEST_ISOLATION=none
  exec "$@"
fi
export MMINDEX_TEST_ISOLATION=namespace
exec unshare -n bash -c 'ip link set lo up && exec "$@"' _ "$@"
