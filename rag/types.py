"""The records that flow through the pipeline: articles, chunks, hits and answers.

Plain dataclasses with `to_dict()` so that the CLI's `--json`, the HTTP API and the
eval reports all serialise the same shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from rag.text import marker, render_parts

# The retrieval modes, spelled once: both legs fused, the dense leg alone, the BM25 leg alone.
RetrievalMode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = get_args(RetrievalMode)


def content_id(*parts: str, length: int = 16) -> str:
    """A stable id from content: sha256 over the parts, joined by a unit separator."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


# Where an article's date came from:
#   dateline      a dateline that states the full date ("本报济南2024年2月21日讯")
#   front_matter  the file's own metadata: Markdown/HTML front matter, a JSON record's "date"
#   sidecar       the corpus's meta.jsonl names the date of the file
#   inferred      a dateline gives month and day; the year is one the text states as current
#                 (meta.jsonl records it with the words it was read from). Shown as inferred.
DATE_SOURCES = ("dateline", "front_matter", "sidecar", "inferred")


@dataclass
class Article:
    """One cleaned article. `id` is a content hash of source, title and text."""

    id: str
    title: str
    date: str | None  # ISO "YYYY-MM-DD", or None when the article does not say
    source: str  # the corpus file name it came from
    paragraphs: list[str]
    # Where `date` came from (see DATE_SOURCES), and for "inferred" dates the words of the
    # text the year was read from; None when there is no date.
    date_source: str | None = None
    date_evidence: str | None = None
    publication: str | None = None  # the newspaper, when the file or the sidecar names it
    page: str | None = None  # the printed page, when the sidecar names it

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Chunk:
    """A paragraph-sized piece of one article, with the article's context."""

    id: str  # content_id(article_id, text)
    article_id: str
    position: int  # 0-based order inside its article
    text: str
    title: str
    date: str | None
    source: str
    heading: str = ""  # the section heading the chunk sits under, if any

    def context_text(self) -> str:
        """What the index sees: headline and heading before the passage itself."""
        head = " ".join(p for p in (self.title, self.heading) if p)
        return f"{head}\n{self.text}" if head else self.text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Hit:
    chunk_id: str
    article_id: str
    title: str
    date: str | None
    source: str
    text: str
    score: float
    date_source: str | None = None  # filled from the article (see DATE_SOURCES)
    publication: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    n: int
    chunk_id: str
    article_id: str
    title: str
    date: str | None
    source: str
    text: str
    score: float
    date_source: str | None = None  # filled from the article (see DATE_SOURCES)
    publication: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Why an answer is a refusal, by what was missing. The composer's checks (rag.compose.CHECKS)
# name their own codes; "no_passages" means retrieval found nothing, "not_found" that no
# sentence answers and no single check is to blame.
REFUSAL_CODES = ("entity", "name", "year", "ordinal", "period", "metric", "unit", "answer_type", "coverage",
                 "no_passages", "not_found")


@dataclass
class Refusal:
    """Why the articles do not answer: a code, the missing pieces, and the reason in words."""

    code: str  # one of REFUSAL_CODES
    missing: list[str] = field(default_factory=list)  # what was asked for and not found: "2022年", "胶州"
    reason: str = ""  # shown to the user: "资料中没有2022年的相关内容" ("" when there is none to give)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnswerPart:
    """One sentence of an answer and where it came from.

    `span` is the [start, end) of the quoted sentence in the cited passage's text
    (`Citation.text`); the shown `text` may be shorter (long sentences are trimmed to their
    clauses) or annotated ("今年（2024年）"). A part without `n` cites nothing ("资料中没有
    找到关于“胶州”的相应内容。"); an LLM's sentence has `n` but no span.
    """

    text: str
    n: int | None = None
    chunk_id: str | None = None
    span: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "n": self.n, "chunk_id": self.chunk_id,
                "span": list(self.span) if self.span else None}


@dataclass
class Answer:
    """An answer as structure: its sentences (`parts`) with their sources, or a `refusal`.

    Text with `[n]` markers is written only at the edges (`text`, `to_dict`): nothing inside
    the package reads it back.
    """

    parts: list[AnswerPart] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    refusal: Refusal | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    query: str = ""  # the standalone question retrieval used (after follow-up rewriting); not serialised

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    @property
    def text(self) -> str:
        """The answer as shown: each sentence followed by its `[n]`; a refusal says what was
        missing and lists the closest sources."""
        if self.refusal is None:
            return render_parts((p.text, p.n) for p in self.parts)
        text = "资料中没有找到能回答这个问题的内容"
        text += f"（{self.refusal.reason}）。" if self.refusal.reason else "。"
        if self.citations:
            text += "最接近的资料：" + "；".join(f"《{c.title}》{marker(c.n)}" for c in self.citations) + "。"
        return text

    answer = text  # the name of the field in POST /ask

    def pieces(self) -> list[str]:
        """The text cut for streaming: one piece per sentence with its marker."""
        if self.refusal is None:
            return [p.text + marker(p.n) for p in self.parts if p.text or p.n is not None]
        return [self.text]

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": self.timings_ms,
            "parts": [p.to_dict() for p in self.parts],
            "refusal": self.refusal.to_dict() if self.refusal else None,
        }
