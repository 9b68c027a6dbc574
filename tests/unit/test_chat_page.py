"""The customer page's branding: heading, colour, greeting, suggested questions, and the
settings that set them."""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
from pydantic import ValidationError

from chatbot.container import Services
from chatbot.core.i18n import gettext_for
from chatbot.settings import BrandingSettings, Settings
from chatbot.ui import branding
from chatbot.ui.chat_page import build_chat_page, on_load, page_css, suggestion

FAQ = """id,question,answer,category
returns,How do I return an item?,Start a return from the Order History page.,Returns
shipping,How long does shipping take?,Standard shipping takes 3-5 business days.,Shipping
hours,Store hours,Open 9 am to 5 pm.,Stores
tuihuo,如何退货？,在订单页面申请退货。,退货
payment,Which cards do you take?,Visa and Mastercard.,Payment
gift,Do you sell gift cards?,Yes.,Payment
""".encode()
ZH_BROWSER = SimpleNamespace(headers={"accept-language": "zh-CN,zh;q=0.9"})
EN_BROWSER = SimpleNamespace(headers={"accept-language": "en-GB,en;q=0.9"})


@pytest.fixture
def faq_services(services: Services) -> Services:
    assert services.kb.ingest_bytes("faq.csv", FAQ).ok
    return services


def test_an_empty_chat_suggests_the_faqs_questions_in_the_pages_language(
    faq_services: Services,
) -> None:
    _, update = on_load(faq_services, EN_BROWSER)  # type: ignore[arg-type]
    # Questions only (not "Store hours"), in order, at most three, English for English.
    assert update["examples"] == [
        {"text": "How do I return an item?"},
        {"text": "How long does shipping take?"},
        {"text": "Which cards do you take?"},
    ]
    assert update["placeholder"] == branding.WELCOME
    language, update = on_load(faq_services, ZH_BROWSER)  # type: ignore[arg-type]
    assert language == "zh" and update["examples"] == [{"text": "如何退货？"}]
    assert update["placeholder"] == gettext_for("zh")(branding.WELCOME) != branding.WELCOME


def test_the_configured_greeting_and_questions_replace_the_defaults(
    faq_services: Services,
) -> None:
    faq_services.settings.branding = BrandingSettings(
        welcome="Hi from *Acme*! <b>bold</b>", suggested_questions=["Where is my parcel?"]
    )
    _, update = on_load(faq_services, ZH_BROWSER)  # type: ignore[arg-type]
    assert update["examples"] == [{"text": "Where is my parcel?"}]
    # The shop's own text, shown as text: no markup of its own.
    assert update["placeholder"] == "Hi from \\*Acme\\*! \\<b\\>bold\\</b\\>"


def test_an_empty_knowledge_base_suggests_nothing(services: Services) -> None:
    assert on_load(services, EN_BROWSER)[1]["examples"] is None  # type: ignore[arg-type]


def test_a_clicked_suggestion_is_the_message() -> None:
    data = gr.SelectData(None, {"index": 0, "value": {"text": "How do I return an item?"}})
    assert suggestion(data) == "How do I return an item?"


def test_the_shops_name_heads_the_page_and_titles_the_tab(services: Services) -> None:
    services.settings.branding = BrandingSettings(name="Acme <Shop>")
    page = build_chat_page(services)
    assert page.title == "Acme <Shop>"
    texts = [b.value for b in page.blocks.values() if isinstance(b, gr.Markdown)]
    assert "# Acme \\<Shop\\>" in texts  # the name as text, not markup
    assert any('src="data:image/svg+xml;base64,' in t for t in texts)  # the packaged logo
    assert build_chat_page(replace_branding(services)).title == "Support chat"


def replace_branding(services: Services, **kwargs: object) -> Services:
    services.settings.branding = BrandingSettings(**kwargs)  # type: ignore[arg-type]
    return services


def test_a_configured_logo_travels_inside_the_page(tmp_path: Path) -> None:
    png = tmp_path / "logo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    url = branding.logo_url(BrandingSettings(logo=png))
    assert url == "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("logo.bmp", b"BM", "unsupported image type '.bmp'"),
        ("missing.png", None, "no such file"),
        ("huge.png", b"\0" * (600 * 1024), "over the 512 KB limit"),
    ],
)
def test_a_bad_logo_is_refused_with_what_to_do(
    tmp_path: Path, name: str, content: bytes | None, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValidationError, match=problem):
        Settings(branding=BrandingSettings(logo=path))


@pytest.mark.parametrize("color", ["blue", "#12345", "#1234567", "2563eb"])
def test_the_colour_must_be_hex(color: str) -> None:
    with pytest.raises(ValidationError, match="color"):
        BrandingSettings(color=color)


def test_the_colour_reaches_buttons_and_the_customers_messages(services: Services) -> None:
    services.settings.branding = BrandingSettings(color="#ffd700")  # light: black text on it
    css = page_css(services)
    assert "--button-primary-background-fill: #ffd700;" in css
    assert "--button-primary-text-color: #000000;" in css
    assert "#chatbot .message.user { background: #ffd700;" in css
    dark = branding.page_css(BrandingSettings(color="#1e3a8a"))
    assert "--button-primary-text-color: #ffffff;" in dark


def test_branding_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_BRANDING__NAME", "Acme")
    monkeypatch.setenv("CHATBOT_BRANDING__COLOR", "#0f766e")
    monkeypatch.setenv("CHATBOT_BRANDING__SUGGESTED_QUESTIONS", '["Where is my order?"]')
    b = Settings().branding
    assert (b.name, b.color, b.suggested_questions) == ("Acme", "#0f766e", ["Where is my order?"])


def test_a_wrong_branding_setting_stops_the_cli_with_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from chatbot.cli.main import app

    monkeypatch.setenv("CHATBOT_BRANDING__LOGO", str(tmp_path / "logo.png"))
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "kb", "list"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "Error: invalid settings:",
        f"  CHATBOT_BRANDING__LOGO: {tmp_path / 'logo.png'}: no such file; give the path of an "
        "image",
    ]
