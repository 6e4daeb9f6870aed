#!/usr/bin/env bash
# Create .venv and install the project with its test and cluster extras. Safe to run again.
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
# The cluster extra (pymilvus, milvus-lite, Ray) too, so that its tests run here and in CI;
# a user of the default local store needs only `pip install -e .`.
python -m pip install -q -c <(echo "torch==2.13.0") -e ".[test,cluster]"
