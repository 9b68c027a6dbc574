"""The shop's allow-list of contacts and link hosts in answers, as settings: parsed and checked
when the settings are read, so a typing mistake stops the server with a message.

Each list is one environment variable, comma-separated or a JSON list:
`CHATBOT_ANSWERS__ALLOWED_LINK_DOMAINS=shop.example,help.shop.example` and
`CHATBOT_ANSWERS__ALLOWED_CONTACTS=support@shop.example,@shop.example,+1 800 555 0199`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

from chatbot.core.origins import split_list

MIN_PHONE_DIGITS: Final = 7
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ADDRESS = re.compile(r"[^@\s]{1,64}@(?P<domain>[^@\s]{1,253})")
_PHONE = re.compile(r"\+?[\d ().-]{7,40}")


def normalise_domain(value: str, setting: str = "CHATBOT_ANSWERS__ALLOWED_LINK_DOMAINS") -> str:
    """ "https://www.Shop.example/" -> "shop.example"; ValueError for what is not a host."""
    domain = value.strip().lower()
    if "://" in domain:
        domain = domain.split("://", 1)[1]
    domain = domain.split("/", 1)[0].removeprefix("*.").removeprefix(".").removeprefix("www.")
    if len(domain) > 253 or not _HOST.fullmatch(domain):
        raise ValueError(
            f"{setting}: {value!r} is not a host name; write it like shop.example "
            "(its subdomains are allowed too)"
        )
    return domain


def normalise_contact(value: str) -> str:
    """An allowed contact in the form answers are compared in: "support@shop.example" and
    "@shop.example" in lower case, a phone number as its digits."""
    entry = value.strip()
    address = _ADDRESS.fullmatch(entry)
    if entry.startswith("@"):
        return "@" + normalise_domain(entry[1:], "CHATBOT_ANSWERS__ALLOWED_CONTACTS")
    if address:
        normalise_domain(address.group("domain"), "CHATBOT_ANSWERS__ALLOWED_CONTACTS")
        return entry.lower()
    digits = re.sub(r"\D", "", entry)
    if _PHONE.fullmatch(entry) and len(digits) >= MIN_PHONE_DIGITS:
        return digits
    raise ValueError(
        f"CHATBOT_ANSWERS__ALLOWED_CONTACTS: {value!r} is not an e-mail address "
        "(support@shop.example), an e-mail domain (@shop.example) or a phone number "
        f"(at least {MIN_PHONE_DIGITS} digits)"
    )


def domain_list(value: Any) -> list[str]:
    return list(dict.fromkeys(normalise_domain(str(v)) for v in split_list(value)))


def contact_list(value: Any) -> list[str]:
    return list(dict.fromkeys(normalise_contact(str(v)) for v in split_list(value)))


# Setting types: a plain string from the environment is split here, not decoded as JSON.
DomainList = Annotated[list[str], NoDecode, BeforeValidator(domain_list)]
ContactList = Annotated[list[str], NoDecode, BeforeValidator(contact_list)]
