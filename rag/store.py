"""What retrieval needs from a store, and the two stores that provide it.

`rag.retrieve.search` asks an index for three things; both stores answer them:

- ``local`` (`rag.index.Index`, the default): FAISS and a BM25 matrix in memory, loaded from
  the index folder; `allowed(filters)` is a boolean mask over the chunks.
- ``milvus`` (`rag.milvus_store.MilvusIndex`): one Milvus collection per index, searched
  through pymilvus (milvus-lite in-process, or a server); `allowed(filters)` hands the
  filters on, and Milvus applies them as a filter expression.

Chunks and articles are in memory in both (the composer quotes them); positions returned by
the legs index `chunks`. Adding and removing a file's chunks is the builder's business
(`rag.index.build_index`, which delegates to `rag.milvus_store.build_milvus_index`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from rag.types import Article, Chunk

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    chunks: list[Chunk]
    articles: dict[str, Article]
    manifest: dict[str, Any]  # manifest["store"]["kind"]: "milvus"; absent for local indexes

    def allowed(self, filters: Any) -> Any:
        """What the legs take as `allowed` for these `rag.retrieve.Filters`."""

    def dense_search(self, query_vector: np.ndarray, k: int, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k chunk positions and inner-product scores, best first."""

    def bm25_search(self, query_tokens: list[str], k: int, allowed: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k chunk positions and BM25 scores (> 0), best first."""
