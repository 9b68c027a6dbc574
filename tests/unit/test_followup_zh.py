"""Chinese follow-up questions: detection and query rewriting."""

from __future__ import annotations

import pytest

from chatbot.dialogue.followup import is_followup, rewrite_query, strip_connective

RETURNS = [
    ("user", "退货政策是什么？"),
    ("assistant", "大部分商品可在收货后30天内退货。"),
]


@pytest.mark.parametrize(
    "text,rest",
    [
        ("那要多久？", "要多久?"),
        ("那运费呢？", "运费呢?"),
        ("那運費呢？", "运费呢?"),  # traditional characters come back simplified
        ("这个呢", "这个呢"),
        ("這個呢", "这个呢"),
        ("那国际订单呢？", "国际订单呢?"),
        ("那么，如果是国际订单呢？", "如果是国际订单呢?"),
        ("它多少钱？", "它多少钱?"),
        ("那个多少钱？", "那个多少钱?"),
        ("国际订单呢？", "国际订单呢?"),
        ("要多久？", "要多久?"),
        ("为什么？", "为什么?"),
        ("还有，运费怎么算？", "运费怎么算?"),
        ("另外，怎么修改收货地址？", "怎么修改收货地址?"),
        ("也可以退吗？", "可以退吗?"),
        ("那refund呢？", "refund呢?"),
    ],
)
def test_chinese_follow_ups_are_rewritten_with_the_previous_question(text: str, rest: str) -> None:
    assert is_followup(text)
    assert rewrite_query(text, RETURNS) == f"退货政策是什么？ {rest}"


@pytest.mark.parametrize(
    "text",
    [
        # Standalone questions that name their topic
        "退货要多久？",
        "退货政策是什么？",
        "运费多少？",
        "如何修改收货地址？",
        "怎么申请退款？",
        "我想退货，请问需要什么手续？",
        "我的订单呢？",  # where the customer's own order is
        "还有货吗？",  # "is it still in stock", not "and also"
        "这个月的账单在哪里看？",  # "this month" points at nothing earlier
        "有其它颜色吗？",
        # Small talk
        "谢谢",
        "好的，谢谢！",
        "那好吧",
        "你好",
    ],
)
def test_chinese_standalone_messages_are_not_rewritten(text: str) -> None:
    assert not is_followup(text)
    assert rewrite_query(text, RETURNS) is None


def test_a_chinese_chain_of_follow_ups_keeps_the_original_topic() -> None:
    history = [
        ("user", "标准快递要多久？"),
        ("assistant", "标准快递需要3-5个工作日。"),
        ("user", "那运费呢？"),
        ("assistant", "标准快递运费为10元。"),
    ]
    assert rewrite_query("那国际订单呢？", history) == "标准快递要多久？ 运费呢? 国际订单呢?"


def test_an_english_question_followed_by_a_chinese_follow_up() -> None:
    history = [("user", "What is your return policy?")]
    assert rewrite_query("那要多久？", history) == "What is your return policy? 要多久?"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("那要多久？", "要多久?"),
        ("那么，运费呢", "运费呢"),
        ("另外，怎么退款？", "怎么退款?"),
        ("那个多少钱？", "那个多少钱?"),  # a back-reference, not a connective
        ("那里有门店吗", "那里有门店吗"),
        ("那", "那"),  # nothing left: keep the text
    ],
)
def test_chinese_strip_connective(text: str, expected: str) -> None:
    assert strip_connective(text) == expected
