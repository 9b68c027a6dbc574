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


# Sentence ends: ". ! ?" and a space in spaced scripts; "。！？；" by themselves in Chinese,
# which puts no space after them (a closing quote or bracket right after one stays with the
# sentence it closes).
_CJK_ENDERS = "。！？；"
_CJK_CLOSERS = "”’」』）》】"
_SENTENCE_END = re.compile(
    rf"(?<=[.!?])\s+|(?:(?<=[{_CJK_ENDERS}])|(?<=[{_CJK_ENDERS}][{_CJK_CLOSERS}]))"
    rf"(?![{_CJK_ENDERS}{_CJK_CLOSERS}])\s*"
)
# Where an overlap carried into the next chunk may start: after a space or a Chinese
# punctuation mark, else at a Chinese, Japanese or Korean character (those scripts have no
# spaces between words, so any character starts one).
_CLAUSE_END = re.compile(r"[ 。！？；，、：…]")
_CJK_CHAR = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def _sentences(para: str) -> list[tuple[str, str]]:
    """(what separates it from the one before, sentence) for each sentence of `para`: a
    space in English, nothing between Chinese sentences, so joining them loses nothing."""
    out: list[tuple[str, str]] = []
    sep, start = "", 0
    for m in _SENTENCE_END.finditer(para):
        if m.end() >= len(para):
            break
        if m.start() > start:
            out.append((sep, para[start : m.start()]))
            sep, start = m.group(), m.end()
    out.append((sep, para[start:]))
    return out


def _overlap(chunk: str, keep: int) -> str:
    """At most the last `keep` characters of `chunk`, starting at a word ("" if none fits)."""
    if keep <= 0:  # and never the whole chunk: `s[-0:]` is all of `s`
        return ""
    tail = chunk[-keep:]
    for m in _CLAUSE_END.finditer(tail):
        if m.end() < len(tail):
            return tail[m.end() :].lstrip()
    cjk = _CJK_CHAR.search(tail)
    return tail[cjk.start() :] if cjk else ""


def _split_long(para: str, max_chars: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for sep, sentence in _sentences(para):
        while len(sentence) > max_chars:  # one enormous "sentence": cut by characters
            head, sentence = sentence[:max_chars], sentence[max_chars - overlap :]
            if current:
                chunks.append(current)
                current = ""
            chunks.append(head)
        if current and len(current) + len(sep) + len(sentence) > max_chars:
            chunks.append(current)
            # Carry over the end of the previous chunk, but never so much that the next chunk
            # would exceed max_chars.
            current = _overlap(current, min(overlap, max_chars - len(sentence) - len(sep)))
        current = f"{current}{sep}{sentence}" if current else sentence
    if current:
        chunks.append(current)
    return chunks
