"""Pure checks behind the answer benchmark (benchmarks/answers.py): the labelled questions,
whether an answer states the expected facts, whether it states facts the knowledge base does not
hold, and which language it is in.

These are written independently of the product's own grounding check (chatbot.answers.grounding), so
the benchmark does not grade the product with the product's own rules.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
KB_FILES: Final = (
    REPO / "chatbot" / "sample_data" / "shop_faq.csv",
    REPO / "chatbot" / "sample_data" / "store_policies.md",
)
DATA_FILE: Final = Path(__file__).resolve().parent / "data" / "answers.jsonl"
KINDS: Final = ("paraphrase", "fact_in_long_section", "two_part", "follow_up", "out_of_scope")
LANGS: Final = ("en", "zh")

# CJK ideographs (basic block and extension A) and CJK punctuation.
_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u3000-\u303f]")
_LATIN: Final = re.compile(r"[A-Za-z]")
_DASHES: Final = re.compile(r"[\u2010-\u2015\u2212]")
_SPACE: Final = re.compile(r"\s+")
# Spaces next to a CJK character carry no meaning ("30 天" is "30天").
_SPACE_BY_CJK: Final = re.compile(r"\s+(?=[\u3400-\u9fff])|(?<=[\u3400-\u9fff])\s+")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    lang: str
    kind: str
    in_scope: bool
    facts: list[list[str]]
    previous: list[str] = field(default_factory=list)


def load_questions(path: Path = DATA_FILE) -> list[Question]:
    """The labelled questions, one JSON object a line; raises ValueError on a malformed one."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        q = Question(
            id=row["id"],
            question=row["question"],
            lang=row["lang"],
            kind=row["kind"],
            in_scope=row["in_scope"],
            facts=row["facts"],
            previous=row.get("previous", []),
        )
        if q.lang not in LANGS or q.kind not in KINDS:
            raise ValueError(f"line {number}: lang {q.lang!r} or kind {q.kind!r} unknown")
        if (q.kind == "out_of_scope") == q.in_scope:
            raise ValueError(f"line {number}: out_of_scope questions, and only those, are out")
        if not all(
            isinstance(f, list) and f and all(isinstance(a, str) for a in f) for f in q.facts
        ):
            raise ValueError(f"line {number}: each fact is a non-empty list of strings")
        questions.append(q)
    return questions


def kb_text() -> str:
    """The knowledge base's source files as one text (what every stated fact must come from)."""
    return "\n".join(p.read_text(encoding="utf-8") for p in KB_FILES)


# ---- expected facts -----------------------------------------------------------------------
def normalise(text: str) -> str:
    """Lower case, full-width forms folded (NFKC: full-width digits become ASCII ones),
    dashes as "-", whitespace collapsed and dropped next to CJK characters."""
    text = _DASHES.sub("-", unicodedata.normalize("NFKC", text)).lower()
    return _SPACE_BY_CJK.sub("", _SPACE.sub(" ", text)).strip()


def contains(answer: str, alternative: str) -> bool:
    """`alternative` occurs in `answer` (both normalised). An alternative that starts or ends
    with a digit must not continue a longer number there: "$50" is not in "$500"."""
    needle = normalise(alternative)
    if not needle:
        return False
    before = r"(?<![0-9.,])" if needle[0].isdigit() else ""
    after = r"(?![0-9]|[.,][0-9])" if needle[-1].isdigit() else ""
    return re.search(before + re.escape(needle) + after, normalise(answer)) is not None


def missing_facts(answer: str, facts: list[list[str]]) -> list[list[str]]:
    """The facts (lists of alternatives) of which the answer states no alternative."""
    return [
        alternatives for alternatives in facts if not any(contains(answer, a) for a in alternatives)
    ]


# ---- language -----------------------------------------------------------------------------
def is_chinese(text: str) -> bool:
    return _CJK.search(text) is not None


def reply_language(text: str, min_cjk_share: float = 0.25) -> str:
    """ "zh" when CJK characters make up at least `min_cjk_share` of the letters, else "en".
    (A Chinese answer still quotes e-mail addresses and page names in Latin letters.)"""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk + latin == 0:
        return "en"
    return "zh" if cjk / (cjk + latin) >= min_cjk_share else "en"


# ---- unsupported facts ----------------------------------------------------------------------
_EMAIL: Final = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.I)
# Path characters stop at spaces, quotes, brackets and CJK text or punctuation.
_PATH: Final = r"[^\s<>()\"'\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"
_URL: Final = re.compile(
    rf"(?:https?://|www\.){_PATH}+"
    r"|(?<![a-z0-9-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|example|io|co|us|uk|info|shop"
    rf"|store)(?![a-z0-9-])(?:/{_PATH}*)?",
    re.I,
)
# A phone number: optional country and trunk codes, then groups of 2-4 digits with at most one
# separator between them ("1-800-555-0142", "(800) 555 0142"); seven digits at least (below).
_PHONE: Final = re.compile(
    r"(?<![A-Za-z0-9.])(?:\+\d{1,3}[\s.-]?)?(?:\d{1,2}[\s.-])?(?:\(\d{2,4}\)|\d{2,4})"
    r"(?:[\s.-]?\d{2,4}){2,3}(?![0-9])"
)
# A number: thousands separators, decimals and clock minutes kept; digits glued to Latin letters
# ("MP3", "B2B") are names, not quantities. Currency signs, "%" and units are left out.
_NUMBER: Final = re.compile(r"(?<![A-Za-z0-9.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?::(\d{2}))?")
_ZH_DIGITS: Final = {"零": 0, "\u3007": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_ZH_DIGITS.update({"六": 6, "七": 7, "八": 8, "九": 9})
_ZH_UNITS: Final = {"十": 10, "百": 100, "千": 1000}
_ZH_NUMBER: Final = re.compile("[零\u3007一二两三四五六七八九十百千]+")
_TRAILING: Final = ".,;:!?)]}>'\""


def _number(whole: str, decimals: str | None, minutes: str | None) -> str:
    """ "$2,000.00" -> "2000", "8:00" -> "8", "6.95" -> "6.95", "0142" -> "142"."""
    value = Decimal(whole.replace(",", "") + "." + (decimals or "0"))
    text = format(value.normalize(), "f")
    return text if minutes in (None, "00") else f"{text}:{minutes}"


def chinese_number(run: str) -> int | None:
    """The value of a run of Chinese numerals ("三十" -> 30, "十四" -> 14, "五百" -> 500), or
    None for runs that are words rather than numbers ("零售" retail, "百货", "千万")."""
    if run[0] in "零\u3007百千":
        return None
    total, digit = 0, 0
    for ch in run:
        if ch in _ZH_UNITS:
            total += (digit or (1 if ch == "十" else 0)) * _ZH_UNITS[ch]
            digit = 0
        else:
            digit = (
                digit * 10 + _ZH_DIGITS[ch] if digit and ch not in "零\u3007" else _ZH_DIGITS[ch]
            )
    return total + digit


def _url(url: str) -> str:
    url = url.lower().rstrip(_TRAILING)
    url = re.sub(r"^(?:https?://)?(?:www\.)?", "", url)
    return url.rstrip("/")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@dataclass(frozen=True)
class Found:
    emails: list[str]
    urls: list[str]
    phones: list[str]
    numbers: list[str]


def extract(text: str) -> Found:
    """The e-mail addresses, links, phone numbers and numbers (also Chinese numerals) stated
    in a text, normalised; each is taken out before looking for the next kind."""
    text = unicodedata.normalize("NFKC", text)
    emails = [e.lower().rstrip(_TRAILING) for e in _EMAIL.findall(text)]
    text = _EMAIL.sub(" ", text)
    urls = [_url(u) for u in _URL.findall(text)]
    text = _URL.sub(" ", text)
    phones = []
    for match in _PHONE.finditer(text):
        if 7 <= len(_digits(match.group())) <= 15:
            phones.append(_digits(match.group()))
    text = _PHONE.sub(lambda m: " " if 7 <= len(_digits(m.group())) <= 15 else m.group(), text)
    numbers = [_number(*m.groups()) for m in _NUMBER.finditer(text)]
    for run in _ZH_NUMBER.findall(text):
        value = chinese_number(run)
        if value is not None:
            numbers.append(str(value))
    return Found(emails, urls, phones, numbers)


class SourceFacts:
    """What the knowledge base states: an answer's facts are checked against these."""

    def __init__(self, source: str) -> None:
        found = extract(source)
        self.emails = set(found.emails)
        self.phones = set(found.phones)
        self.numbers = set(found.numbers)
        # A link may name a host or any leading part of a path the source names.
        self.urls: set[str] = set()
        for url in found.urls + [e.split("@", 1)[1] for e in found.emails]:
            parts = url.split("/")
            self.urls.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))

    def unsupported(self, answer: str, also: str = "") -> list[str]:
        """The numbers, prices, times, e-mail addresses, phone numbers and links in `answer`
        that neither the source nor `also` (the customer's own messages, which an answer may
        repeat) states."""
        extra = SourceFacts(also) if also else None
        found = extract(answer)

        def known(attr: str, value: str) -> bool:
            return value in getattr(self, attr) or (
                extra is not None and value in getattr(extra, attr)
            )

        out = [e for e in found.emails if not known("emails", e)]
        out += [u for u in found.urls if not known("urls", u)]
        # A phone number may leave out the country code: its digits end a known number's.
        known_phones = self.phones | (extra.phones if extra else set())
        out += [p for p in found.phones if not any(k.endswith(p) for k in known_phones)]
        out += [n for n in found.numbers if not known("numbers", n)]
        return out
