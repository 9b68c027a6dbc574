"""The customer's fixed texts in their language: gettext catalogs, English source strings as ids.

A text is written in English where it is defined, wrapped in `N_()` so `pybabel extract` finds
it, and translated where it is shown: `gettext_for(language)(TEXT)`. Placeholders are named
(`{contact}`) and filled after translation, since word order differs between languages.

The catalogs live in chatbot/locale/<language>/LC_MESSAGES/chatbot.po, with the compiled .mo
next to each (committed, and shipped as package data; `make i18n` extracts, updates and
compiles them; a unit test fails when a .mo does not match its .po). A language without a
catalog, and any text a catalog lacks, comes out in English.
"""

from __future__ import annotations

import gettext
import logging
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from knowledge_base.language import CHINESE, ENGLISH

log = logging.getLogger(__name__)

DOMAIN = "chatbot"
LOCALE_DIR = Path(__file__).parents[1] / "locale"
# English is the source language: its "catalog" is the source strings themselves.
LANGUAGES = (ENGLISH, CHINESE)


def N_(message: str) -> str:
    """Marks `message` for extraction; it is translated where it is shown."""
    return message


def language_code(language: str | None) -> str:
    """The supported language for an ISO 639-1 code or a locale tag ("zh-CN", "zh_Hans",
    "EN-us"), English for anything else."""
    base = (language or "").replace("_", "-").split("-")[0].strip().lower()
    return base if base in LANGUAGES else ENGLISH


@cache
def _translations(language: str) -> gettext.NullTranslations:
    if language == ENGLISH:
        return gettext.NullTranslations()
    try:
        return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])
    except OSError:
        # A broken install: customers still get an answer, in English.
        log.error(
            "the %s catalog %s is missing: reinstall the package, or run `make i18n`",
            language,
            LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo",
        )
        return gettext.NullTranslations()


def gettext_for(language: str | None) -> Callable[[str], str]:
    """The translation function for `language` (English for unknown languages)."""
    return _translations(language_code(language)).gettext


def translations(messages: Iterable[str]) -> dict[str, dict[str, str]]:
    """`messages` in every supported language: {language: {English text: its translation}}."""
    messages = tuple(messages)
    return {lang: {m: gettext_for(lang)(m) for m in messages} for lang in LANGUAGES}


def browser_language(accept_language: str | None) -> str:
    """The page's language from an Accept-Language header: the browser's first choice, as
    the chat page's labels follow it (Gradio goes by `navigator.language`), else English."""
    best, best_q = "", -1.0
    for item in (accept_language or "").split(","):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and tag != "*" and q > best_q:
            best, best_q = tag, q
    return language_code(best)
