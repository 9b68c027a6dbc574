"""The answer benchmark's own checks: the fact matcher, the unsupported-fact detector, the
language test, the recording generator, and the labelled questions themselves."""

from __future__ import annotations

import pytest

from benchmarks.answer_checks import (
    KINDS,
    SourceFacts,
    chinese_number,
    contains,
    is_chinese,
    kb_text,
    load_questions,
    missing_facts,
    normalise,
    reply_language,
)
from benchmarks.answers import RecordingGenerator, select
from chatbot.generation.base import ChatMessage
from chatbot.generation.scripted import ScriptedGenerator


@pytest.fixture(scope="module")
def source() -> SourceFacts:
    return SourceFacts(kb_text())


# ---- fact matcher ---------------------------------------------------------------------------
def test_facts_match_case_and_whitespace_insensitively() -> None:
    answer = "Returns are accepted within\n 30   DAYS of delivery."
    assert missing_facts(answer, [["30 days", "30-day"]]) == []
    assert missing_facts(answer, [["30 days"], ["Final Sale"]]) == [["Final Sale"]]


def test_any_alternative_of_a_fact_is_enough() -> None:
    assert missing_facts("退货期限为三十天。", [["30 days", "30天", "三十天"]]) == []
    assert missing_facts("退货期限为 30 天。", [["30 days", "30天"]]) == []  # space by CJK
    assert missing_facts("Fees: \uff13\uff10 days", [["30 days"]]) == []  # full-width digits


def test_dashes_are_one_dash() -> None:
    assert contains("Express takes 1\u20132 business days", "1-2 business days")
    assert normalise("3 — 5") == "3 - 5"


def test_a_number_does_not_match_inside_a_longer_number() -> None:
    assert not contains("Free shipping over $500.", "$50")
    assert not contains("It costs $150", "50")
    assert not contains("It costs $50.95", "$50")
    assert contains("Free shipping over $50.", "$50")
    assert contains("over $50, otherwise", "$50")
    assert not contains("within 12 hours", "2 hours")


def test_no_facts_means_nothing_missing() -> None:
    assert missing_facts("anything", []) == []


# ---- unsupported facts ------------------------------------------------------------------------
def test_facts_from_the_knowledge_base_are_supported(source: SourceFacts) -> None:
    answer = (
        "Standard shipping is free over $50 and costs $6.95 otherwise; Express is $14.95 and "
        "takes 1-2 business days. Orders before 1 pm ship the same day. Call 1-800-555-0142 "
        "(8:00 am-8 pm) or email support@northwind.example, see https://northwind.example/help/"
        "shipping. Klarna: $100 to $2,000.00."
    )
    assert source.unsupported(answer) == []


def test_numbers_prices_and_times_not_in_the_knowledge_base(source: SourceFacts) -> None:
    found = source.unsupported("Returns within 45 days; shipping costs $7.50; open until 9:30 pm.")
    assert found == ["45", "7.5", "9:30"]


def test_contacts_and_links_not_in_the_knowledge_base(source: SourceFacts) -> None:
    answer = (
        "Email help@northwind.example, call 1-800-555-0199, "
        "or see www.northwind.com/faq and northwind.example/returns."
    )
    assert source.unsupported(answer) == [
        "help@northwind.example",
        "northwind.com/faq",
        "northwind.example/returns",
        "18005550199",
    ]


def test_a_phone_number_without_country_code_and_links_up_the_path(source: SourceFacts) -> None:
    assert source.unsupported("Call (800) 555-0142 or visit northwind.example/help.") == []


def test_chinese_answers(source: SourceFacts) -> None:
    supported = (
        "请发邮件至support@northwind.example，或致电1-800-555-0142。"
        "退货期限为三十天，零售店营业到晚上八点。"
    )
    assert source.unsupported(supported) == []
    assert source.unsupported("退货期限为四十五天，运费１３美元。") == ["13", "45"]


def test_chinese_numerals() -> None:
    assert chinese_number("三十") == 30
    assert chinese_number("十四") == 14
    assert chinese_number("两千") == 2000
    assert chinese_number("一百零五") == 105
    assert chinese_number("零") is None  # 零售 (retail) is a word, not zero
    assert chinese_number("千万") is None


def test_the_customers_own_numbers_may_be_repeated(source: SourceFacts) -> None:
    answer = "Your $35 order ships for $6.95."
    assert source.unsupported(answer) == ["35"]
    assert source.unsupported(answer, also="what do you charge if my order is $35?") == []


def test_digits_in_names_are_not_numbers(source: SourceFacts) -> None:
    assert source.unsupported("Pay with an MP3 player? No: Visa, PayPal or Apple Pay.") == []


# ---- language -------------------------------------------------------------------------------
def test_reply_language() -> None:
    assert reply_language("Returns are accepted within 30 days.") == "en"
    assert reply_language("请发邮件至support@northwind.example，我们会在1个工作日内回复。") == "zh"
    assert reply_language("You can pay with PayPal (支付宝 is not accepted).") == "en"
    assert reply_language("") == "en"


# ---- the recording generator ---------------------------------------------------------------------
def test_recording_generator_passes_through_and_records() -> None:
    inner = ScriptedGenerator(["one two three"])
    recorder = RecordingGenerator(inner)
    prompt: list[ChatMessage] = [{"role": "user", "content": "hello there"}]
    assert "".join(recorder.stream(prompt, 10)) == "one two three"
    assert recorder.count_tokens(prompt) == inner.count_tokens(prompt)
    assert recorder.context_tokens() == inner.context_tokens()
    [call] = recorder.calls
    assert call.messages == prompt and call.text == "one two three" and call.seconds >= 0


def test_closing_the_recorded_stream_stops_the_model() -> None:
    inner = ScriptedGenerator(["one two three"])
    stream = RecordingGenerator(inner).stream([{"role": "user", "content": "hi"}], 10)
    assert next(stream) == "one"
    stream.close()
    assert inner.outcomes == ["closed"]


# ---- the labelled questions ---------------------------------------------------------------------
def test_the_data_file() -> None:
    questions = load_questions()
    assert len(questions) >= 64
    assert sum(q.lang == "zh" for q in questions) >= 22
    assert len({q.id for q in questions}) == len(questions)
    assert {q.kind for q in questions} == set(KINDS)
    for q in questions:
        assert q.in_scope == bool(q.facts), q.id  # in scope: facts; out of scope: none
        assert bool(q.previous) == (q.kind == "follow_up"), q.id
        assert is_chinese(q.question) == (q.lang == "zh"), q.id


def test_every_fact_can_be_found_in_the_knowledge_base() -> None:
    """Each fact has an alternative the source files state literally: a typo in a fact would
    make a right answer count as wrong."""
    source = kb_text()
    for q in load_questions():
        for alternatives in q.facts:
            assert any(contains(source, a) for a in alternatives), (q.id, alternatives)


def test_a_quick_run_covers_every_kind() -> None:
    picked = select(load_questions(), "zh", len(KINDS))
    assert {q.kind for q in picked} == set(KINDS)
    assert all(q.lang == "zh" for q in picked)
