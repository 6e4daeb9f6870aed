"""Typed settings for the edges (CLI, API, UI). Library functions take plain arguments.

Every field can be set from the environment with the prefix `RAG_`, e.g.
`RAG_INDEX_DIR=/data/index RAG_EMBEDDER=e5 rag serve`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.config import CHUNK_CHARS, DEFAULT_COMPOSER, MAX_QUESTION_CHARS, Composer, Config, Fusion, RetrievalConfig

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    index_dir: Path = Path("index")
    corpus_dir: Path = Path("corpus")
    embedder: str = "e5"
    # The corpus profile (rag.profile): a shipped name ("national", "shandong") or a folder. None:
    # what the index records, else what the corpus names in its .rag-profile, else "national".
    profile: str | None = None
    chunk_chars: int = Field(CHUNK_CHARS, ge=50, le=4000)  # rag.config explains the values
    fusion: Fusion = "rrf"
    dense_weight: float | None = Field(None, ge=0.0, le=1.0)  # None: the corpus profile's
    composer: Composer = DEFAULT_COMPOSER  # rag.config says why
    reader_dir: Path | None = None  # a reader trained with `rag train-reader`; None: the shipped one
    # Where vectors and the keyword index live (rag.index.STORES): None takes what the index's manifest
    # records (local for a new one); "milvus" needs `pip install -e ".[cluster]"` (rag.milvus_store).
    store: Literal["local", "milvus"] | None = None
    milvus_uri: str | None = None  # a milvus-lite file (default <index_dir>/milvus.db) or http://host:19530

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key: str | None = None  # when set, requests must send it in X-API-Key or Authorization: Bearer (the chat page too)
    ui_public: bool = False  # with api_key set, serve the chat page at /ui to anyone all the same
    ask_rate_limit: int | None = Field(None, ge=1)  # questions a minute per client (/ask, /ask/stream); None: off
    cors_origins: list[str] = []
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    max_upload_bytes: int = Field(4 * 1024 * 1024, ge=1024)  # POST /articles (a newspaper page is ~20 KB)
    max_question_chars: int = Field(MAX_QUESTION_CHARS, ge=10)
    build_if_missing: bool = True  # `rag serve` builds the index from corpus_dir on first run
    ui: bool = True  # mount the Gradio chat at /ui

    llm_base_url: str | None = None  # an OpenAI-compatible endpoint, e.g. http://localhost:8080/v1
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout_s: float = Field(20.0, gt=0)

    def config(self) -> Config:
        """The typed config the library takes (rag.config), from these settings."""
        return Config(chunk_chars=self.chunk_chars, max_question_chars=self.max_question_chars,
                      retrieval=RetrievalConfig(fusion=self.fusion, dense_weight=self.dense_weight))
