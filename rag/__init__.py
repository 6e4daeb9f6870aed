"""Retrieval-augmented question answering over Chinese newspaper articles, with citations.

    >>> from rag import Engine, build_index, make_embedder
    >>> build_index("corpus", "index", make_embedder("e5"))        # doctest: +SKIP
    >>> Engine.open("index").ask("招远2023年黄金产业总产值是多少？").text  # doctest: +SKIP
    '……2023年，实施全产业链项目31个，黄金产业总产值达到900亿元……[1]'

Names are imported on first use, so `import rag` stays cheap (the CLI starts fast).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Answer": "rag.types",
    "AnswerPart": "rag.types",
    "Refusal": "rag.types",
    "ArticleNotFound": "rag.errors",
    "Article": "rag.types",
    "Chunk": "rag.types",
    "Citation": "rag.types",
    "Hit": "rag.types",
    "Engine": "rag.engine",
    "RagError": "rag.errors",
    "InputError": "rag.errors",
    "IndexMissingError": "rag.errors",
    "IndexMismatchError": "rag.errors",
    "Settings": "rag.settings",
    "build_index": "rag.index",
    "load_index": "rag.index",
    "load_corpus": "rag.corpus",
    "chunk_articles": "rag.chunking",
    "make_embedder": "rag.embedders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
