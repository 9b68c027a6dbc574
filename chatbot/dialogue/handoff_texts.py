"""What the customer is told at a hand-off to a person, and when they leave contact details:
whole replies in English, read in the customer's language (chatbot.core.i18n)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from chatbot.core.i18n import N_, gettext_for
from chatbot.core.vocabulary import Reason
from knowledge_base.language import ENGLISH

ASK_FOR_CONTACT: Final = N_(
    "If you'd like us to contact you, please type your email address or phone number."
)
# The English texts, by reason; `handoff_text` gives them in the customer's language. Whole
# replies, not pieces joined: a translation may need other sentence breaks.
HANDOFF_TEXT: Final[Mapping[str, str]] = MappingProxyType(
    {
        Reason.REQUESTED: N_(
            "Of course. I've passed this conversation to our support team. A member of staff "
            "will reply here during opening hours. If you'd like us to contact you, please type "
            "your email address or phone number."
        ),
        Reason.REPEATED_DECLINES: N_(
            "I'm sorry I couldn't find an answer to that. I've passed this conversation to our "
            "support team. A member of staff will reply here during opening hours. If you'd "
            "like us to contact you, please type your email address or phone number."
        ),
        Reason.ANGRY: N_(
            "I'm really sorry about the trouble you've had. I've passed this conversation to our "
            "support team. A member of staff will reply here during opening hours. If you'd "
            "like us to contact you, please type your email address or phone number."
        ),
    }
)
# The same replies for a customer whose contact details are known (given with the request,
# or earlier): they are confirmed instead of asked for.
HANDOFF_CONTACT_TEXT: Final[Mapping[str, str]] = MappingProxyType(
    {
        Reason.REQUESTED: N_(
            "Of course. I've passed this conversation to our support team. A member of staff "
            "will reply here during opening hours, and we'll contact you at {contact}."
        ),
        Reason.REPEATED_DECLINES: N_(
            "I'm sorry I couldn't find an answer to that. I've passed this conversation to our "
            "support team. A member of staff will reply here during opening hours, and we'll "
            "contact you at {contact}."
        ),
        Reason.ANGRY: N_(
            "I'm really sorry about the trouble you've had. I've passed this conversation to our "
            "support team. A member of staff will reply here during opening hours, and we'll "
            "contact you at {contact}."
        ),
    }
)
CONTACT_SAVED_TEXT: Final = N_("Thanks — our team will contact you at {contact}.")


def handoff_text(reason: str, language: str = ENGLISH, contact: str | None = None) -> str:
    """The reply for a hand-off with this reason code (unknown reasons: the generic one), in
    `language`: it asks for contact details, or, given the customer's `contact`, confirms
    it."""
    _ = gettext_for(language)
    if contact:
        text = HANDOFF_CONTACT_TEXT.get(reason, HANDOFF_CONTACT_TEXT[Reason.REQUESTED])
        return _(text).format(contact=contact)
    return _(HANDOFF_TEXT.get(reason, HANDOFF_TEXT[Reason.REQUESTED]))


def contact_saved_text(contact: str, language: str = ENGLISH) -> str:
    """Confirms the contact details the customer gave, in `language`."""
    return gettext_for(language)(CONTACT_SAVED_TEXT).format(contact=contact)
