"""The one definition of what the sentence reader sees, shared by training and serving.

A pair: the question, and the candidate sentence with its context (the article's headline and
the end of the sentence before it, which often states the year or the subject):

    >>> reader_pair("招远黄金产业总产值是多少？", "山东招远", "2023年实施项目31个。", "总产值达到900亿元。")
    ('招远黄金产业总产值是多少？', '山东招远｜2023年实施项目31个。【总产值达到900亿元。】')
"""

from __future__ import annotations

__all__ = ["reader_pair", "MAX_TOKENS", "PAD_TO", "TITLE_CHARS", "PREVIOUS_CHARS", "SENTENCE_CHARS"]

MAX_TOKENS = 128  # question + context; longer pairs lose the start of their context
# Batches are padded to a multiple of this: a handful of shapes, so the CPU kernels are built once
# (each new shape rebuilds them; with free lengths a training step took 4x longer).
PAD_TO = 32
TITLE_CHARS = 24
PREVIOUS_CHARS = 40  # the end of the preceding sentence: enough for "2023年，" or the subject
SENTENCE_CHARS = 160  # the composer trims longer sentences to their clauses anyway


def reader_pair(question: str, title: str, previous: str, sentence: str) -> tuple[str, str]:
    """(question, "headline｜previous【sentence】"), each part cut to its budget."""
    context = f"{title[:TITLE_CHARS]}｜{previous[-PREVIOUS_CHARS:]}【{sentence[:SENTENCE_CHARS]}】"
    return question, context
