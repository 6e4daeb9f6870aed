"""The question-answering engine: a loaded index, its embedder, and the answer pipeline.

    question -> follow-up rewrite -> hybrid search -> extractive composer (-> optional LLM)

One Engine is made at start-up (API lifespan, CLI command) and shared; its methods are safe
to call from several threads at once (nothing in it changes after loading). Adding or
removing articles makes a new Engine (`with_index`) that replaces the old one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Iterator
from pathlib import Path

from rag.compose import compose, rank_by_sentences, refusal
from rag.config import (
    COMPOSERS,
    DEFAULT,
    DEFAULT_COMPOSER,
    DEFAULT_TOP_K,
    MAX_QUESTION_CHARS,
    MAX_TOP_K,
    Config,
)
from rag.current_year import page_years
from rag.embedders import Embedder, make_embedder
from rag.errors import ArticleNotFound, InputError
from rag.followup import rewrite
from rag.index import Index, load_index
from rag.llm import LLMClient
from rag.profile import active as active_profile
from rag.question import Question, analyze, split_comparison, split_parts, split_years
from rag.reader import Reader, ReaderPolicy
from rag.retrieve import Filters, search
from rag.types import MODES, Answer, AnswerPart, Article, Chunk, Citation, Hit, Refusal

__all__ = ["Engine", "COMPOSERS", "validate_question"]



def validate_question(question: object, max_chars: int = MAX_QUESTION_CHARS) -> str:
    if not isinstance(question, str):
        raise InputError("the question must be a string", field="question")
    question = question.strip()
    if not question:
        raise InputError("the question is empty: type a question (问题不能为空)", field="question")
    if len(question) > max_chars:
        raise InputError(
            f"the question is {len(question)} characters long; the limit is {max_chars} (问题太长，请缩短)",
            field="question",
        )
    return question


def _validate_top_k(top_k: int) -> int:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise InputError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k!r}")
    return top_k


def _validate_history(history: list[dict] | None) -> list[dict]:
    turns = []
    for turn in history or []:
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant") or not isinstance(
            turn.get("content"), str
        ):
            raise InputError('each history turn must be {"role": "user" | "assistant", "content": "..."}')
        turns.append(turn)
    return turns


def _hit(c: Citation) -> Hit:
    return Hit(c.chunk_id, c.article_id, c.title, c.date, c.source, c.text, c.score)


class Engine:
    def __init__(self, index: Index, embedder: Embedder, llm: LLMClient | None = None,
                 config: Config = DEFAULT, reader: Reader | None = None,
                 policy: ReaderPolicy | None = None, rules_first: bool = False) -> None:
        self.index = index
        self.reader = reader
        self.rules_first = rules_first and reader is not None  # the rules answer, the reader backs off
        # Search reads with the reader only for the learned composer: rules-then-learned keeps the
        # rules' speed wherever they answer.
        self._ranking_reader = None if self.rules_first else reader
        self.policy = policy or (ReaderPolicy() if reader else None)
        self.embedder = embedder
        self.config = config
        # Retrieval as configured; a dense weight left open is the corpus profile's (rag.profile).
        weight = config.retrieval.dense_weight
        self.retrieval = dataclasses.replace(
            config.retrieval, dense_weight=active_profile().dense_weight if weight is None else weight)
        self.llm = llm
        self.max_question_chars = config.max_question_chars
        self.chunks_by_id = {c.id: c for c in index.chunks}
        self._texts = [c.context_text() for c in index.chunks]
        self._article_texts = {a.id: a.title + "\n" + a.text for a in index.articles.values()}
        self._page_years = page_years(index.articles.values(), index.article_files)
        self._article_chunks: dict[str, list[Chunk]] = {}
        for chunk in index.chunks:
            self._article_chunks.setdefault(chunk.article_id, []).append(chunk)
        for chunks in self._article_chunks.values():
            chunks.sort(key=lambda c: c.position)
        self.idf = functools.lru_cache(maxsize=65536)(self._idf)

    def _idf(self, term: str) -> float:
        """IDF of a question word by substring count over the chunks; 0 for a word the corpus
        never uses (a paraphrase: no passage can contain it, so it must not count against one)."""
        df = sum(1 for text in self._texts if term in text)
        if df == 0:
            return 0.0
        n = len(self._texts)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    @classmethod
    def open(cls, index_dir: Path, embedder: Embedder | str | None = None, llm: LLMClient | None = None,
             config: Config = DEFAULT, composer: str = DEFAULT_COMPOSER,
             reader_dir: Path | None = None, store: str | None = None, milvus_uri: str | None = None) -> Engine:
        """Load the index at index_dir; the embedder defaults to the one it was built with.
        `composer` is "learned" (the shipped reader, or the one in reader_dir), "rules", or
        "rules-then-learned" (the rules, and the reader where they would refuse).
        `store` and `milvus_uri`, when given, must match what the index records (rag.index.load_index)."""
        if composer not in COMPOSERS:
            raise InputError(f"composer must be one of {', '.join(COMPOSERS)}, got {composer!r}")
        if isinstance(embedder, str):
            embedder = make_embedder(embedder)
        index = load_index(Path(index_dir), embedder.id if embedder else None, store, milvus_uri)
        if embedder is None:
            built = index.manifest["embedder"]["id"]
            embedder = make_embedder("e5" if built == "multilingual-e5-small" else
                                     f"hash:{index.manifest['embedder']['dim']}" if built.startswith("hash") else
                                     f"st:{built[3:]}")
        reader = Reader.load(reader_dir) if composer != "rules" else None
        policy = ReaderPolicy.load(reader_dir) if reader else None
        engine = cls(index, embedder, llm, config, reader, policy, rules_first=composer == "rules-then-learned")
        engine.warm_up()
        return engine

    def with_index(self, index: Index) -> Engine:
        """A new engine over another index (an updated one), with this one's embedder and settings.

        The API swaps its engine for the new one in one assignment: a question already under
        way finishes on the engine it started with, so no answer mixes two indexes.
        """
        engine = type(self)(index, self.embedder, self.llm, self.config, self.reader, self.policy, self.rules_first)
        engine.max_question_chars = self.max_question_chars
        return engine

    def warm_up(self) -> None:
        """Load jieba's dictionaries and the query model now, not on the first question."""
        analyze("招远2023年黄金产业总产值是多少？")
        self.embedder.embed_queries(["招远"])
        if self.reader:
            self.reader.score("总产值是多少？", [("招远", "", "黄金产业总产值达到900亿元。")])

    # ------------------------------------------------------------------ search

    def search_timed(self, query: str, top_k: int = DEFAULT_TOP_K, mode: str = "hybrid",
                     filters: dict | Filters | None = None,
                     question: Question | None = None) -> tuple[list[Hit], dict[str, float]]:
        """The top_k hits and per-stage timings; `question`, the query already analysed (by `ask`),
        spares the sentence rerank analysing it again."""
        query = validate_question(query, self.max_question_chars)
        _validate_top_k(top_k)
        if mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        started = time.perf_counter()
        parsed = filters if isinstance(filters, Filters) or filters is None else Filters.from_dict(filters)
        rerank = mode == "hybrid" and self.retrieval.sentence_rerank > 0
        depth = max(top_k, self.retrieval.rerank_pool) if rerank else top_k
        hits, timings = search(self.index, self.embedder, query, depth, mode, parsed,  # type: ignore[arg-type]
                               self.retrieval)
        if rerank and hits:
            rerank_started = time.perf_counter()
            hits = rank_by_sentences(question or analyze(query), hits, self.chunks_by_id, self.idf, self._article_text,
                                     self.retrieval.sentence_rerank, self.config.compose,
                                     self._page_years.get, self._ranking_reader, self.retrieval.reader_rerank,
                                     self.policy.pool if self.policy else 0)[:top_k]
            timings["rerank_ms"] = (time.perf_counter() - rerank_started) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        self._provenance(hits)
        return hits, {k: round(v, 2) for k, v in timings.items()}

    def _provenance(self, items: list) -> None:
        """Copy each article's date source and publication onto its hits or citations."""
        for item in items:
            article = self.index.articles.get(item.article_id)
            if article is not None:
                item.date_source, item.publication = article.date_source, article.publication

    def search(self, query: str, top_k: int = DEFAULT_TOP_K, mode: str = "hybrid", filters: dict | None = None) -> list[Hit]:
        return self.search_timed(query, top_k, mode, filters)[0]

    # ------------------------------------------------------------------ answers

    def ask(self, question: str, top_k: int = DEFAULT_TOP_K, history: list[dict] | None = None, mode: str = "hybrid",
            filters: dict | None = None) -> Answer:
        started = time.perf_counter()
        question = validate_question(question, self.max_question_chars)
        _validate_top_k(top_k)
        standalone = rewrite(question, _validate_history(history))
        parsed = analyze(standalone)
        sides = split_comparison(standalone, parsed.entities) if parsed.kind == "compare" else []
        parts = [] if sides else split_parts(standalone) or split_years(standalone, parsed.years)
        if sides or parts:
            answer, timings = self._compare(standalone, sides or parts, top_k, mode, filters, by_part=bool(parts))
        else:
            hits, timings = self.search_timed(standalone, max(top_k, self.retrieval.compose_pool), mode, filters,
                                              parsed)
            compose_started = time.perf_counter()
            answer = self._compose(parsed, hits)
            timings["compose_ms"] = round((time.perf_counter() - compose_started) * 1000, 2)
        if len(answer.citations) > top_k:  # keep the promise of top_k sources
            answer = self._limit(answer, top_k, [_hit(c) for c in answer.citations])
        if self.llm and not answer.refused:
            llm_started = time.perf_counter()
            generated = self.llm.answer(standalone, answer.citations)
            timings["llm_ms"] = round((time.perf_counter() - llm_started) * 1000, 2)
            if generated:
                answer = Answer(generated, answer.citations)
        timings["total_ms"] = round((time.perf_counter() - started) * 1000, 2)
        self._provenance(answer.citations)
        answer.timings_ms = timings
        answer.query = standalone
        return answer

    def _compose(self, parsed, hits: list[Hit]) -> Answer:
        return compose(parsed, hits, self.chunks_by_id, self.idf, self._article_text, self._chunks_of,
                       self.reader, self.policy, self.config.compose, self.rules_first, self._page_years.get)

    def _compare(self, question: str, sides: list[str], top_k: int, mode: str,
                 filters: dict | None, by_part: bool = False) -> tuple[Answer, dict[str, float]]:
        """Answer each side of a comparison (or each part of a question of several) from its own
        retrieval, cited separately; a side nothing answers says so by its name (by its text)."""
        timings: dict[str, float] = {}
        parts: list[AnswerPart] = []
        citations: list[Citation] = []
        missing: list[str] = []
        reasons: list[Refusal | None] = []
        by_chunk: dict[str, int] = {}
        first_hits: list[Hit] = []
        for side in sides:
            parsed = analyze(side)
            hits, side_timings = self.search_timed(side, max(top_k, self.retrieval.compose_pool), mode, filters,
                                                   parsed)
            for key, value in side_timings.items():
                timings[key] = round(timings.get(key, 0.0) + value, 2)
            first_hits = first_hits or hits
            answer = self._compose(parsed, hits)
            if answer.refused:
                if by_part:
                    parts.append(AnswerPart(f"“{side}”资料中没有找到答案。"))
                    reasons.append(answer.refusal)
                    continue
                name = parsed.entities[0] if parsed.entities else side
                parts.append(AnswerPart(f"资料中没有找到关于“{name}”的相应内容。"))
                missing.append(name)
                continue
            for c in answer.citations:
                if c.chunk_id not in by_chunk:
                    by_chunk[c.chunk_id] = len(by_chunk) + 1
                    citations.append(dataclasses.replace(c, n=by_chunk[c.chunk_id]))
            said = {(p.chunk_id, p.text) for p in parts if p.chunk_id}
            # Two parts answered by one sentence ("几个项目？排第几？") quote it once.
            parts += [dataclasses.replace(p, n=by_chunk[p.chunk_id]) if p.chunk_id else p for p in answer.parts
                      if not p.chunk_id or (p.chunk_id, p.text) not in said]
        if not citations:
            reason = (reasons[0] if reasons else None) if by_part else Refusal("entity", missing)
            return refusal(first_hits, reason, self.config.compose.refusal_sources), timings
        return Answer(parts, citations), timings

    def _limit(self, answer: Answer, top_k: int, hits: list[Hit]) -> Answer:
        """Keep the first top_k citations and the sentences that cite them (and the sentences
        that cite nothing, such as "资料中没有找到关于…")."""
        if answer.refused:
            return dataclasses.replace(answer, citations=answer.citations[:top_k])
        keep = {c.n for c in answer.citations[:top_k]}
        parts = [p for p in answer.parts if p.n is None or p.n in keep]
        if not any(p.n is not None for p in parts):
            return refusal(hits[:top_k], None, self.config.compose.refusal_sources)
        return Answer(parts, [c for c in answer.citations if c.n in keep])

    def ask_stream(self, question: str, top_k: int = DEFAULT_TOP_K, history: list[dict] | None = None, mode: str = "hybrid",
                   filters: dict | None = None) -> Iterator[dict]:
        """The answer as events: text pieces, then the citations, then the whole answer."""
        answer = self.ask(question, top_k, history, mode, filters)
        for piece in answer.pieces():
            yield {"event": "delta", "text": piece}
        yield {"event": "citations", "citations": [c.to_dict() for c in answer.citations]}
        yield {"event": "done", "answer": answer.to_dict()}

    # ------------------------------------------------------------------ articles

    def _chunks_of(self, article_id: str) -> list[Chunk]:
        return self._article_chunks.get(article_id, [])

    def _article_text(self, article_id: str) -> str:
        return self._article_texts.get(article_id, "")

    def article(self, article_id: str) -> Article:
        article = self.index.articles.get(article_id)
        if article is None:
            raise ArticleNotFound(article_id)
        return article

    def health(self) -> dict:
        manifest = self.index.manifest
        return {
            "status": "ok",
            "index_dir": str(self.index.path),
            "articles": len(self.index.articles),
            "chunks": len(self.index.chunks),
            "embedder": manifest["embedder"],
            "dense_index": manifest.get("dense_index"),
            "tokenizer": manifest.get("tokenizer"),
            "built_at": manifest.get("created_at"),
            "version": manifest.get("versions", {}).get("rag"),
            "llm": bool(self.llm),
            "composer": "rules-then-learned" if self.rules_first else "learned" if self.reader else "rules",
            "reader": self.reader.id if self.reader else None,
        }
