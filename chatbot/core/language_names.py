"""Language codes as staff read them: "zh (中文)", "en (English)".

Each language is named in itself (Babel's CLDR data), so a staff member who reads it finds it
at once, and the code stays in front for those who filter or export by it.
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError

UNKNOWN = "unknown"


@lru_cache(maxsize=256)
def language_label(code: str | None) -> str:
    """ "zh (中文)" for "zh"; the bare code when CLDR has no name for it (fastText knows
    languages CLDR does not); "unknown" for None or an empty code."""
    code = (code or "").strip()
    if not code:
        return UNKNOWN
    try:
        name = Locale.parse(code).get_display_name()
    except (UnknownLocaleError, ValueError):
        return code
    return f"{code} ({name})" if name else code
