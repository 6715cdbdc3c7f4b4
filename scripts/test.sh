#!/usr/bin/env bash
# Set up and run the default checks (CPU, well under 10 minutes on 2 cores): ruff, the
# architecture's import contracts (lint-imports), then the test suite.
# PostgreSQL and Chromium (Debian packages) are installed when missing and we are root, for the
# tests that run a real Prefect server on PostgreSQL and look at the Prefect UI, and tesseract
# (Korean + English) with the Nanum fonts for the figure-text (OCR) tests; without them those
# tests skip and say why. Extra arguments go to pytest (e.g. -m slow).
# Setup (pip, apt) runs with the network; the checks run in a network namespace where only
# loopback exists (scripts/isolated.sh; root + unshare), so no test can reach any other address.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  missing=""
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || missing="$missing postgresql"
  command -v tesseract > /dev/null || missing="$missing tesseract-ocr"
  for lang in kor eng; do
    [ -n "$(ls /usr/share/tesseract-ocr/*/tessdata/$lang.traineddata 2> /dev/null)" ] \
      || missing="$missing tesseract-ocr-$lang"
  done
  [ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || missing="$missing fonts-nanum"
  if [ -n "$missing" ]; then
    echo "==> apt-get install$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing > /dev/null) \
      || echo "!! could not install$missing: the tests that need them will skip"
  fi
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PREFECT_SERVER_ANALYTICS_ENABLED=false
mkdir -p test-output
echo "==> into a loopback-only network namespace: ruff, lint-imports, pytest"
exec bash scripts/isolated.sh bash -c '
set -euo pipefail
echo "==> ruff check"
.venv/bin/ruff check .
echo "==> lint-imports (the stages'"'"' import contracts in pyproject.toml)"
.venv/bin/lint-imports --no-logo --no-cache
exec .venv/bin/python -m pytest "$@"' _ "$@"
