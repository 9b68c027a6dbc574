"""Counts and sizes in staff and command-line texts, which are English only: "1 passage",
"2 passages", "1.5 MB".

Customer texts go through chatbot.core.i18n instead, whose catalogs carry each language's plural
rules."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`count` and the noun in the form English uses for it ("0 passages", "1 passage").
    `plural_form` is for nouns that do not just add an "s" ("entry", "entries")."""
    noun = singular if count == 1 else plural_form or f"{singular}s"
    return f"{count} {noun}"


def human_size(size: int) -> str:
    """A file size as the documents lists show it: "512 B", "1.5 KB", "2.0 MB"."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
