"""The grounding check: every number and every quotation in a draft appears in its evidence.

A draft is judged by what it asserts, so the scaffolding the renderers add is set aside
first: citation markers (``[2]``), thread numbering (``3/7``), URLs and the ``Evidence:``
lines of an outline. Numbers are compared as written in digits, with thousands separators
removed ("1,200" and "1200" are one number, and "45%" needs a 45 in the evidence); numbers
spelled in words are not checked. A quotation is text inside double quotes (straight or
curly) and must appear word for word, ignoring case and spacing, in one evidence text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_MARKERS = re.compile(r"(?:\[\d+\])+")
_THREAD_NUMBERING = re.compile(r"^\d+/\d+\s", re.MULTILINE)
_URL = re.compile(r"https?://\S+")
_EVIDENCE_LINE = re.compile(r"^Evidence:.*$", re.MULTILINE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_QUOTE = re.compile(r"[“\"]([^”\"]+)[”\"]")
_SPACE = re.compile(r"\s+")


def assertions(text: str) -> str:
    """``text`` without the scaffolding the renderers add."""
    for pattern in (_EVIDENCE_LINE, _URL, _MARKERS, _THREAD_NUMBERING):
        text = pattern.sub(" ", text)
    return text


def _normalized_number(raw: str) -> str:
    # "1,200" is one number, and so is "1,200.5"; a trailing dot ends a sentence.
    return raw.rstrip(".,").replace(",", "")


def numbers(text: str) -> set[str]:
    return {_normalized_number(match.group()) for match in _NUMBER.finditer(text)}


def _normalized_text(text: str) -> str:
    return _SPACE.sub(" ", text.replace("’", "'").replace("‘", "'")).strip().casefold()


def quotations(text: str) -> list[str]:
    return [match.group(1).strip() for match in _QUOTE.finditer(text) if match.group(1).strip()]


def ungrounded_facts(text: str, evidence_texts: Sequence[str]) -> list[str]:
    """The numbers and quotations in ``text`` found in none of ``evidence_texts``."""
    claimed = assertions(text)
    known_numbers: set[str] = set().union(*(numbers(source) for source in evidence_texts))
    problems = [
        f"number {n} is not in the evidence" for n in sorted(numbers(claimed) - known_numbers)
    ]
    normalized_sources = [_normalized_text(source) for source in evidence_texts]
    for quote in quotations(claimed):
        if not any(_normalized_text(quote) in source for source in normalized_sources):
            problems.append(f"quotation “{quote}” is not in the evidence")
    return problems
