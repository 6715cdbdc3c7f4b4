#!/usr/bin/env bash
# Build the scratch venv of tests/test_colpali_official.py: colpali-engine 0.3.18, the official
# ColPali/ColQwen2 code, with the exact pins of colpali-engine-0.3.18.txt. It cannot share the
# project's venv (the engine pulls transformers 5.25.0; the project pins 5.23.0).
# Usage: colpali_engine_venv.sh DIR. Needs the package index (torch comes from the local wheel
# store); reuses DIR when its marker matches the pins. Run by .ci/run outside the network
# namespace, and by the test itself when DIR is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="$1"
pins="$here/colpali-engine-0.3.18.txt"
stamp="$(sha256sum "$pins" | cut -c1-16)"
if [ -f "$dir/.built" ] && [ "$(cat "$dir/.built")" = "$stamp" ]; then
  echo "colpali-engine venv: $dir (cached)"
  exit 0
fi
rm -rf "$dir"
python="${PYTHON:-python3}"
"$python" -m venv "$dir"
"$dir/bin/pip" install -q -r "$pins"
# the engine declares torch<2.14: installed without its dependencies (all pinned above)
"$dir/bin/pip" install -q --no-deps colpali-engine==0.3.18
"$dir/bin/python" -c "import colpali_engine.models, transformers; print('colpali-engine venv:', \
  transformers.__version__)"
echo "$stamp" > "$dir/.built"
