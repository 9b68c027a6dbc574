"""Contacts and links in Chinese text, which has no spaces around them: where each ends, and the
answer check and masking that depend on it."""

from __future__ import annotations

import pytest

from chatbot.answers.contacts import ContactPolicy, contacts_in, unsupported_contacts
from chatbot.answers.grounding import UNSUPPORTED_CONTACT, check_grounding
from chatbot.privacy.masking import mask_pii
from knowledge_base.embedders import HashEmbedder

HELP = "https://northwind.example/help"
PASSAGE = (
    f"退货须在收货后30天内申请。详情见 {HELP} 。"
    "如需帮助，请发邮件至support@northwind.example或致电1-800-555-0199。"
)


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


def found(text: str) -> list[tuple[str, str]]:
    return [(c.kind, c.text) for c in contacts_in(text)]


@pytest.mark.parametrize(
    "text",
    [
        f"详情见 {HELP}。谢谢",
        f"详情见{HELP}。谢谢",  # no space before it either
        f"请访问{HELP}，谢谢",
        f"请访问{HELP}！",
        f"能打开{HELP}吗？",
        f"请访问{HELP}？",
        f"链接：{HELP}；或致电客服",
        f"（见{HELP}）",
        f"请点击“{HELP}”",
        f"{HELP}、www.northwind.example/faq",
        f"{HELP}退货页面",
        f"{HELP}……",
        f"{HELP}　下一句",  # the ideographic space
    ],
)
def test_a_link_ends_at_chinese_text_and_punctuation(text: str) -> None:
    assert found(text)[0] == ("link", HELP)


def test_a_link_keeps_its_query_and_english_punctuation_is_still_trimmed() -> None:
    assert found(f"见{HELP}?topic=returns&lang=zh。") == [("link", f"{HELP}?topic=returns&lang=zh")]
    assert found(f"See {HELP}.") == [("link", HELP)]
    assert found("xhttps://northwind.example/") == []  # part of another word


def test_an_email_address_next_to_chinese_stops_at_the_chinese() -> None:
    assert found("请发邮件至support@northwind.example获取报价") == [
        ("email", "support@northwind.example")
    ]
    assert found("邮箱：support@northwind.example，谢谢") == [
        ("email", "support@northwind.example")
    ]


@pytest.mark.parametrize(
    "text,phone",
    [
        ("请致电1-800-555-0199咨询", "1-800-555-0199"),
        ("Please call 1-800-555-0199 for help", "1-800-555-0199"),
        ("客服电话：400-123-4567。", "400-123-4567"),
        ("请拨打13812345678联系我们", "13812345678"),
    ],
)
def test_a_phone_number_next_to_chinese_is_found_as_next_to_english(text: str, phone: str) -> None:
    assert found(text) == [("phone", phone)]


def test_contacts_next_to_chinese_are_masked_and_the_chinese_kept() -> None:
    assert mask_pii("请发邮件至support@northwind.example获取报价") == "请发邮件至[email]获取报价"
    assert mask_pii("请致电1-800-555-0199咨询") == "请致电[phone]咨询"


def test_a_link_off_the_allow_list_is_removed_without_the_chinese_after_it() -> None:
    policy = ContactPolicy.build(["northwind.example"], [])
    text, removed = policy.remove_disallowed("请访问https://evil.example/claim。谢谢")
    assert (text, removed) == ("请访问[link removed]。谢谢", 1)
    assert policy.remove_disallowed(f"详情见{HELP}。谢谢") == (f"详情见{HELP}。谢谢", 0)


@pytest.mark.parametrize(
    "answer",
    [
        f"详情见{HELP}。",
        f"详情见 {HELP}，谢谢。",
        "请发邮件至support@northwind.example获取帮助。",
        "请致电1-800-555-0199咨询。",
    ],
)
def test_a_chinese_answer_restating_the_passages_contacts_is_supported(answer: str) -> None:
    assert unsupported_contacts(answer, [PASSAGE]) == []


@pytest.mark.parametrize(
    "answer,missing",
    [
        ("请致电1-800-555-0100咨询。", ["1-800-555-0100"]),
        ("请拨打13812345678咨询。", ["13812345678"]),
        ("详情见https://evil.example/claim。", ["https://evil.example/claim"]),
        # Glued to the Chinese before it, an invented link was not seen at all.
        ("请访问https://evil.example/claim领取", ["https://evil.example/claim"]),
        ("请发邮件至attacker@evil.example获取帮助。", ["attacker@evil.example"]),
    ],
)
def test_a_chinese_answer_with_an_invented_contact_is_unsupported(
    answer: str, missing: list[str]
) -> None:
    assert unsupported_contacts(answer, [PASSAGE]) == missing


def test_the_answer_check_passes_a_chinese_answer_with_the_passages_link(
    embedder: HashEmbedder,
) -> None:
    answer = f"退货须在收货后30天内申请。详情见 {HELP}。"
    result = check_grounding(answer, [PASSAGE], embedder)
    assert result.unsupported_contacts == []
    assert result.reason != UNSUPPORTED_CONTACT
    assert result.supported


def test_the_answer_check_fails_a_chinese_answer_with_an_invented_phone(
    embedder: HashEmbedder,
) -> None:
    answer = "退货须在收货后30天内申请。如需帮助，请致电1-800-555-0100。"
    result = check_grounding(answer, [PASSAGE], embedder)
    assert (result.supported, result.reason) == (False, UNSUPPORTED_CONTACT)
    assert result.unsupported_contacts == ["1-800-555-0100"]
