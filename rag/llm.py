"""Optional generation through an OpenAI-compatible chat endpoint, checked before it is shown.

The model sees the same numbered passages the extractive composer used and is told to state
only what they say, with a [n] marker after each sentence. Its answer is accepted only when
every marker names a listed passage, at least one marker is present, and every number in the
answer appears in the passages it cites; otherwise (and on any error or timeout) the caller
keeps the extractive answer.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import httpx

from rag.types import Citation

__all__ = ["LLMClient", "check_generated"]

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "你是新闻资料问答助手。只能根据用户提供的编号资料回答，不得使用资料以外的知识。"
    "回答要简短，用中文；每句话后面用[编号]标明出处，例如“……900亿元。[1]”。"
    "数字必须与资料完全一致。资料中没有答案时，只回答：资料中没有找到能回答这个问题的内容。"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MARKER = re.compile(r"\[(\d+)\]")


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def check_generated(answer: str, citations: list[Citation]) -> str | None:
    """None when the generated answer is acceptable, else the reason it is not."""
    by_n = {c.n: c for c in citations}
    markers = [int(m) for m in _MARKER.findall(answer)]
    if not markers:
        return "no citation markers"
    if any(n not in by_n for n in markers):
        return f"marker outside 1..{len(citations)}"
    # Each sentence's numbers must stand in the passages that sentence cites.
    for sentence in re.findall(r"[^\[\]]*?(?:\[\d+\])+", answer):
        cited = " ".join(_squash(by_n[int(n)].text + by_n[int(n)].title) for n in _MARKER.findall(sentence))
        for number in _NUMBER.findall(_MARKER.sub("", sentence)):
            if number not in cited:
                return f"number {number} not in the cited passages"
    tail = _MARKER.sub("", answer.split("]")[-1]) if "]" in answer else answer
    if _NUMBER.search(tail):
        return "a number after the last marker"
    return None


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

    def answer(self, question: str, citations: list[Citation]) -> str | None:
        """A checked generated answer, or None (and a log line) when it cannot be used."""
        try:
            text = self.generate(question, citations)
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("LLM endpoint failed (%s); using the extractive answer", exc)
            return None
        problem = check_generated(text, citations)
        if problem:
            log.warning("LLM answer rejected (%s); using the extractive answer", problem)
            return None
        return text
