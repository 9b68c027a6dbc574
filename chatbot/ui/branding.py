"""The customer page's branding (settings.branding): the heading with the shop's logo and
name, the main colour, the greeting of an empty chat and the questions it suggests.

The logo travels inside the page as a data: URL (at most 512 KB, checked by the settings), so
no route serves files from the operator's disk. An SVG logo is shown with <img>, where a
browser runs none of its scripts.
"""

from __future__ import annotations

import base64
import html
from importlib import resources

from chatbot.core.i18n import N_
from chatbot.settings import LOGO_TYPES, BrandingSettings
from knowledge_base.language import detect
from knowledge_base.service import KnowledgeBase

DEFAULT_NAME = N_("Support chat")
WELCOME = N_(
    "Hello! Ask me anything about our products, orders, shipping and returns. I answer from "
    "our help articles and show where each answer comes from. Ask for a person at any time."
)
SUGGESTIONS = 3
QUESTION = "question"  # the passage kind that holds an FAQ entry's question


def logo_url(branding: BrandingSettings) -> str:
    """The logo as a data: URL: the configured file, else the packaged chat bubble."""
    if branding.logo is not None:
        data = branding.logo.read_bytes()
        kind = LOGO_TYPES[branding.logo.suffix.lower()]
    else:
        data = resources.files("chatbot.ui").joinpath("assets/logo.svg").read_bytes()
        kind = LOGO_TYPES[".svg"]
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def logo_html(logo: str) -> str:
    """The logo beside the page's heading (decorative: the heading names the shop)."""
    return (
        f'<img id="brand-logo" src="{html.escape(logo, quote=True)}" alt="" width="40" height="40">'
    )


def _readable_on(color: str) -> str:
    """Black or white, whichever reads better on `color` (#rrggbb), by WCAG luminance."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


def page_css(branding: BrandingSettings) -> str:
    """The page's styles: the main colour on Gradio's theme variables, the heading, and the
    chat's clear (trash) button hidden: it only blanked the screen, and a reload brought the
    conversation back ("New conversation" starts a new one)."""
    color, text = branding.color, _readable_on(branding.color)
    variables = (
        f"--color-accent: {color}; --color-accent-soft: {color}22; "
        f"--button-primary-background-fill: {color}; "
        f"--button-primary-background-fill-hover: {color}; "
        f"--button-primary-border-color: {color}; --button-primary-text-color: {text}; "
        f"--link-text-color: {color}; --link-text-color-hover: {color}; "
        f"--link-text-color-visited: {color}; --link-text-color-active: {color};"
    )
    return (
        f":root, .dark {{ {variables} }}\n"
        "#brand-header { align-items: center; gap: 12px; }\n"
        "#brand-logo-box { flex: 0 0 40px !important; min-width: 40px !important; }\n"
        "#brand-name h1 { margin: 0; font-size: 1.5rem; }\n"
        f"#chatbot .message.user {{ background: {color}; border-color: {color}; }}\n"
        f"#chatbot .message.user, #chatbot .message.user * {{ color: {text}; }}\n"
        # The chat's top panel holds only the clear button (share and copy-all are off); its
        # label is translated, so it is found by place.
        "#chatbot .icon-button-wrapper.top-panel { display: none; }\n"
        # The empty bot message that brings Gradio's typing dots (chatbot.ui.chat.TYPING)
        # would show as an empty bubble with thumbs under it: only the dots show.
        "#chatbot .message-row:has(.message.bot .md:empty),\n"
        "#chatbot .message-row:has(.message.bot .md:empty) + .message-buttons-left "
        "{ display: none; }\n"
        # The rule above the "Sources" block, without the paragraph gaps around it.
        "#chatbot .message hr { margin: 0.4em 0; }\n"
    )


def faq_questions(kb: KnowledgeBase, language: str, limit: int = SUGGESTIONS) -> list[str]:
    """Up to `limit` questions of the knowledge base's FAQ entries in `language`, in the
    order they were added: what an empty chat suggests when none are configured."""
    found: list[str] = []
    seen: set[str] = set()
    for meta in kb.snapshot().meta.values():
        title = " ".join(meta.title.split())
        if meta.kind != QUESTION or meta.entry_id in seen or not title.endswith(("?", "？")):
            continue
        seen.add(meta.entry_id)
        if detect(title, default=language) == language:
            found.append(title)
            if len(found) == limit:
                break
    return found


def suggested_questions(branding: BrandingSettings, kb: KnowledgeBase, language: str) -> list[str]:
    """The configured questions, else the knowledge base's (see faq_questions)."""
    return list(branding.suggested_questions) or faq_questions(kb, language)
