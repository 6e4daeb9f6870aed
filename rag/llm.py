"""Optional generation through an OpenAI-compatible chat endpoint, checked before it is shown.

The model sees the same numbered passages the extractive composer used and is told to state
only what they say, with a [n] marker after each sentence. Its answer is accepted only when
every marker names a listed passage, at least one marker is present, and every number in the
answer appears in the passages it cites; otherwise (and on any error or timeout) the caller
keeps the extractive answer. The reply is the one place where text with `[n]` markers enters
the system: `answer` parses it once into answer parts (`rag.text.parse_marked`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import httpx

from rag.text import parse_marked
from rag.types import AnswerPart, Citation

__all__ = ["LLMClient", "check_generated", "parse_reply"]

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "你是新闻资料问答助手。只能根据用户提供的编号资料回答，不得使用资料以外的知识。"
    "回答要简短，用中文；每句话后面用[编号]标明出处，例如“……900亿元。[1]”。"
    "数字必须与资料完全一致。资料中没有答案时，只回答：资料中没有找到能回答这个问题的内容。"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_generated(parts: list[AnswerPart], citations: list[Citation]) -> str | None:
    """None when the generated answer's parts are acceptable, else the reason they are not."""
    by_n = {c.n: c for c in citations}
    markers = [p.n for p in parts if p.n is not None]
    if not markers:
        return "no citation markers"
    if any(n not in by_n for n in markers):
        return f"marker outside 1..{len(citations)}"
    # Each sentence's numbers must stand in the passages that sentence cites; a part with no
    # text ("…[1][2]") adds its passage to the sentence before it.
    sentences: list[tuple[str, list[int]]] = []
    for part in parts:
        if part.n is None:
            if _NUMBER.search(part.text):
                return "a number after the last marker"
        elif part.text or not sentences:
            sentences.append((part.text, [part.n]))
        else:
            sentences[-1][1].append(part.n)
    for text, cites in sentences:
        cited = " ".join(_squash(by_n[n].text + by_n[n].title) for n in cites)
        for number in _NUMBER.findall(text):
            if number not in cited:
                return f"number {number} not in the cited passages"
    return None


def parse_reply(text: str, citations: list[Citation]) -> list[AnswerPart]:
    """The model's reply as answer parts: one per `[n]` marker, with the passage it names."""
    chunk_of = {c.n: c.chunk_id for c in citations}
    return [AnswerPart(t, n, chunk_of.get(n) if n is not None else None) for t, n in parse_marked(text)]


@dataclass
class LLMClient:
    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 20.0

    def generate(self, question: str, citations: list[Citation]) -> str:
        passages = "\n\n".join(f"[{c.n}]《{c.title}》{c.text}" for c in citations)
        payload = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"资料：\n{passages}\n\n问题：{question}"},
            ],
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        response = httpx.post(
            self.base_url.rstrip("/") + "/chat/completions", json=payload, headers=headers, timeout=self.timeout_s
        )
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"]).strip()

    def answer(self, question: str, citations: list[Citation]) -> list[AnswerPart] | None:
        """A checked generated answer, as parts, or None (and a log line) when it cannot be used."""
        try:
            text = self.generate(question, citations)
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("LLM endpoint failed (%s); using the extractive answer", exc)
            return None
        parts = parse_reply(text, citations)
        problem = check_generated(parts, citations)
        if problem:
            log.warning("LLM answer rejected (%s); using the extractive answer", problem)
            return None
        return parts
