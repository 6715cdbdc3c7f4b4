#!/usr/bin/env bash
# One command: set up, run the Prefect embed flow on the shipped sample data (local LanceDB
# directory, Prefect in-process with a temporary API, the model of mmindex.toml), evaluate and
# gate the new version on the sample golden set, then search it in English and in Korean.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PREFECT_SERVER_ANALYTICS_ENABLED=false
export MMINDEX_DB="${MMINDEX_DB:-.mmindex/db}"
mm=.venv/bin/mmindex
echo
echo "==> mmindex embed data/sample/manifest.jsonl --index sample --prefect (flow 'embed', then 'evaluate')"
status=0
$mm embed data/sample/manifest.jsonl --index sample --prefect \
  --queries data/sample/golden/queries.jsonl --qrels data/sample/golden/qrels.tsv || status=$?
if [ "$status" = 1 ]; then
  echo "The gate rejected the new version (see the reasons above); production is unchanged."
  exit 1
elif [ "$status" != 0 ]; then
  exit "$status"
fi
echo
echo "==> mmindex versions --index sample"
$mm versions --index sample
echo
echo "==> mmindex search --index sample \"a penguin\" -k 5 --mode hybrid"
$mm search --index sample "a penguin" -k 5 --mode hybrid
echo
echo "==> mmindex search --index sample \"바이올린\" -k 5 --mode hybrid   (Korean: a violin)"
$mm search --index sample "바이올린" -k 5 --mode hybrid
echo
echo "==> mmindex search --index sample \"a penguin\" --rerank tiny-qwen3-vl-reranker -k 5   (two-stage; random-weight reranker: shows the plumbing, not quality)"
$mm search --index sample "a penguin" --rerank tiny-qwen3-vl-reranker -k 5
echo
echo "Done. The index is in $MMINDEX_DB; open it from Python with mmindex.open_index(\"sample\", \"$MMINDEX_DB\")."
