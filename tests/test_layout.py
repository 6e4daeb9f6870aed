"""Tooling stays apart from the runtime: serving never imports rag.eval or rag.bench."""

from __future__ import annotations

import subprocess
import sys

RUNTIME = ["rag.api", "rag.engine", "rag.index", "rag.compose", "rag.retrieve", "rag.question", "rag.followup",
           "rag.uploads", "rag.live", "rag.openai_api", "rag.embedders", "rag.reader", "ui.app"]


def test_runtime_modules_do_not_import_tooling() -> None:
    code = (f"import importlib, sys\nfor m in {RUNTIME!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('rag.eval', 'rag.bench', 'rag.training'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_no_runtime_path_points_into_the_repository() -> None:
    """Package data (profiles, models, static files) is found beside the code; project files
    (corpus, eval sets, shared data) relative to the working directory."""
    from rag.bench import scale, speed
    from rag.eval import gold

    for path in (gold.DEFAULT_GOLD, gold.DEFAULT_CORPUS, scale.CORPUS_DIR, speed.ROOT):
        assert not path.is_absolute(), path
