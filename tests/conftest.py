"""Shared fixtures: the real corpus indexed once per session, with the hash embedder (fast)
and, for tests marked slow, with the real multilingual-e5-small model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.embedders import HashEmbedder, make_embedder
from rag.engine import Engine
from rag.index import build_index
from rag.profile import activate, load_profile

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


@pytest.fixture(autouse=True)
def bundled_profile() -> None:
    """Each test starts with the bundled corpus's profile active, as loading its index makes it
    (a test that builds or loads another index switches for itself)."""
    activate(load_profile("shandong"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return CORPUS


@pytest.fixture(scope="session")
def hash_index(tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("hash") / "index"
    build_index(CORPUS, index_dir, HashEmbedder(384), progress=False)
    return index_dir


@pytest.fixture(scope="session")
def engine(hash_index) -> Engine:
    """The rules composer over fake vectors: fast, and the reader's tests have their own engine."""
    return Engine.open(hash_index, HashEmbedder(384), composer="rules")


@pytest.fixture(scope="session")
def learned_engine(e5_index) -> Engine:
    """The real model and the shipped sentence reader."""
    return Engine.open(e5_index, composer="learned")


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the real corpus, for tests that add, change or remove files."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def e5_index(tmp_path_factory) -> Path:
    """The real corpus indexed with the real model (about half a minute)."""
    index_dir = tmp_path_factory.mktemp("e5") / "index"
    build_index(CORPUS, index_dir, make_embedder("e5"), progress=False)
    return index_dir


@pytest.fixture(scope="session")
def e5_engine(e5_index) -> Engine:
    return Engine.open(e5_index)
