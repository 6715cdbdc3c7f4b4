#!/usr/bin/env bash
# Build a small scratch venv for an official-code test: the exact pins of PINS installed
# --no-deps; torch, numpy, Pillow and the rest are the project venv's (a .pth file appends
# PROJECT_SITE_PACKAGES after the venv's own), so the venv holds only what the reference adds.
# Used for open_clip 3.3.0 (tests/test_clip_official.py, open-clip-3.3.0.txt) and transformers
# 4.51.3 / 4.52.3 (tests/test_vlm_official.py, transformers-VERSION.txt).
# Usage: scratch_venv.sh DIR PINS PROJECT_SITE_PACKAGES. The pins file's "# check: " line is the
# Python the new venv runs last (imports, version asserts, a line to print). Needs the package
# index; reuses DIR when its marker matches. Run by .ci/run outside the network namespace, and by the tests
# themselves when DIR is missing.
set -euo pipefail
dir="$1"
pins="$2"
site="$3"
check="$(sed -n 's/^# check: //p' "$pins")"
stamp="$(cat "$pins" <(echo "$site") | sha256sum | cut -c1-16)"
if [ -f "$dir/.built" ] && [ "$(cat "$dir/.built")" = "$stamp" ]; then
  echo "$(basename "$dir") venv: $dir (cached)"
  exit 0
fi
rm -rf "$dir"
"${PYTHON:-python3}" -m venv "$dir"
"$dir/bin/pip" install -q --no-deps -r "$pins"
own="$("$dir/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
echo "$site" > "$own/zz_mmindex_project.pth"
"$dir/bin/python" -c "$check"
echo "$stamp" > "$dir/.built"
