"""What every response carries: the security headers and the cookie attributes.

The Content-Security-Policy is the strictest one the Gradio pages work under. Gradio's page
writes its configuration in inline scripts that change with every page, so scripts must be
allowed inline (no hash or nonce can name them in advance); everything else the pages load
comes from this server. Images may only be this server's (or `data:`/`blob:` ones the page
makes), so text rendered in the chat cannot make a browser fetch a remote image. The
console's charts (Vega) compile their expressions at run time, so its pages also allow
`eval`; the customer page does not.
"""

from __future__ import annotations

from collections.abc import Sequence

HSTS_SECONDS = 365 * 24 * 3600


def content_security_policy(frame_ancestors: Sequence[str], allow_eval: bool) -> str:
    scripts = "'self' 'unsafe-inline'" + (" 'unsafe-eval'" if allow_eval else "")
    framers = " ".join(["'self'", *frame_ancestors])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "media-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {framers}",
        ]
    )


def security_headers(csp: str, https: bool) -> dict[str, str]:
    headers = {
        "X-Content-Type-Options": "nosniff",
        # Older browsers only know X-Frame-Options; newer ones follow frame-ancestors above,
        # which also lets the allowed origins frame the pages.
        "X-Frame-Options": "SAMEORIGIN",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": csp,
    }
    if https:  # over plain HTTP the header is ignored, and would be wrong anyway
        headers["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}"
    return headers


def harden_cookie(set_cookie: str, https: bool) -> str:
    """A Set-Cookie value with `SameSite=Lax` (or the `Strict` it had) and, over HTTPS,
    `Secure`. Gradio sets its console session cookie with `SameSite=None`, which would send
    it along with requests that other sites' pages make."""
    name_value, *attributes = (part.strip() for part in set_cookie.split(";"))
    same_site = "Lax"
    kept = []
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        if key.strip().lower() == "samesite":
            if value.strip().lower() == "strict":
                same_site = "Strict"
        elif attribute:
            kept.append(attribute)
    if https and not any(a.lower() == "secure" for a in kept):
        kept.append("Secure")
    return "; ".join([name_value, *kept, f"SameSite={same_site}"])
