"""Signed customer ids: the check itself, and the API refusing or keeping them over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import time

import pytest
from pydantic import SecretStr

from chatbot.container import Services
from chatbot.settings import Settings, WidgetSettings
from chatbot.ui.transcript import render_transcript
from chatbot.web.widget.customer_id import CustomerIdRefused, sign, verify
from tests.unit.api_server import bearer, client, new_key, parse_sse, served

SECRET = "shop-secret-for-the-widget-0123456789"
CUSTOMER = "customer-4711@shop.example"
LATER = 4_102_444_800  # 2100-01-01
NOW = 1_800_000_000.0


def refusal(**kwargs: object) -> CustomerIdRefused:
    args: dict[str, object] = {
        "secret": SECRET,
        "customer_id": CUSTOMER,
        "signature": sign(SECRET, CUSTOMER, LATER),
        "expires": LATER,
        "now": NOW,
    }
    with pytest.raises(CustomerIdRefused) as caught:
        verify(**(args | kwargs))  # type: ignore[arg-type]
    return caught.value


def test_a_signature_made_as_the_readme_says_is_accepted() -> None:
    # What the shop's backend computes, written out with hmac as in the README.
    text = f"{CUSTOMER}.{LATER}".encode()
    signature = hmac.new(SECRET.encode(), text, hashlib.sha256).hexdigest()
    assert signature == sign(SECRET, CUSTOMER, LATER)
    assert verify(SECRET, CUSTOMER, signature, LATER, now=NOW) == CUSTOMER
    assert verify(SECRET, CUSTOMER, signature.upper(), LATER, now=NOW) == CUSTOMER  # hex case


def test_the_readme_openssl_command_makes_the_same_signature() -> None:
    command = f"printf '%s' '{CUSTOMER}.{LATER}' | openssl dgst -sha256 -hmac '{SECRET}' -r"
    out = subprocess.run(command, shell=True, capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == sign(SECRET, CUSTOMER, LATER)


@pytest.mark.parametrize(
    "forged",
    [
        {"signature": sign("another-secret-of-enough-length", CUSTOMER, LATER)},
        {"customer_id": "customer-4712@shop.example"},  # another customer, same signature
        {"expires": LATER + 1},  # a later expiry, same signature
        {"signature": sign(SECRET, CUSTOMER, LATER)[:-1] + "0"},
        {"signature": "not hex at all"},
        {"signature": sign(SECRET, CUSTOMER, LATER) + "00"},
    ],
)
def test_a_forged_signature_is_refused(forged: dict[str, object]) -> None:
    refused = refusal(**forged)
    assert (refused.status, refused.code) == (403, "invalid_signature")
    assert "HMAC-SHA256" in refused.message
    assert "CHATBOT_WIDGET__CUSTOMER_ID_SECRET" in refused.message


def test_a_missing_signature_or_expiry_is_refused_saying_which() -> None:
    refused = refusal(signature=None)
    assert refused.code == "invalid_signature" and "customer_signature" in refused.message
    refused = refusal(expires=None)
    assert refused.code == "invalid_signature" and "customer_expires" in refused.message


def test_an_expired_signature_is_refused_after_its_time_only() -> None:
    expires = int(NOW) + 60
    signature = sign(SECRET, CUSTOMER, expires)
    assert verify(SECRET, CUSTOMER, signature, expires, now=NOW + 59) == CUSTOMER
    refused = refusal(signature=signature, expires=expires, now=NOW + 60)
    assert (refused.status, refused.code) == (403, "signature_expired")
    assert "2027-01-15T08:01:00+00:00" in refused.message  # when, in UTC


def test_without_a_secret_no_customer_id_is_accepted() -> None:
    refused = refusal(secret=None)
    assert (refused.status, refused.code) == (403, "customer_id_not_accepted")
    assert "CHATBOT_WIDGET__CUSTOMER_ID_SECRET" in refused.message


@pytest.mark.parametrize("bad", ["", "x" * 129, "line\nbreak", "tab\there"])
def test_an_unusable_customer_id_is_refused(bad: str) -> None:
    refused = refusal(customer_id=bad, signature=sign(SECRET, bad, LATER))
    assert (refused.status, refused.code) == (422, "invalid_request")


def test_the_secret_setting_is_optional_and_at_least_16_characters() -> None:
    assert WidgetSettings().customer_id_secret is None
    assert WidgetSettings(customer_id_secret="").customer_id_secret is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 16"):
        WidgetSettings(customer_id_secret="short")  # type: ignore[arg-type]


# ---- over HTTP ---------------------------------------------------------------------------


def with_secret(services: Services, secret: str | None) -> Services:
    widget = WidgetSettings(customer_id_secret=SecretStr(secret) if secret else None)
    services.settings = Settings.model_validate(services.settings.model_dump() | {"widget": widget})
    return services


def signed_body(customer: str = CUSTOMER, expires: int = LATER, secret: str = SECRET) -> dict:
    return {
        "customer_id": customer,
        "customer_signature": sign(secret, customer, expires),
        "customer_expires": expires,
    }


def test_a_verified_customer_id_is_kept_and_shown_to_staff_only(services: Services) -> None:
    with_secret(services, SECRET)
    public, staff = new_key(services, "customer"), new_key(services, "agent")
    with served(services) as url, client(url) as c:
        r = c.post("/api/v1/conversations", json=signed_body(), headers=bearer(public))
        assert r.status_code == 201, r.text
        cid, token = r.json()["id"], r.json()["token"]
        r = c.post(
            f"/api/v1/conversations/{cid}/messages",
            json={"text": "Hello there", "stream": True},
            headers=bearer(public, **{"X-Conversation-Token": token}),
        )
        assert [e for e, _ in parse_sse(r.text)][-1] == "final"
        staff_view = c.get(f"/api/v1/conversations/{cid}", headers=bearer(staff)).json()
        assert staff_view["customer_id"] == CUSTOMER
        own_key = bearer(public, **{"X-Conversation-Token": token})
        own = c.get(f"/api/v1/conversations/{cid}", headers=own_key).json()
        assert own["customer_id"] is None
        assert own["messages"][0]["text"] == "Hello there"
        # Without a body (or with an empty one) a conversation is anonymous, as before.
        for kwargs in ({}, {"json": {}}):
            r = c.post("/api/v1/conversations", headers=bearer(public), **kwargs)
            assert r.status_code == 201
            anonymous = c.get(f"/api/v1/conversations/{r.json()['id']}", headers=bearer(staff))
            assert anonymous.json()["customer_id"] is None
    header = render_transcript(services, cid).splitlines()[1]
    assert f"signed-in customer **{CUSTOMER}**" in header.replace("\\", "")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (signed_body(secret="another-secret-of-enough-length"), 403, "invalid_signature"),
        (signed_body() | {"customer_id": "someone-else"}, 403, "invalid_signature"),
        ({"customer_id": CUSTOMER}, 403, "invalid_signature"),
        (signed_body(expires=int(time.time()) - 1), 403, "signature_expired"),
        ({"customer_signature": "ab" * 32, "customer_expires": LATER}, 422, "invalid_request"),
        (signed_body() | {"customer_expires": "soon"}, 422, "invalid_request"),
    ],
)
def test_a_wrong_missing_or_expired_signature_is_a_json_error_and_starts_nothing(
    services: Services, body: dict, status: int, code: str
) -> None:
    with_secret(services, SECRET)
    public = new_key(services, "customer")
    with served(services) as url, client(url, public) as c:
        r = c.post("/api/v1/conversations", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    assert services.conversations.recent() == []


def test_a_server_without_the_secret_refuses_customer_ids(services: Services) -> None:
    with_secret(services, None)
    public = new_key(services, "customer")
    with served(services) as url, client(url, public) as c:
        r = c.post("/api/v1/conversations", json=signed_body())
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "customer_id_not_accepted"
        assert "CHATBOT_WIDGET__CUSTOMER_ID_SECRET" in r.json()["error"]["message"]
        assert c.post("/api/v1/conversations").status_code == 201  # anonymous still works
