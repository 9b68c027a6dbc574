"""Counts in staff and command-line texts, which are English only: "1 passage", "2 passages".

Customer texts go through chatbot.core.i18n instead, whose catalogs carry each language's plural
rules."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`count` and the noun in the form English uses for it ("0 passages", "1 passage").
    `plural_form` is for nouns that do not just add an "s" ("entry", "entries")."""
    noun = singular if count == 1 else plural_form or f"{singular}s"
    return f"{count} {noun}"
