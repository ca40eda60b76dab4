"""Article text into chunks that fit the embedding model's real input limit.

all-MiniLM-L6-v2 silently truncates past 256 word pieces, so chunks are measured with the
model's own tokenizer, not in words. Each chunk repeats the title (a chunk about "the
rule" means little without it) and overlaps its neighbour so a sentence cut at a boundary
is whole in one of them. Chunk ids are stable: article id, position and a hash of the
chunk's text, so unchanged text keeps its id and changed text gets a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

SPECIAL_TOKENS = 2  # [CLS] and [SEP], which the model adds to every input
SEPARATOR = "\n\n"


class Tokenizer(Protocol):
    """The part of a Hugging Face fast tokenizer that chunking uses."""

    def __call__(self, text: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Chunk:
    id: str
    article_id: str
    position: int
    text: str
    token_count: int
    content_hash: str


def _count(tokenizer: Tokenizer, text: str) -> int:
    # verbose=False: counting a long text is the point here, not a mistake to warn about.
    return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


def _word_starts(text: str, offsets: Sequence[tuple[int, int]]) -> list[bool]:
    """Whether each token begins a word, so windows never split a word in two."""
    return [start == 0 or not text[start - 1].isalnum() for start, _ in offsets]


def _windows(count: int, size: int, overlap: int, starts: list[bool]) -> list[tuple[int, int]]:
    """Token ranges of at most ``size`` tokens, each starting ``overlap`` before the last end."""
    windows: list[tuple[int, int]] = []
    begin = 0
    while begin < count:
        end = min(begin + size, count)
        if end < count:
            boundary = end
            while boundary > begin + size // 2 and not starts[boundary]:
                boundary -= 1
            end = boundary if starts[boundary] else end
        windows.append((begin, end))
        if end >= count:
            break
        next_begin = max(end - overlap, begin + 1)
        while next_begin < end and not starts[next_begin]:
            next_begin += 1
        begin = next_begin
    return windows


def chunk_article(
    article_id: str,
    title: str,
    text: str,
    tokenizer: Tokenizer,
    *,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
) -> list[Chunk]:
    """Chunks of ``title`` + body, each at most ``max_tokens`` including special tokens."""
    title = title.strip()
    body = text.strip()
    header = title + SEPARATOR if title else ""
    budget = max_tokens - SPECIAL_TOKENS - (_count(tokenizer, header) if header else 0)
    if budget < 16:
        # A title that leaves no room is shortened; the body matters more.
        header = ""
        budget = max_tokens - SPECIAL_TOKENS
    if overlap_tokens >= budget // 2:
        raise ValueError(f"overlap of {overlap_tokens} tokens leaves no progress in {budget}")
    encoded = tokenizer(body, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets: list[tuple[int, int]] = [tuple(pair) for pair in encoded["offset_mapping"]]
    pieces: list[str] = []
    if not offsets:
        pieces = [title] if title else []
    else:
        starts = _word_starts(body, offsets)
        for begin, end in _windows(len(offsets), budget, overlap_tokens, starts):
            pieces.append(body[offsets[begin][0] : offsets[end - 1][1]])
    chunks: list[Chunk] = []
    for position, piece in enumerate(pieces):
        chunk_text = header + piece if piece != title else piece
        digest = hashlib.sha256(chunk_text.encode()).hexdigest()
        chunks.append(
            Chunk(
                id=f"{article_id}-{position}-{digest[:12]}",
                article_id=article_id,
                position=position,
                text=chunk_text,
                token_count=_count(tokenizer, chunk_text),
                content_hash=digest,
            )
        )
    return chunks
