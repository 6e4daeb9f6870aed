#!/usr/bin/env bash
# Create .venv and install the project with its test extra (RAG_EXTRAS=test,cluster adds Milvus and
# Ray, as scripts/test.sh does). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch is pinned: this machine has the CPU wheel of 2.13.0 on disk; an unpinned torch
# would pull a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
# The default local store needs no more; the test command adds the cluster extra (pymilvus,
# milvus-lite, Ray) so that its tests run here and in CI.
python -m pip install -q -c <(echo "torch==2.13.0") -e ".[${RAG_EXTRAS:-test}]"
