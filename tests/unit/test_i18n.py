"""The customer texts' catalogs (chatbot.core.i18n): complete, compiled, shipped, and English for
languages without a catalog."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from chatbot.core import i18n
from chatbot.core.i18n import browser_language, gettext_for, language_code, translations
from chatbot.dialogue.handoff import HANDOFF_TEXT, contact_saved_text, handoff_text
from chatbot.dialogue.manager import FALLBACK_TEXT, PROMPT_FOR_QUESTION, too_long_text
from tests.conftest import REPO_ROOT

ZH_PO = i18n.LOCALE_DIR / "zh" / "LC_MESSAGES" / "chatbot.po"
ZH_MO = ZH_PO.with_suffix(".mo")


def code_messages() -> set[str]:
    """Every text marked for translation in the code, as `pybabel extract` finds it."""
    package = REPO_ROOT / "chatbot"
    found = extract_from_dir(str(package), method_map=[("**.py", "python")])
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def po_catalog() -> dict[str, str]:
    with ZH_PO.open("rb") as f:
        catalog = read_po(f)
    assert not [m.id for m in catalog if m.id and m.fuzzy], "fuzzy entries are not used"
    return {str(m.id): str(m.string) for m in catalog if m.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def test_every_text_in_the_code_has_a_chinese_translation() -> None:
    marked = code_messages()
    assert PROMPT_FOR_QUESTION in marked and FALLBACK_TEXT in marked
    catalog = po_catalog()
    missing = sorted(marked - catalog.keys())
    assert not missing, f"not in {ZH_PO.name} (run `make i18n` and translate): {missing}"
    untranslated = sorted(m for m in marked if not catalog[m].strip())
    assert not untranslated, f"untranslated in {ZH_PO.name}: {untranslated}"
    assert not sorted(catalog.keys() - marked), "obsolete entries: run `make i18n`"


def test_translations_keep_their_placeholders() -> None:
    for msgid, msgstr in po_catalog().items():
        assert placeholders(msgstr) == placeholders(msgid), msgid


def test_the_compiled_catalog_matches_the_po_file() -> None:
    with ZH_MO.open("rb") as f:
        compiled = {str(m.id): str(m.string) for m in read_mo(f) if m.id}
    assert compiled == po_catalog(), f"{ZH_MO.name} is stale: run `make i18n`"


def test_the_catalogs_are_package_data() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["chatbot"]
    package = REPO_ROOT / "chatbot"
    for path in (ZH_PO, ZH_MO, i18n.LOCALE_DIR / "chatbot.pot"):
        relative = path.relative_to(package)
        assert any(relative.match(p) for p in patterns), relative


def test_chinese_texts_are_chinese_and_filled_in() -> None:
    zh = gettext_for("zh")
    assert zh(PROMPT_FOR_QUESTION) == "请输入您的问题，我会尽力为您解答。"
    assert "转人工" in zh(FALLBACK_TEXT)
    assert (
        contact_saved_text("jane@example.com", "zh")
        == "谢谢！我们的团队会通过 jane@example.com 与您联系。"
    )
    long = too_long_text(100_025, 2000, "zh")
    assert "100,025" in long and "2,000" in long and "{" not in long
    texts = {handoff_text(reason, "zh") for reason in HANDOFF_TEXT}
    assert len(texts) == 3 and all("电子邮箱或电话号码" in t for t in texts)
    assert handoff_text("something_else", "zh") == handoff_text("requested", "zh")


@pytest.mark.parametrize("language", ["fr", "de", "ja", "", None, "xx-YY", "en", "EN-gb"])
def test_other_languages_get_english(language: str | None) -> None:
    assert gettext_for(language)(FALLBACK_TEXT) == FALLBACK_TEXT
    assert handoff_text("angry", language or "") == HANDOFF_TEXT["angry"]


@pytest.mark.parametrize("tag", ["zh", "zh-CN", "zh_TW", "ZH-hans-cn", " zh "])
def test_chinese_locale_tags_get_chinese(tag: str) -> None:
    assert language_code(tag) == "zh"
    assert gettext_for(tag)(PROMPT_FOR_QUESTION) != PROMPT_FOR_QUESTION


def test_a_missing_catalog_falls_back_to_english_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._translations.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="chatbot.core.i18n"):
            assert gettext_for("zh")(PROMPT_FOR_QUESTION) == PROMPT_FOR_QUESTION
        assert "make i18n" in caplog.text and "chatbot.mo" in caplog.text
    finally:
        monkeypatch.undo()
        i18n._translations.cache_clear()
    assert gettext_for("zh")(PROMPT_FOR_QUESTION) != PROMPT_FOR_QUESTION


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.5, zh-TW", "zh"),  # the highest weight wins, not the first listed
        ("fr-FR,fr;q=0.9,zh;q=0.8", "en"),  # the labels follow the first choice only
        ("*", "en"),
        ("zh;q=bad,en", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_the_page_language_is_the_browsers_first_choice(header: str | None, language: str) -> None:
    assert browser_language(header) == language


def test_translations_for_the_browser() -> None:
    texts = translations(["Send", "Not in the catalog"])
    assert texts == {
        "en": {"Send": "Send", "Not in the catalog": "Not in the catalog"},
        "zh": {"Send": "发送", "Not in the catalog": "Not in the catalog"},
    }
