#!/usr/bin/env bash
# Build a scratch venv of tests/test_vlm_official.py: transformers at the version GME (4.51.3) or
# VLM2Vec (4.52.3) pins, with the exact pins of transformers-VERSION.txt, installed --no-deps.
# torch, numpy, Pillow and qwen-vl-utils are the project venv's (a .pth file appends its
# site-packages after the venv's own): the comparison is about transformers' Qwen2-VL code.
# Usage: qwen2vl_official_venv.sh DIR VERSION PROJECT_SITE_PACKAGES. Needs the package index;
# reuses DIR when its marker matches. Run by .ci/run outside the network namespace, and by the
# test itself when DIR is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="$1"
pins="$here/transformers-$2.txt"
site="$3"
stamp="$(cat "$pins" <(echo "$site") | sha256sum | cut -c1-16)"
if [ -f "$dir/.built" ] && [ "$(cat "$dir/.built")" = "$stamp" ]; then
  echo "transformers $2 venv: $dir (cached)"
  exit 0
fi
rm -rf "$dir"
"${PYTHON:-python3}" -m venv "$dir"
"$dir/bin/pip" install -q --no-deps -r "$pins"
own="$("$dir/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
echo "$site" > "$own/zz_mmindex_project.pth"
"$dir/bin/python" -c "import transformers, torch; assert transformers.__version__ == '$2', \
  transformers.__file__; print('transformers venv:', transformers.__version__)"
echo "$stamp" > "$dir/.built"
