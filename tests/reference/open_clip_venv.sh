#!/usr/bin/env bash
# Build the scratch venv of tests/test_clip_official.py: open-clip-torch 3.3.0, the official
# CLIP/SigLIP code (OpenAI's CLIP and big_vision's SigLIP as open_clip runs them), with the exact
# pins of open-clip-3.3.0.txt. Its own venv, not the colpali-engine one: the two references
# move independently (each pin they share is the same version today), and open_clip needs no
# transformers. Usage: open_clip_venv.sh DIR. Needs the package index (torch comes from the
# local wheel store); reuses DIR when its marker matches the pins. Run by .ci/run outside the
# network namespace, and by the test itself when DIR is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="$1"
pins="$here/open-clip-3.3.0.txt"
stamp="$(sha256sum "$pins" | cut -c1-16)"
if [ -f "$dir/.built" ] && [ "$(cat "$dir/.built")" = "$stamp" ]; then
  echo "open_clip venv: $dir (cached)"
  exit 0
fi
rm -rf "$dir"
python="${PYTHON:-python3}"
"$python" -m venv "$dir"
"$dir/bin/pip" install -q -r "$pins"
"$dir/bin/pip" install -q --no-deps open-clip-torch==3.3.0
"$dir/bin/python" -c "import open_clip, timm, torch; print('open_clip venv:', \
  open_clip.__version__, 'timm', timm.__version__, 'torch', torch.__version__)"
echo "$stamp" > "$dir/.built"
