#!/usr/bin/env bash
# Build the core install (no extras) of this checkout into DIR (default .venv-core), as
# `pip install mmindex` would: the wheel of this checkout, its dependencies at requirements.lock's
# pins, from the package registry. A setup step (it needs the registry), so .ci/run runs it
# before the checks, outside the loopback-only namespace; tests/test_install.py then measures
# the venv (MMINDEX_CORE_VENV) and searches from it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.venv-core}"
rm -rf "$dir" build/core-wheel
py="${PYTHON:-python3}"
.venv/bin/python -m pip wheel --no-deps --no-build-isolation -q -w build/core-wheel .
"$py" -m venv "$dir"
env -u PYTHONPATH -u VIRTUAL_ENV "$dir/bin/python" -m pip install -q --disable-pip-version-check "pip==24.3.1"
env -u PYTHONPATH -u VIRTUAL_ENV "$dir/bin/python" -m pip install -q --disable-pip-version-check \
  -c requirements.lock build/core-wheel/mmindex-*.whl
echo "==> core install in $dir: $(du -sm "$dir" | cut -f1) MB"
