"""One typed config for chunking, retrieval and answer composition: every tuned number once,
with the reason it has its value.

The edges (`rag.settings.Settings`, from the environment) make one `Config`; library code takes
it, or the part of it it needs, as a plain argument (`Engine(config=...)`,
`compose(..., config=...)`, `search(..., config=...)`). Values are checked where they enter:

    >>> RetrievalConfig(candidates=0)
    Traceback (most recent call last):
    ...
    rag.errors.InputError: candidates must be >= 1, got 0

The corpus-specific weight (the dense leg's share in fusion) lives in the corpus profile
(`rag/profiles/<name>/profile.json`); `RetrievalConfig.dense_weight` overrides it when set.

Where these were tuned: the composer's thresholds and score weights on the whole of
eval/gold.jsonl before it was split (eval/README.md), so for them only the held-out news
questions are truly unseen; retrieval and chunking on the 73 lexical questions and the gold set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from rag.errors import InputError

__all__ = ["CHUNK_CHARS", "COMPOSERS", "ComposeConfig", "Composer", "Config", "DEFAULT", "DEFAULT_COMPOSER",
           "DEFAULT_TOP_K", "Fusion", "MAX_QUESTION_CHARS", "MAX_TOP_K",
           "RetrievalConfig", "ScoreWeights"]

# About 3-4 sentences of news prose: one fact per chunk (FINDINGS.md). The index records the
# value it was built with; `rag index --chunk-chars` and RAG_CHUNK_CHARS change it.
CHUNK_CHARS = 300
# A question longer than this is refused with a message: a question, not a document.
MAX_QUESTION_CHARS = 1000
# The most sources one answer or search returns (`top_k`), and how many by default.
MAX_TOP_K = 20
DEFAULT_TOP_K = 5

# "learned": the sentence reader ranks the candidate sentences, the rule checks veto (see its policy);
# "rules": every rule check of rag/compose.py must pass, the rules' score ranks;
# "rules-then-learned": the rules answer; the reader reads only the questions they would refuse.
# The default is the one that wins on the test splits (eval/README.md, "Fourth round"): with the reader
# retrained on questions written in users' words, over the six test halves learned 0.825 accuracy,
# rules-then-learned 0.810, rules 0.760 (false refusal 0.076 / 0.076 / 0.125; refusal of unanswerable
# 0.815 each); on held-out DRCD/CMRC 0.803 / 0.750. Its price is speed: ~110 ms an answer and about
# 8 requests/s with 8 clients on 2 cores, where rules-then-learned answers most questions in ~16 ms
# and keeps ~47 requests/s (pick it with RAG_COMPOSER=rules-then-learned when throughput matters more).
Composer = Literal["learned", "rules", "rules-then-learned"]
COMPOSERS: tuple[str, ...] = get_args(Composer)
DEFAULT_COMPOSER: Composer = "learned"


def _at_least(name: str, value: float, low: float) -> None:
    if value < low:
        raise InputError(f"{name} must be >= {low}, got {value}")


def _between(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {value}")


Fusion = Literal["rrf", "weighted"]


@dataclass(frozen=True)
class RetrievalConfig:
    # Reciprocal rank fusion constant from Cormack, Clarke & Büttcher (SIGIR 2009): with k=60 a
    # passage ranked first by one leg and absent from the other still beats one ranked ~30th by both.
    rrf_k: int = 60
    # Passages each leg hands to fusion (at least 4 x top_k): enough that a passage the other leg
    # ranks first is still in the pool.
    candidates: int = 50
    # Character 4-gram overlap above which two chunks count as one (the same paragraph printed
    # twice on a page and its continuation).
    duplicate_jaccard: float = 0.8
    # "rrf" (robust to the legs' incomparable score scales) or "weighted" (min-max normalised scores).
    fusion: Fusion = "rrf"
    # The dense leg's share in fusion; None: the corpus profile's (shandong 0.3, national 0.5).
    dense_weight: float | None = None
    # The composer reads at least this many passages, even when fewer are to be shown: hybrid
    # hit@10 is 0.98-1.0 on the gold splits, hit@5 0.97-0.98, so 8 holds nearly every answer.
    compose_pool: int = 8
    # Hybrid search then reorders those passages by their best sentence (rag.compose.rank_by_sentences):
    # a passage's order is this weight x its best sentence's score (less 1 when that sentence fails a
    # check) + 1 / (1 + its fused rank). 0 keeps the fused order. 0.5 chosen on the dev split
    # (hit@1 0.85 -> 0.92 on its single-passage questions; 0.3 gives 0.90, 1.0 0.92).
    sentence_rerank: float = 0.5
    # How many fused passages that rerank reads (at least top_k): a passage whose sentence states
    # the asked figure may be fused ninth or tenth behind passages that only share its words.
    rerank_pool: int = 12
    # With the learned reader, that rerank also reads the rules' best sentences (the reader
    # policy's pool) and adds this weight x the log-odds of each passage's best-read one; the
    # composer then finds those sentences read. 0 keeps the rules' order. 0.3 chosen on the dev
    # split (hybrid hit@1: seven halves 0.936 -> 0.946, news_dev6 0.833 -> 0.883; 0.1 and 0.2 gain less).
    reader_rerank: float = 0.3

    def __post_init__(self) -> None:
        _at_least("rrf_k", self.rrf_k, 0)
        _at_least("sentence_rerank", self.sentence_rerank, 0.0)
        _at_least("reader_rerank", self.reader_rerank, 0.0)
        _at_least("candidates", self.candidates, 1)
        _between("duplicate_jaccard", self.duplicate_jaccard, 0.0, 1.0)
        if self.fusion not in get_args(Fusion):
            raise InputError(f"fusion must be {' or '.join(get_args(Fusion))}, got {self.fusion!r}")
        if self.dense_weight is not None:
            _between("dense_weight", self.dense_weight, 0.0, 1.0)
        _at_least("compose_pool", self.compose_pool, 1)
        _at_least("rerank_pool", self.rerank_pool, 1)


@dataclass(frozen=True)
class ScoreWeights:
    """How the rules composer ranks candidate sentences: coverage of the question's weighted
    terms, plus these bonuses and minus these penalties. Chosen by hand on eval/gold.jsonl; each
    bonus is below the coverage gap between a right and a near-miss sentence (~0.3-0.5)."""

    answer_type: float = 0.3  # the sentence has the kind of answer asked (a number with its unit, a year)
    year: float = 0.15  # it names the asked year itself
    place: float = 0.1  # it names the asked place itself (not only its passage)
    org: float = 0.2  # it names the asked company or institution
    figure_clauses: float = 0.3  # for figures: the clauses that carry numbers cover the question
    rank: float = 0.1  # retrieval's order breaks near ties: + rank / (1 + passage rank)
    problem: float = 0.5  # each failed check
    length: float = 0.0005  # per character: a shorter sentence wins a tie
    increment: float = 0.2  # "有多少家" asks for a total: a sentence about what was added ranks lower


@dataclass(frozen=True)
class ComposeConfig:
    # A sentence must cover this share of the question's IDF-weighted terms when a figure, year or
    # date is asked; lower lets near misses through, higher refuses paraphrased questions.
    min_coverage: float = 0.5
    # The same for lists and descriptions, whose answers share fewer words with the question.
    min_coverage_open: float = 0.4
    # For figures, the sentence itself (without headline and preceding text) must carry this much.
    min_sentence_coverage: float = 0.3
    # The headline, heading and the 120 characters before a sentence count at this share of
    # their coverage: context helps, but the sentence must carry the answer.
    context_share: float = 0.8
    # How much of the article before a sentence its checks read (the year or place it speaks of may
    # be stated a sentence earlier, in the chunk before): about two sentences of this press.
    before_chars: int = 300
    # A modifier this rare (IDF 2.5: in under ~8% of chunks) must match too ("进出口"总额).
    specific_idf: float = 2.5
    # A place named in a sentence's first 16 characters is what the sentence is about.
    subject_chars: int = 16
    # Longer sentences are trimmed to their first clause and the clauses that carry the answer.
    max_sentence_chars: int = 160
    # An answer of several sentences stops before this length (about four sentences).
    max_answer_chars: int = 420
    # For lists and descriptions, further sentences must score this share of the best one.
    extra_share: float = 0.6
    # A list question whose best sentence names too few items is also answered by the first sentence
    # that enumerates them ("以节能双控评价、油气管道保护…为主业") when the reader scores it at least
    # this share of the best one.
    list_share: float = 0.3
    # A refusal lists this many closest passages.
    refusal_sources: int = 3
    # A paragraph opening this short ("“两项机制”推动工作落实。") names a list item; quoted alone and
    # without a figure, it heads what follows, and the next sentence is quoted with it.
    lead_in_chars: int = 24
    # At most this many such items are added to a list answer.
    max_list_items: int = 6
    # The reader reads the rules' best sentences (the policy's pool) and also the best sentence of
    # each of this many leading passages that has none among them: a passage retrieval put first
    # is read even when its wording is far from the question's ("项目深化年" for "什么“年”活动").
    lead_passages: int = 3
    weights: ScoreWeights = field(default_factory=ScoreWeights)

    def __post_init__(self) -> None:
        for name in ("min_coverage", "min_coverage_open", "min_sentence_coverage", "context_share", "extra_share",
                     "list_share"):
            _between(name, getattr(self, name), 0.0, 1.0)
        for name in ("before_chars", "subject_chars", "max_sentence_chars", "max_answer_chars", "lead_in_chars", "max_list_items"):
            _at_least(name, getattr(self, name), 1)
        _at_least("lead_passages", self.lead_passages, 0)
        _at_least("refusal_sources", self.refusal_sources, 0)


@dataclass(frozen=True)
class Config:
    chunk_chars: int = CHUNK_CHARS
    max_question_chars: int = MAX_QUESTION_CHARS
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    compose: ComposeConfig = field(default_factory=ComposeConfig)

    def __post_init__(self) -> None:
        _at_least("chunk_chars", self.chunk_chars, 20)
        _at_least("max_question_chars", self.max_question_chars, 10)


DEFAULT = Config()
