"""Follow-up questions: turn "and how long does that take?" into a standalone search query.

Pure heuristics over the words of the message, no model. A follow-up borrows its topic from
the previous customer question, so the rewrite is simply that question followed by the new
message (minus its leading connective). Retrieval embeds the whole query, so the combined text
carries the topic ("return policy") and the new detail ("how long").

Chinese messages (any with Chinese characters) have rules of their own, read on normalised
text (`knowledge_base.language.normalise`: traditional characters simplified, full-width
punctuation folded). Chinese has no spaces, so the marks are found as substrings: a leading
"那" ("那运费呢？", "what about shipping then?"), a back-reference ("它多少钱？", "这个呢"),
a short "…呢？" ("国际订单呢？"), or nothing of its own ("要多久？"). "退货要多久？" names
its topic and stands on its own.
"""

from __future__ import annotations

import re
from typing import Final

from chatbot.core.vocabulary import Role
from chatbot.dialogue.text_rules import HAN, any_case
from knowledge_base.language import normalise


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A content word tells retrieval what the question is about; everything below does not.
# Question words ("how", "long", "much") are in here too: "how long?" names no topic.
_STOPWORDS: Final = _word_set(
    """
    a an the and or but so then also plus if of to in on at by for from with without about into
    onto over under after before during within via per as than too very just only still even
    i me my mine myself we us our ours you your yours he him his she her it its they them their
    theirs this that these those there here what which who whom whose when where why how
    long much many often soon far else
    is am are was were be been being do does did done doing have has had having
    can could will would shall should may might must need needs let lets get gets got getting
    not no yes any some all each every more most other another same one ones
    please thanks thank ok okay
    s t d ll m re ve don didn doesn isn aren wasn won wouldn can't cant
    """
)

# Connectives that only make sense as a continuation ("what about express?") mark a follow-up
# whatever follows; plainer ones ("and", "so", "also") do when the rest names little of its own,
# since "And how do I change the delivery address on my account?" stands on its own.
_STRONG_CONNECTIVE = re.compile(
    r"^\s*(?:and\s+|but\s+|so\s+)?(?:what|how)\s+about\b[\s,]*|^\s*(?:and\s+|but\s+)?what\s+if\b",
    re.I,
)
_WEAK_CONNECTIVE = re.compile(r"^\s*(?:and|but|also|so|then|or|plus)\b[\s,]*", re.I)

# Words that point back at something said earlier.
_BACK_REFERENCE = re.compile(
    r"\b(it|its|that|this|those|these|they|them|their|there|the\s+same|same\s+one)\b", re.I
)
# Uses of those words that point at nothing: "is there a fee", "is it possible to",
# "how long does it take to get a refund", "is it true that". Removed before looking for a
# back-reference.
_DUMMY_USES = any_case(
    r"\b(is|are|was|were|will|would)\s+there\b|\bthere\s+(is|are|was|were|'s)\b",
    r"\b(is|was|will|would|does|did)\s+it\s+(possible|ok|okay|safe|true|necessary|free|"
    r"easy|normal|allowed|worth|too\s+late)(\s+that)?\b",
    r"\bit\s+(takes?|costs?|took)\s+(\w+\s+){0,3}?to\s+\w+",
    r"\b(take|cost)\s+it\s+(\w+\s+){0,3}?to\s+\w+",
    r"\b(true|sure|said|says|know|mean|means|think|ensure|confirm|noticed?|so)\s+that\b",
)
# A short fragment that opens with a preposition continues the previous question: "for
# express?", "in blue?", "to Canada?".
_PREPOSITION_START = re.compile(
    r"^\s*(for|in|on|with|without|to|from|by|via|at|during|within|after|before)\b", re.I
)
# Small talk that is not a question at all.
_PLEASANTRIES: Final = _word_set(
    "thanks thank you ok okay great cool fine good perfect bye goodbye hi hello hey yes no "
    "yeah yep nope sure cheers much very lot a awesome nice got it that's all"
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

MAX_CONTENT_WORDS: Final = 4  # a follow-up names at most this many things of its own
MAX_SHORT_WORDS: Final = 3  # "how long?", "for express?"
MAX_CHAIN: Final = 3  # previous customer messages joined when follow-ups follow follow-ups


# ---- Chinese --------------------------------------------------------------------------------
# "那" / "那么" opening a message is "then" / "what about": a continuation, unless it is the
# demonstrative "那个", "那里", "那些" (a back-reference, below).
_ZH_STRONG_CONNECTIVE = re.compile(r"^\W*(?:那么|那(?![个些里边儿种款件样位次天时])|至于)\W*")
# Plainer openers ("另外", "also"): a follow-up when the rest names little of its own.
# "还有" only with a pause after it: "还有货吗？" asks whether something is in stock.
_ZH_WEAK_CONNECTIVE = re.compile(
    r"^\W*(?:另外|此外|还有(?=\W)|以及|然后|顺便问一下|再问一下|还想问一下?|也)\W*"
)
_ZH_BACK_REFERENCE = re.compile(
    r"它|这个|那个|这些|那些|这种|那种|这款|那款|这件|那件|这样|那样|同样|一样|这里|那里|刚才|刚刚"
)
# Uses of those words that point at nothing earlier: "这个月" (this month), "我这边" (on my
# side), "其它" (other).
_ZH_DUMMY_USES = re.compile(r"这个月|这个星期|这个周末|我这边|我们这边|你们那边|你那边|其它")
# Question words, pronouns and particles: what is left after them is what the message is
# about. Longest first, so "多少钱" goes before "多".
_ZH_FUNCTION = re.compile(
    r"多长时间|多少钱|多少|多久|多长|几天|怎么样|怎么办|怎么|如何|怎样|什么|为什么|为何|哪里|哪儿|"
    r"哪个|哪些|是不是|能不能|可不可以|可以|有没有|会不会|要不要|需不需要|需要|请问|一下|时候|"
    r"还是|或者|如果|的话|要是|是否|能否|这个|那个|这些|那些|这种|那种|这款|那款|这件|那件|这样|"
    r"那样|同样|一样|这里|那里|这边|那边|刚才|刚刚|"
    r"[那这它们我你您他她的了吗呢吧啊呀哦嘛么是有没不要能会也还都就和跟与或在几又再得很太请给对把被让将个些哪]"
)
# "…呢？" after a short topic is "what about …?" ("国际订单呢？"), but "我的订单呢？" asks
# where the customer's own order is.
_ZH_WHAT_ABOUT = re.compile(r"呢\W*$")
_ZH_PLEASANTRIES = re.compile(
    r"(?:谢谢你?们?|谢了|多谢|非常感谢|感谢|辛苦了|好的|好吧|好|嗯|哦|噢|ok|okay|明白了?|知道了|"
    r"了解了?|收到|懂了|你好|您好|在吗|有人吗|再见|拜拜|没问题|行|可以了?|对|是的|不用了|没事了?|"
    r"没有了|就这样|啊|呀|吧|了|\W)+"
)


def _zh_content_words(text: str) -> int:
    """About how many words of its own a Chinese message names: the characters left after
    the function words, two to a word (most Chinese words have two), and any Latin words."""
    rest = _ZH_FUNCTION.sub(" ", text)
    return (len(HAN.findall(rest)) + 1) // 2 + len(_content_words(_words(rest)))


def _zh_strip_connective(text: str) -> str:
    stripped = _ZH_STRONG_CONNECTIVE.sub("", text, count=1)
    if stripped == text:
        stripped = _ZH_WEAK_CONNECTIVE.sub("", text, count=1)
    return stripped.strip() or text.strip()


def _zh_is_followup(text: str) -> bool:
    rest = _zh_strip_connective(text)
    if _ZH_PLEASANTRIES.fullmatch(rest):
        return False  # "好的，谢谢", and "那好吧" too
    if _ZH_STRONG_CONNECTIVE.match(text):
        return True
    content = _zh_content_words(rest)
    if content > MAX_CONTENT_WORDS:
        return False
    if _ZH_WEAK_CONNECTIVE.match(text) or _ZH_BACK_REFERENCE.search(_ZH_DUMMY_USES.sub(" ", rest)):
        return True
    if _ZH_WHAT_ABOUT.search(rest) and "我" not in rest:
        return True
    return content == 0


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _content_words(words: list[str]) -> list[str]:
    return [w for w in words if w not in _STOPWORDS and w.split("'")[0] not in _STOPWORDS]


def _refers_back(text: str) -> bool:
    for pattern in _DUMMY_USES:
        text = pattern.sub(" ", text)
    return bool(_BACK_REFERENCE.search(text))


def strip_connective(text: str) -> str:
    """The message without a leading "and" / "what about" and the like ("那", "另外": a
    Chinese message comes back normalised)."""
    if HAN.search(text):
        return _zh_strip_connective(normalise(text))
    stripped = _STRONG_CONNECTIVE.sub("", text, count=1)
    if stripped == text:
        stripped = _WEAK_CONNECTIVE.sub("", text, count=1)
    return stripped.strip() or text.strip()


def is_followup(text: str) -> bool:
    """True when the message leans on earlier context to make sense."""
    if HAN.search(text):
        return _zh_is_followup(normalise(text))
    words = _words(text)
    if not words or all(w in _PLEASANTRIES for w in words):
        return False
    if _STRONG_CONNECTIVE.match(text):
        return True
    rest = strip_connective(text)
    rest_words = _words(rest)
    content = _content_words(rest_words)
    if _WEAK_CONNECTIVE.match(text) and len(content) <= MAX_CONTENT_WORDS:
        return True
    if _refers_back(rest) and len(content) <= MAX_CONTENT_WORDS:
        return True
    if len(rest_words) <= MAX_SHORT_WORDS:
        return not content or bool(_PREPOSITION_START.match(rest))
    return False


def rewrite_query(text: str, history: list[tuple[str, str]]) -> str | None:
    """A standalone retrieval query for a follow-up message, else None.

    `history` is the conversation before this message, oldest first, as (role, content) with
    roles "user" / "assistant". The rewrite is the previous customer question, then this
    message without its leading connective:
    "What is your return policy?" + "and how long does that take?" ->
    "What is your return policy? how long does that take?". When the previous question was
    itself a follow-up, the questions before it are included too (at most MAX_CHAIN).
    """
    text = " ".join(text.split())
    if not text or not is_followup(text):
        return None
    earlier = [" ".join(c.split()) for role, c in reversed(history) if role == Role.USER]
    earlier = [c for c in earlier if c]
    if not earlier:
        return None
    chain: list[str] = []
    for message in earlier[:MAX_CHAIN]:
        chain.insert(0, strip_connective(message) if is_followup(message) else message)
        if not is_followup(message):
            break
    return " ".join([*chain, strip_connective(text)])
