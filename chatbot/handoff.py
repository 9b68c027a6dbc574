"""Hand-off to a person: when to do it, what to tell the customer, and how to read their contact
details. Pure logic, no I/O.

Everything here is regex and word-list based on purpose: it must be fast, predictable and
explainable to support staff ("the bot handed off because the customer swore"). The patterns
target the *form* of an angry message (an insult aimed at us, a threat, shouting) rather than
single negative words, because ordinary support questions are full of words like "cancel",
"complaint", "damaged" or "scam" that are not anger at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# Reason codes, stored with the bot's message (`reason`) and shown in review.
REQUESTED: Final = "requested"
REPEATED_DECLINES: Final = "repeated_declines"
ANGRY: Final = "angry"

# --------------------------------------------------------------------------------------------
# Explicit requests for a person
# --------------------------------------------------------------------------------------------

# Explicit requests for a person: "talk to a human", "connect me to an agent", "I want a real
# person", or just "agent please". The human word must be the object of the request: "I need help
# since someone stole my card" or "Do I need to notify someone ...?" are questions, not requests,
# and "transfer $20 to another person" is a banking task.
_HUMAN = (
    r"(humans?|persons?|people|agents?|representatives?|reps?|operators?|somebody|someone|"
    r"staff|manager|supervisor)"
)
_WHO = (
    r"(?:(?:a|an|the|some|your|another|one\s+of\s+your)\s+)?"
    rf"(?:(?:real|live|actual|human)\s+)?{_HUMAN}"
)
_TEAM = r"(?:(?:the|your)\s+)?(?:customer\s+)?(?:service|support|care)(?:\s+team)?"
_HANDOFF_PATTERNS = [
    re.compile(rf"\b(talk|speak|chat)\s+(to|with)\s+({_WHO}|{_TEAM})\b", re.I),
    re.compile(
        rf"\b(connect|transfer|put|pass)\s+(me|us|this|this\s+chat)\s+(through\s+|over\s+)?"
        rf"(to|with)\s+({_WHO}|{_TEAM})\b",
        re.I,
    ),
    re.compile(rf"\b((want|need|get)\s+(me\s+)?|give\s+me\s+){_WHO}\b", re.I),
    re.compile(rf"^\W*(a\s+)?(live\s+|real\s+)?{_HUMAN}\W*(please)?\W*$", re.I),
    re.compile(
        r"\b(customer service|support team|live chat|call me)\b.{0,20}\b(please|now)\b", re.I
    ),
]


def wants_human(text: str) -> bool:
    """True when the customer asks for a person ("talk to a human", "agent please")."""
    return any(p.search(text) for p in _HANDOFF_PATTERNS)


# --------------------------------------------------------------------------------------------
# Anger and frustration
# --------------------------------------------------------------------------------------------

# Swear words are anger on their own in a support chat; matched as whole words so "scrap",
# "Scunthorpe" or "shitake"-style substrings never count.
_PROFANITY = re.compile(
    r"\b(f+u+c+k\w*|shit\w*|bullshit|crap|crappy|wtf|ffs|stfu|omfg|goddamn\w*|damn\s+it|"
    r"damn\s+(you|this|bot|thing)|bloody\s+(hell|useless|joke|ridiculous|bot|service|thing)|"
    r"f\*+c?k\w*|fck\w*|piss(ed)?\s+off|pissed|screw\s+(you|this|your)|bastards?|arse|"
    r"arseholes?|assholes?|ass\s+holes?|dickheads?|what\s+the\s+(hell|heck)|"
    r"for\s+(god|christ|heaven)'?s\s+sake)\b",
    re.I,
)

# Insults need a target (the bot, us, "this"): "useless" or "stupid" alone also occur in plain
# questions ("I made a stupid mistake in my address, can I change it?").
_BAD = (
    r"(useless|stupid|dumb|pathetic|incompetent|worthless|hopeless|rubbish|garbage|trash|"
    r"terrible|awful|horrible|horrendous|atrocious|clueless|brainless|idiotic)"
)
_US = (
    r"(bot|chat\s*bot|robot|machine|assistant|ai|computer|service|customer\s+service|support|"
    r"company|business|bank|shop|store|app|website|site|system|people|staff|team)"
)
_INSULT_PATTERNS = [
    # "useless bot", "terrible customer service", "pathetic company"
    re.compile(rf"\b{_BAD}\s+(\w+\s+)?{_US}\b", re.I),
    # "you are stupid", "you're useless", "this bot is pathetic", "your service is a joke"
    re.compile(
        r"\b(you|you\s+guys|u|this|this\s+\w+|your\s+\w+(\s+\w+)?)\s*"
        r"(are|'re|r|is|'s)\s+"
        r"(so\s+|completely\s+|totally\s+|absolutely\s+|really\s+|utterly\s+|just\s+|such\s+)*"
        rf"({_BAD}|(a\s+|an\s+)?(joke|idiots?|morons?|clowns|scammers|thieves|crooks|"
        r"frauds|rip-?off|disgrace|nightmare))\b",
        re.I,
    ),
    # Name-calling on its own, plural so it is aimed at us ("you idiots"); "I'm such an idiot,
    # I typed the wrong address" and "thieves stole my card" are not anger at us.
    re.compile(r"\b(idiots|morons|imbeciles)\b", re.I),
    re.compile(
        r"\b(this|that|it|you|your\s+\w+|service|support|app|bot)\s+(really\s+)?sucks?\b", re.I
    ),
    re.compile(r"\b(what\s+a|such\s+a)\s+(joke|rip-?off|scam|disgrace|shambles|farce)\b", re.I),
]

# Strong complaints: words that only appear when a customer is upset with us. Milder ones
# ("not happy", "disappointed", "annoying") are left out: they come with ordinary problems that
# the knowledge base can answer ("I'm not happy with the size, can I exchange it?").
_COMPLAINT_PATTERNS = [
    re.compile(
        r"\b(ridiculous|unacceptable|outrageous|disgraceful|disgusting|appalling|shameful|"
        r"absurd|laughable|infuriating|furious|fuming|livid|enraged|angry|frustrated|"
        r"frustrating|shambles|farce)\b",
        re.I,
    ),
    # "worst service ever", "worst company I've ever dealt with" (but not "in the worst case")
    re.compile(r"\bworst\b.{0,40}\bever\b|\bworst\s+(\w+\s+)?" + _US + r"\b", re.I),
    re.compile(
        r"\b(fed\s+up|sick\s+(and\s+tired\s+)?of|had\s+enough|enough\s+is\s+enough)\b", re.I
    ),
    # Long waits, in the customer's words: "I've been waiting for weeks", "waited 3 months"
    re.compile(
        r"\b(waiting|waited)\s+(for\s+)?(over\s+|more\s+than\s+|almost\s+|nearly\s+)?"
        r"(weeks|months|ages|forever|an\s+eternity|a\s+month|(\d+|two|three|four|five|six)\s+"
        r"(weeks|months))\b",
        re.I,
    ),
    # Being ignored or repeating oneself
    re.compile(
        r"\b(no\s*one|nobody|no\s+body)\s+(ever\s+)?(helps|helped|answers|answered|replies|"
        r"replied|responds|responded|cares|bothers|bothered|gets\s+back|got\s+back|calls?\s+back)"
        r"\b|\bhow\s+many\s+(more\s+)?times\s+(do|have|must|should)\s+i\b|"
        r"\b(third|3rd|fourth|4th|fifth|5th|tenth|hundredth)\s+time\b|"
        r"\bnever\s+(again|shop(ping)?\s+here|order(ing)?\s+from\s+you)\b",
        re.I,
    ),
]

# Threats to leave, complain formally or go legal. Cancel threats only count as statements:
# "I will cancel my subscription next month, will I be charged?" is a question.
_I_WILL = (
    r"(i'?ll|i\s+will|i\s+am\s+going\s+to|i'?m\s+going\s+to|"
    r"i'?m\s+gonna)"
)
_LEAVE = (
    r"(cancel|close|terminate|end|quit)\s+(my\s+|the\s+|this\s+)?"
    r"(account|membership|subscription|contract|plan|everything)s?"
)
_ELSEWHERE = (
    r"(another|a\s+different|a\s+competitor|a\s+proper|a\s+real|your\s+competitors?)\s+"
    r"(bank|provider|company|supplier|retailer|competitor)"
)
_THREAT_PATTERNS = [
    # Conditional: "fix this or I'll cancel", "otherwise I will close my account".
    re.compile(rf"\b(or|otherwise|else|or\s+else)\s*,?\s+{_I_WILL}\s+(cancel|close|leave)\b", re.I),
    # A flat statement that ends the sentence: "I'll cancel my account!", "I'm going to
    # cancel." ("I will close my account next month" is a plan, and "I'll cancel my order"
    # is an ordinary task.)
    re.compile(
        rf"\b{_I_WILL}\s+(just\s+)?({_LEAVE}|cancel|leave)\s*(then|now|right\s+now|"
        r"today|immediately)?\s*[.!]*\s*$",
        re.I,
    ),
    # Leaving for a competitor: "I'm switching to another bank", "I'll go to a different shop".
    re.compile(rf"\b(switch|switching|move|moving|go|going)\s+(over\s+)?to\s+{_ELSEWHERE}\b", re.I),
    re.compile(
        r"\b(take|taking)\s+my\s+(business|money|custom)\s+(elsewhere|somewhere\s+else)\b", re.I
    ),
    re.compile(
        r"\b(i\s+want\s+to|i'?d\s+like\s+to|i\s+would\s+like\s+to|i\s+will|i'?ll|"
        r"i'?m\s+going\s+to|i\s+am\s+going\s+to|i'?m\s+gonna)\s+"
        r"(complain|make\s+a\s+(formal\s+)?complaint|file\s+a\s+(formal\s+)?complaint|"
        r"lodge\s+a\s+(formal\s+)?complaint|raise\s+a\s+(formal\s+)?complaint|"
        r"report\s+you|sue|take\s+you\s+to\s+court|take\s+legal\s+action|"
        r"leave\s+a\s+(bad|terrible|negative|1-star|one-star)\s+review)\b",
        re.I,
    ),
    re.compile(
        r"\b(sue\s+you|see\s+you\s+in\s+court|legal\s+action|my\s+(lawyer|solicitor|attorney)\s+"
        r"will|(call|calling|contact|contacting|get|getting|involve|hear\s+from)\s+my\s+"
        r"(lawyer|solicitor|attorney)|"
        r"report\s+you\s+to|ombudsman|trading\s+standards)\b",
        re.I,
    ),
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_GRATITUDE = re.compile(
    r"\b(thanks?|thank\s+you|thx|great|awesome|amazing|brilliant|perfect|excellent|wonderful|"
    r"fantastic|love|happy)\b",
    re.I,
)
_WORD = re.compile(r"[A-Za-z]+(?:['][A-Za-z]+)?")


def _is_shouting(text: str) -> bool:
    """Mostly upper-case over at least three words, or a run of exclamation marks.

    Acronyms ("Is my ATM PIN the same as my CVV?") stay well below the ratio, and single
    words ("HELP", "OK") are too short to tell.
    """
    if _GRATITUDE.search(text):
        return False  # "THANK YOU SO MUCH!!!" is joy, not anger
    if "!!!" in text:
        return True
    words = _WORD.findall(text)
    letters = [c for w in words for c in w]
    if len(words) < 3 or len(letters) < 8:
        return False
    upper = sum(c.isupper() for c in letters)
    return upper / len(letters) >= 0.8


def _is_threat(text: str) -> bool:
    # A threat is a statement; the same words in a question are a customer asking about
    # consequences ("If I cancel my account, will I lose my points?").
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence or sentence.endswith("?"):
            continue
        if any(p.search(sentence) for p in _THREAT_PATTERNS):
            return True
    return False


def is_angry(text: str) -> bool:
    """True for an angry or frustrated customer: swearing or insults aimed at us, strong
    complaints, shouting, or threats to leave, complain formally or sue."""
    text = text.replace("\u2019", "'")  # typographic apostrophes (U+2019) count as plain ones
    if _PROFANITY.search(text) or _is_shouting(text):
        return True
    if any(p.search(text) for p in _INSULT_PATTERNS):
        return True
    if any(p.search(text) for p in _COMPLAINT_PATTERNS):
        return True
    return _is_threat(text)


# --------------------------------------------------------------------------------------------
# Contact details
# --------------------------------------------------------------------------------------------

# Practical, not RFC 5322: local part, @, a dotted domain with a 2+ letter top-level domain.
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}\b"
)
# A phone number: an optional leading +, then digits in groups with single separators
# (space, dash, dot) and optional parenthesised groups: "+44 (0)20 7946 0958", "555-123-4567".
_PHONE = re.compile(r"(?<![\w+])(?:\+\s?)?(?:\(\d{1,5}\)|\d)(?:[ .\-]?(?:\(\d{1,5}\)|\d))+(?![\w])")
_DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
MIN_PHONE_DIGITS: Final = 7
MAX_PHONE_DIGITS: Final = 15


def _valid_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        return False
    # 13+ bare digits look like a card or account number, not something a person types as
    # a phone number (those come with a + or with spaces).
    if candidate.isdigit() and digits >= 13:
        return False
    # Dates such as 2024-05-01 or 01.05.2024.
    return not _DATE.match(candidate)


def extract_contact(text: str) -> str | None:
    """The first email address in the text, else the first phone number (7-15 digits), else
    None. Returned as typed (trimmed), so staff see what the customer wrote."""
    email = _EMAIL.search(text)
    if email:
        return email.group(0)
    for match in _PHONE.finditer(text):
        candidate = match.group(0).strip()
        # A bare number inside a question is far more often an order or account number than
        # a phone number: take it only when the message is little more than the number, or
        # says it is a phone number.
        rest = _WORD.findall(text.replace(candidate, " "))
        if _valid_phone(candidate) and (len(rest) <= 3 or _PHONE_CUE.search(text)):
            return candidate
    return None


_PHONE_CUE = re.compile(
    r"\b(call|phone|ring|text|sms|whats\s*app|mobile|cell|tel|number\s+is|reach\s+me)\b", re.I
)


# --------------------------------------------------------------------------------------------
# What the customer is told
# --------------------------------------------------------------------------------------------

ASK_FOR_CONTACT: Final = (
    "If you'd like us to contact you, please type your email address or phone number."
)
_NEXT_STEPS = (
    "I've passed this conversation to our support team. A member of staff will reply here "
    "during opening hours."
)
HANDOFF_REQUESTED_TEXT: Final = f"Of course. {_NEXT_STEPS} {ASK_FOR_CONTACT}"
HANDOFF_REPEATED_DECLINES_TEXT: Final = (
    f"I'm sorry I couldn't find an answer to that. {_NEXT_STEPS} {ASK_FOR_CONTACT}"
)
HANDOFF_ANGRY_TEXT: Final = (
    f"I'm really sorry about the trouble you've had. {_NEXT_STEPS} {ASK_FOR_CONTACT}"
)
HANDOFF_TEXT: Final[Mapping[str, str]] = MappingProxyType(
    {
        REQUESTED: HANDOFF_REQUESTED_TEXT,
        REPEATED_DECLINES: HANDOFF_REPEATED_DECLINES_TEXT,
        ANGRY: HANDOFF_ANGRY_TEXT,
    }
)


def handoff_text(reason: str) -> str:
    """The reply for a hand-off with this reason code (unknown reasons: the generic one)."""
    return HANDOFF_TEXT.get(reason, HANDOFF_REQUESTED_TEXT)


def contact_saved_text(contact: str) -> str:
    """Confirms the contact details the customer gave."""
    return f"Thanks — our team will contact you at {contact}."
