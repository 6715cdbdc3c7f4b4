#!/usr/bin/env bash
# Build the scratch venv of tests/test_clip_official.py: open-clip-torch 3.3.0, the official
# CLIP/SigLIP code (OpenAI's CLIP and big_vision's SigLIP as open_clip runs them), with the exact
# pins of open-clip-3.3.0.txt installed --no-deps; torch, torchvision and the rest are the project
# venv's (a .pth file appends its site-packages after the venv's own: ~20 MB, not a second 5.6 GB
# CUDA torch). Usage: open_clip_venv.sh DIR PROJECT_SITE_PACKAGES. Needs the package index;
# reuses DIR when its marker matches. Run by .ci/run outside the network namespace, and by the
# test itself when DIR is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="$1"
pins="$here/open-clip-3.3.0.txt"
site="$2"
stamp="$(cat "$pins" <(echo "$site") | sha256sum | cut -c1-16)"
if [ -f "$dir/.built" ] && [ "$(cat "$dir/.built")" = "$stamp" ]; then
  echo "open_clip venv: $dir (cached)"
  exit 0
fi
rm -rf "$dir"
python="${PYTHON:-python3}"
"$python" -m venv "$dir"
"$dir/bin/pip" install -q --no-deps -r "$pins"
own="$("$dir/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
echo "$site" > "$own/zz_mmindex_project.pth"
"$dir/bin/python" -c "import open_clip, timm, torch; print('open_clip venv:', \
  open_clip.__version__, 'timm', timm.__version__, 'torch', torch.__version__)"
echo "$stamp" > "$dir/.built"
