"""rag.config: one typed config, checked where it enters, one source for each number."""

from __future__ import annotations

import pytest

from rag import chunking, index
from rag.config import CHUNK_CHARS, DEFAULT, MAX_QUESTION_CHARS, ComposeConfig, Config, RetrievalConfig
from rag.errors import InputError
from rag.settings import Settings


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RetrievalConfig(candidates=0), "candidates must be >= 1, got 0"),
        (lambda: RetrievalConfig(dense_weight=1.5), "dense_weight must be between 0.0 and 1.0, got 1.5"),
        (lambda: RetrievalConfig(fusion="max"), "fusion must be rrf or weighted, got 'max'"),
        (lambda: RetrievalConfig(rerank_pool=0), "rerank_pool must be >= 1, got 0"),
        (lambda: ComposeConfig(min_coverage=2), "min_coverage must be between 0.0 and 1.0, got 2"),
        (lambda: ComposeConfig(max_answer_chars=0), "max_answer_chars must be >= 1, got 0"),
        (lambda: Config(chunk_chars=5), "chunk_chars must be >= 20, got 5"),
    ],
)
def test_bad_values_name_themselves(make, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_one_source_for_each_number() -> None:
    assert chunking.MAX_CHARS == CHUNK_CHARS == DEFAULT.chunk_chars == Settings().chunk_chars
    assert index.build_index.__kwdefaults__["chunk_chars"] == CHUNK_CHARS
    assert Settings().max_question_chars == MAX_QUESTION_CHARS == DEFAULT.max_question_chars


def test_settings_make_the_config() -> None:
    config = Settings(fusion="weighted", dense_weight=0.7, chunk_chars=200, max_question_chars=50).config()
    assert config.retrieval.fusion == "weighted" and config.retrieval.dense_weight == 0.7
    assert (config.chunk_chars, config.max_question_chars) == (200, 50)
    assert Settings().config().retrieval.dense_weight is None  # the profile decides


def test_engine_takes_the_profile_weight_unless_configured(engine) -> None:
    assert engine.retrieval.dense_weight == 0.3  # the bundled corpus's profile (shandong)
    other = type(engine)(engine.index, engine.embedder, config=Config(retrieval=RetrievalConfig(dense_weight=0.6)))
    assert other.retrieval.dense_weight == 0.6


def test_compose_config_changes_answers(engine) -> None:
    question = "招远2023年黄金产业总产值是多少？"
    whole = engine.ask(question)
    assert not whole.refused and "……" not in whole.text and "900亿元" in whole.text
    short = type(engine)(engine.index, engine.embedder, config=Config(compose=ComposeConfig(max_sentence_chars=30)))
    trimmed = short.ask(question)
    assert "……" in trimmed.text and "900亿元" in trimmed.text, "a long sentence is cut to the clauses that answer"
    assert trimmed.parts[0].span == whole.parts[0].span  # the source span is the whole sentence still
    terse = type(engine)(engine.index, engine.embedder, config=Config(compose=ComposeConfig(refusal_sources=1)))
    assert len(terse.ask("龙口2023年地区生产总值是多少？").citations) <= 1
