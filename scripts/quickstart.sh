#!/usr/bin/env bash
# One command: set up, run the embed flow on the shipped sample data (local LanceDB directory,
# Prefect in-process with no server, the offline all-MiniLM-L6-v2 model), evaluate and gate the
# new version on the sample golden set, then search it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PREFECT_SERVER_ANALYTICS_ENABLED=false
export MMINDEX_DB="${MMINDEX_DB:-.mmindex/db}"
mm=.venv/bin/mmindex
echo
echo "==> mmindex embed data/sample/manifest.jsonl --index sample (Prefect flow 'embed', then 'evaluate')"
$mm embed data/sample/manifest.jsonl --index sample \
  --queries data/sample/golden/queries.jsonl --qrels data/sample/golden/qrels.tsv
echo
echo "==> mmindex versions --index sample"
$mm versions --index sample
echo
echo "==> mmindex search --index sample \"a penguin\" -k 5 --mode hybrid"
$mm search --index sample "a penguin" -k 5 --mode hybrid
echo
echo "==> mmindex search --index sample \"musical instrument\" -k 5"
$mm search --index sample "musical instrument" -k 5
echo
echo "Done. The index is in $MMINDEX_DB; open it from Python with mmindex.open_index(\"sample\", \"$MMINDEX_DB\")."
