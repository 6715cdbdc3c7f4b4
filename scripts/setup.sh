#!/usr/bin/env bash
# Set up .venv with the project's exact pins. Idempotent: a second run only checks.
# pip (not uv/poetry): on these machines pip takes torch from the local wheel store instead of
# downloading a multi-GB CUDA build.
# MMINDEX_EXTRAS picks the optional extras (default: test); CI adds ray: MMINDEX_EXTRAS=test,ray.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.mmindex-installed
extras="${MMINDEX_EXTRAS:-test}"
want="$( (cat pyproject.toml requirements.lock; echo "$extras") | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing mmindex and its pinned dependencies (first time: a few minutes)"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade "pip==24.3.1"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".[$extras]"
  echo "$want" > "$stamp"
fi
.venv/bin/mmindex --help > /dev/null
echo "==> .venv ready: $(.venv/bin/python -c 'import torch, transformers, lancedb, prefect; print("torch", torch.__version__, "| transformers", transformers.__version__, "| lancedb", lancedb.__version__, "| prefect", prefect.__version__)')"
