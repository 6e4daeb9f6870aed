#!/usr/bin/env bash
# The test command: unit and end-to-end tests (real model, real server, real browser), then
# the quality gate on the gold set with the real embedding model.
set -euo pipefail
cd "$(dirname "$0")/.."
RAG_EXTRAS=test,cluster bash scripts/setup.sh   # the Milvus and Ray tests too
bash scripts/install-browser.sh || echo "warning: could not install chromium; the browser test will be skipped"
. .venv/bin/activate
python -m pytest -q
rag eval --split test --check   # the test split of the seven question sets (eval/README.md)
