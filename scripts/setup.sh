#!/usr/bin/env bash
# Set up .venv with the project's exact pins. Idempotent: a second run only checks.
# pip (not uv/poetry): on these machines pip takes torch from the local wheel store instead of
# downloading a multi-GB CUDA build.
# MMINDEX_EXTRAS picks the optional extras (default: test, which pulls in every extra the suite
# and the quickstart need: models, write, prefect, s3); CI adds ray: MMINDEX_EXTRAS=test,ray.
# The core alone (MMINDEX_EXTRAS= , or `pip install mmindex`) reads, searches and evaluates
# with the numpy text models: README.md, "Install".
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.mmindex-installed
extras="${MMINDEX_EXTRAS-test}"
want="$( (cat pyproject.toml requirements.lock; echo "$extras") | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing mmindex and its pinned dependencies (first time: a few minutes)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade "pip==24.3.1"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".${extras:+[$extras]}"
  echo "$want" > "$stamp"
fi
.venv/bin/mmindex --help > /dev/null
versions="$(.venv/bin/python - <<'PY'
from importlib.metadata import PackageNotFoundError, version
def of(dist):
    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:  # an extra left out (MMINDEX_EXTRAS)
        return f"{dist} not installed"
print(" | ".join(of(d) for d in ("torch", "transformers", "lancedb", "prefect")))
PY
)"
echo "==> .venv ready: $versions"
