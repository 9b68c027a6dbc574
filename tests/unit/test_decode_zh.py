"""Decoding short legacy-encoded Chinese uploads, whose GBK bytes are also valid Korean and
Japanese bytes and score as well as them."""

from __future__ import annotations

import pytest

from knowledge_base.loaders import load_document
from knowledge_base.text import decode

FAQ_ROW = "问题,答案\n如何退货？,请在30天内联系客服。\n"


@pytest.mark.parametrize(
    "text",
    [
        FAQ_ROW,
        # Each of these scores as well as Korean (cp949) and was read as Korean.
        "可以开发票吗？,可以，请联系客服。\n",
        "能货到付款吗？,不能。\n",
        "问题,答案\n能货到付款吗？,不能。\n",
        "发货要多久？,一般两天内发货。\n",
    ],
)
def test_a_short_gb18030_text_reads_as_chinese(text: str) -> None:
    assert decode("faq.csv", text.encode("gb18030")) == text


def test_a_one_row_gb18030_faq_becomes_its_question_and_answer() -> None:
    data = "question,answer\n可以开发票吗？,可以，请联系客服。\n".encode("gb18030")
    doc = load_document("faq.csv", data)
    assert [p.text for p in doc.passages] == [
        "可以开发票吗？",
        "可以开发票吗？\n可以，请联系客服。",
    ]


@pytest.mark.parametrize(
    "text,encoding",
    [
        # Korean with spaces between words, where GB18030 scores as well.
        ("배송비는 얼마인가요?,5만원 이상 무료입니다.\n", "cp949"),
        ("질문,답변\n반품은 어떻게 하나요?,고객센터에 연락하세요.\n", "cp949"),
        ("고객센터\n", "cp949"),
        # Japanese with kana, and kanji-only Japanese in Shift-JIS, where GB18030 ties.
        ("カスタマーサポート\n", "euc_jp"),
        ("返品について\n", "euc_jp"),
        ("東京都\n", "cp932"),
        ("ご注文は三日以内にお届けします。返品は三十日以内です。", "shift_jis"),
    ],
)
def test_korean_and_japanese_text_is_not_taken_for_chinese(text: str, encoding: str) -> None:
    assert decode("f.txt", text.encode(encoding)) == text
