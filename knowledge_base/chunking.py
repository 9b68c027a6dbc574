"""Splitting prose into passages small enough to cite and to fit a short prompt."""

from __future__ import annotations

import re

MAX_CHARS = 900
OVERLAP_CHARS = 150


def split_text(text: str, max_chars: int = MAX_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """Split at paragraph boundaries, then by sentence, into chunks of at most `max_chars`;
    consecutive chunks of one long paragraph share about `overlap` characters."""
    if max_chars < 1 or not 0 <= overlap < max_chars:
        raise ValueError("need max_chars >= 1 and 0 <= overlap < max_chars")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    chunks: list[str] = []
    current = ""
    for para in paragraphs:
        para = " ".join(para.split())
        if len(para) > max_chars:
            if current:
                chunks.append(current)
                current = ""
            chunks.extend(_split_long(para, max_chars, overlap))
        elif len(current) + len(para) + (2 if current else 0) <= max_chars:
            current = f"{current}\n\n{para}" if current else para
        else:
            if current:
                chunks.append(current)
            current = para
    if current:
        chunks.append(current)
    return chunks


def _split_long(para: str, max_chars: int, overlap: int) -> list[str]:
    sentences = re.split(r"(?<=[.!?])\s+", para)
    chunks: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > max_chars:  # one enormous "sentence": cut by characters
            head, sentence = sentence[:max_chars], sentence[max_chars - overlap :]
            if current:
                chunks.append(current)
                current = ""
            chunks.append(head)
        if current and len(current) + len(sentence) + 1 > max_chars:
            chunks.append(current)
            # Carry over the end of the previous chunk, but never so much that the next chunk
            # would exceed max_chars (and never the whole chunk: `s[-0:]` is all of `s`).
            keep = min(overlap, max_chars - len(sentence) - 1)
            tail = current[-keep:] if keep > 0 else ""
            current = tail[tail.find(" ") + 1 :] if " " in tail else ""
        current = f"{current} {sentence}".strip()
    if current:
        chunks.append(current)
    return chunks
