"""The records that flow through the pipeline: articles, chunks, hits and answers.

Plain dataclasses with `to_dict()` so that the CLI's `--json`, the HTTP API and the
eval reports all serialise the same shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


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


@dataclass
class Answer:
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    query: str = ""  # the standalone question retrieval used (after follow-up rewriting); not serialised

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "timings_ms": self.timings_ms,
        }
