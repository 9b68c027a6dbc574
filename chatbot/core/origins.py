"""Parsing of the two address lists in the server settings: web origins and proxy networks.

Both are read from one environment variable each, as a comma-separated list (or a JSON list),
and normalised here, so that a typing mistake stops the server with a message instead of
silently trusting nothing (or everything).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` in canonical form (lower case, no default port), or None when
    `value` is not an http(s) origin ("null", a path, a user name, a bad port...)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    if ":" in host:  # IPv6 literal: brackets again, as in a URL
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def split_list(value: Any) -> Any:
    """A comma-separated or JSON-list string as a list; anything else as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [item.strip() for item in text.split(",") if item.strip()]


def origin_list(value: Any) -> list[str]:
    """Validate and normalise a list of origins (for a settings validator)."""
    origins = []
    for item in split_list(value):
        origin = normalize_origin(str(item))
        if origin is None:
            raise ValueError(
                f"{item!r} is not a web origin: write scheme://host[:port], for example "
                "https://shop.example or http://10.0.0.5:8080 (no path, no trailing text)"
            )
        origins.append(origin)
    return origins


def network_list(value: Any) -> list[str]:
    """Validate and normalise a list of IP addresses or networks (for a settings validator)."""
    networks = []
    for item in split_list(value):
        text = str(item).strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an IP address or network: write an address such as "
                "127.0.0.1 or ::1, or a network such as 10.0.0.0/8"
            ) from None
        single = network.num_addresses == 1
        networks.append(str(network.network_address) if single else str(network))
    return networks


# Setting types: a plain string from the environment is split here, not decoded as JSON.
OriginList = Annotated[list[str], NoDecode, BeforeValidator(origin_list)]
NetworkList = Annotated[list[str], NoDecode, BeforeValidator(network_list)]
