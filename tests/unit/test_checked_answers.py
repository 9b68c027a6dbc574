"""Answers checked before they are shown: the sentence gate, extractive answers, questions in
two parts and sentences in any script. Hash embedder (lexical) and the scripted generator."""

from __future__ import annotations

import pytest

from chatbot.answers.answer_gate import AnswerGate
from chatbot.answers.grounding import (
    EMPTY,
    MODEL_DECLINED,
    NEGATION_MISMATCH,
    OFF_PASSAGE,
    UNSUPPORTED_CONTACT,
    UNSUPPORTED_NUMBER,
    UNSUPPORTED_WORDS,
    AnswerCheck,
    PassageVectors,
    numbers_in,
)
from chatbot.container import Services
from chatbot.core.text import content_size, is_negated, split_sentences
from chatbot.dialogue.extractive import SentencePicker, join_sentences
from chatbot.dialogue.prompts import build_prompt
from chatbot.dialogue.question_parts import split_question
from chatbot.generation.scripted import ScriptedGenerator
from knowledge_base.embedders import HashEmbedder

STORES = (
    "Our Denver store is at 1200 Larimer Street. It opens Monday to Saturday 10 am-8 pm and "
    "Sunday 11 am-6 pm. Parking is free for two hours with any purchase. Call 303-555-0142 to "
    "reach the store."
)
RETURNS = "Items can be returned within 30 days of delivery. Refunds take 5-7 business days."
SHIPPING = "We ship to Canada, Australia and the United Kingdom. Shipping abroad costs $25."
ZH_RETURNS = "商品可在签收后30天内退货。退款将在5个工作日内原路退回。"


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


def gate(passages: list[str], embedder: HashEmbedder) -> AnswerGate:
    return AnswerGate(AnswerCheck(passages, embedder, 0.5, PassageVectors(embedder)))


def stream(g: AnswerGate, text: str) -> list[str]:
    """Feed `text` word by word, as a model streams it; the shown pieces."""
    shown = [g.feed(w if i == 0 else f" {w}") for i, w in enumerate(text.split(" "))]
    shown.append(g.finish())
    return [s for s in shown if s]


# ---- the gate ---------------------------------------------------------------------------------


def test_each_sentence_is_shown_only_after_it_is_complete_and_checked(
    embedder: HashEmbedder,
) -> None:
    g = gate([RETURNS], embedder)
    answer = "Items can be returned within 30 days of delivery. Refunds take 5-7 business days."
    pieces = []
    for i, word in enumerate(answer.split(" ")):
        released = g.feed(word if i == 0 else f" {word}")
        # Nothing of a sentence is shown while it is being written.
        assert not released or released.rstrip().endswith(".")
        pieces.append(released)
    pieces.append(g.finish())
    assert [p for p in pieces if p] == [
        "Items can be returned within 30 days of delivery. ",
        "Refunds take 5-7 business days.",
    ]
    assert g.rejected is None and g.withheld == ""


def test_nothing_unverified_is_ever_shown(embedder: HashEmbedder) -> None:
    """The first failing sentence ends what is shown; it and the rest are withheld."""
    g = gate([RETURNS], embedder)
    answer = (
        "Items can be returned within 30 days of delivery. Refunds take 14 days. "
        "Refunds take 5-7 business days."
    )
    shown = "".join(stream(g, answer))
    assert shown == "Items can be returned within 30 days of delivery. "
    assert g.rejected is not None and g.rejected.reason == UNSUPPORTED_NUMBER
    assert g.rejected.unsupported_numbers == ["14"]
    assert g.withheld.startswith("Refunds take 14 days.")
    assert g.feed(" More text.") == ""  # once rejected, nothing more is shown


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Parking costs $5 for two hours at the store.", UNSUPPORTED_NUMBER),
        ("The Denver store opens Sunday at 7:30 pm for everyone.", UNSUPPORTED_NUMBER),
        ("Call 303-555-0199 to reach the Denver store.", UNSUPPORTED_CONTACT),
        ("Email denver@northwind.example to reach the store.", UNSUPPORTED_CONTACT),
        ("See https://maps.example/denver for the store.", UNSUPPORTED_CONTACT),
        ("I don't know the opening hours of that store.", MODEL_DECLINED),
    ],
)
def test_prices_times_and_contacts_are_checked(
    embedder: HashEmbedder, answer: str, reason: str
) -> None:
    g = gate([STORES], embedder)
    assert stream(g, answer) == []
    assert g.rejected is not None and g.rejected.reason == reason


def test_facts_the_passage_gives_are_shown(embedder: HashEmbedder) -> None:
    g = gate([STORES], embedder)
    answer = "The Denver store opens Sunday 11 am-6 pm. Call 303-555-0142 to reach the store."
    assert "".join(stream(g, answer)) == answer


def test_a_short_opening_is_held_until_a_checked_sentence_follows(
    embedder: HashEmbedder,
) -> None:
    g = gate([RETURNS], embedder)
    assert g.feed("Sure! ") == ""
    assert g.feed("Items can be returned within 30 days of delivery.") == ""
    assert g.finish() == "Sure! Items can be returned within 30 days of delivery."


@pytest.mark.parametrize(
    "answer", ["Yes.", "Sure! Of course.", "How do I return items within 30 days?"]
)
def test_an_answer_of_nothing_checkable_is_not_shown(embedder: HashEmbedder, answer: str) -> None:
    g = gate([RETURNS], embedder)
    assert stream(g, answer) == []
    assert g.rejected is not None and g.rejected.reason == EMPTY


DAMAGED = (
    "Email us within 7 days of delivery with photos of the damage. We will send a free "
    "replacement or issue a full refund."
)
DAMAGED_QUESTION = "my new tent arrived with a cracked pole, what should I do?"


def asked_gate(passages: list[str], question: str, embedder: HashEmbedder) -> AnswerGate:
    check = AnswerCheck(passages, embedder, 0.5, PassageVectors(embedder), question=question)
    return AnswerGate(check)


def test_an_opening_that_repeats_the_customer_is_left_out(embedder: HashEmbedder) -> None:
    """A draft that starts by restating the customer's message goes on to its answer; the
    restatement is not shown, and is kept with the withheld draft if the answer fails."""
    g = asked_gate([DAMAGED], DAMAGED_QUESTION, embedder)
    answer = (
        "Sure! Your new tent arrived with a cracked pole. "
        "Email us within 7 days of delivery with photos of the damage."
    )
    assert "".join(stream(g, answer)) == (
        "Email us within 7 days of delivery with photos of the damage."
    )
    assert g.rejected is None and g.left_out == ["Sure! Your new tent arrived with a cracked pole."]
    g = asked_gate([DAMAGED], DAMAGED_QUESTION, embedder)
    assert stream(g, "Your new tent arrived with a cracked pole. Refunds take 14 days.") == []
    assert g.rejected is not None and g.rejected.reason == UNSUPPORTED_NUMBER
    assert g.withheld == "Your new tent arrived with a cracked pole. Refunds take 14 days."


@pytest.mark.parametrize(
    "opening",
    [
        # A yes or no makes the repeat an answer: wrong here, and it ends the draft.
        "Yes, your new tent arrived with a cracked pole.",
        # A word of the model's own is a claim, not a repeat.
        "Your new tent arrived with a cracked pole under warranty.",
    ],
)
def test_a_failing_opening_that_says_more_than_the_customer_ends_the_draft(
    embedder: HashEmbedder, opening: str
) -> None:
    g = asked_gate([DAMAGED], DAMAGED_QUESTION, embedder)
    assert stream(g, f"{opening} Email us within 7 days of delivery with photos.") == []
    assert g.rejected is not None and not g.left_out


def test_a_repeat_after_a_shown_sentence_ends_the_draft(embedder: HashEmbedder) -> None:
    g = asked_gate([DAMAGED], DAMAGED_QUESTION, embedder)
    answer = (
        "Email us within 7 days of delivery with photos of the damage. "
        "Your new tent arrived with a cracked pole. We will send a free replacement."
    )
    assert "".join(stream(g, answer)) == (
        "Email us within 7 days of delivery with photos of the damage. "
    )
    assert g.rejected is not None and not g.left_out


def test_a_draft_of_nothing_but_repeats_is_not_shown(embedder: HashEmbedder) -> None:
    g = asked_gate([DAMAGED], DAMAGED_QUESTION, embedder)
    assert stream(g, "Your new tent arrived with a cracked pole.") == []
    assert g.rejected is not None and g.rejected.reason != "supported"
    assert g.withheld == "Your new tent arrived with a cracked pole."


def test_non_latin_sentences_are_checked(embedder: HashEmbedder) -> None:
    """A Chinese sentence is split at 。 and checked for numbers (Chinese numerals too) and for
    meaning: it does not pass unchecked because it has no ASCII words."""
    g = gate([ZH_RETURNS], embedder)
    assert "".join(stream(g, "商品可在签收后30天内退货。")) == "商品可在签收后30天内退货。"
    for invented in ("商品可在签收后14天内退货。", "商品可在签收后十四天内退货。"):
        g = gate([ZH_RETURNS], embedder)
        assert stream(g, invented) == []
        assert g.rejected is not None and g.rejected.reason == UNSUPPORTED_NUMBER
    g = gate([ZH_RETURNS], embedder)
    assert stream(g, "我们的门店周日营业时间很长，欢迎随时光临参观。") == []
    assert g.rejected is not None and g.rejected.reason == OFF_PASSAGE


def test_chinese_numerals_and_full_width_digits_are_numbers() -> None:
    assert numbers_in("退货期限是三十天，运费十五元") == ["30", "15"]
    assert numbers_in("退货期限是３０天") == ["30"]


def test_sentences_split_in_english_and_chinese() -> None:
    assert split_sentences("Returns take 30 days. E.g. the app works. 退货。退款！好吗？") == [
        "Returns take 30 days.",
        "E.g. the app works.",
        "退货。",
        "退款！",
        "好吗？",
    ]
    assert split_sentences("## Stores\n- Denver: 10 am-8 pm\n- Boulder: 9 am-5 pm") == [
        "Stores",
        "Denver: 10 am-8 pm",
        "Boulder: 9 am-5 pm",
    ]
    assert content_size("Returns take thirty days") == 4
    assert content_size("退货期限三十天") == 3


def test_a_hard_wrapped_paragraph_splits_into_whole_sentences() -> None:
    # Markdown files and PDFs wrap prose at a fixed width: a quoted sentence must not end at
    # "defects in", and a list or a new paragraph still starts a sentence of its own.
    wrapped = (
        "Products carry a 2-year warranty against defects in\n"
        "materials and workmanship. After the warranty period\n"
        "  ends, a repair costs a fee.\n\nlower-case paragraph\nStores:\n- Denver: 10 am"
    )
    assert split_sentences(wrapped) == [
        "Products carry a 2-year warranty against defects in materials and workmanship.",
        "After the warranty period ends, a repair costs a fee.",
        "lower-case paragraph",
        "Stores:",
        "Denver: 10 am",
    ]


# ---- extractive answers -----------------------------------------------------------------------


def test_the_extractive_answer_is_the_sentence_holding_the_fact(embedder: HashEmbedder) -> None:
    picker = SentencePicker(embedder, PassageVectors(embedder))
    hours = picker.answer("When does the store open on Sunday?", STORES)
    assert "It opens Monday to Saturday 10 am-8 pm and Sunday 11 am-6 pm." in hours
    # A sentence that starts with "It" comes with the sentence it refers back to.
    assert hours[0] == "Our Denver store is at 1200 Larimer Street."
    assert "Parking is free for two hours with any purchase." not in hours
    assert picker.answer("Is parking free?", STORES) == [
        "Parking is free for two hours with any purchase."
    ]


def test_a_short_sentence_that_introduces_a_list_brings_the_next_line(
    embedder: HashEmbedder,
) -> None:
    picker = SentencePicker(embedder, PassageVectors(embedder))
    hours = "Store hours:\n- Weekdays 9 am-5 pm\n\nGift cards never expire."
    assert picker.answer("What are the store hours?", hours) == [
        "Store hours:",
        "Weekdays 9 am-5 pm",
    ]
    assert join_sentences(["Store hours:", "Weekdays 9 am-5 pm"]) == (
        "Store hours:\nWeekdays 9 am-5 pm"
    )


def test_the_prompt_gets_the_relevant_sentences_of_a_long_passage(
    embedder: HashEmbedder,
) -> None:
    picker = SentencePicker(embedder, PassageVectors(embedder))
    cut = picker.relevant("Is parking free at the store?", STORES, limit=2)
    assert "Parking is free for two hours with any purchase." in cut
    assert len(split_sentences(cut)) == 2
    assert picker.relevant("anything", RETURNS, limit=2) == RETURNS  # short: whole


# ---- questions in parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        (
            "What is your return window, and do you ship to Australia?",
            ["What is your return window", "do you ship to Australia?"],
        ),
        (
            "How long is the warranty? Do you price match?",
            ["How long is the warranty?", "Do you price match?"],
        ),
        (
            "退货期限是多久？另外你们发货到澳大利亚吗？",
            ["退货期限是多久？", "你们发货到澳大利亚吗？"],
        ),
        ("Can I cancel my order and get a refund?", ["Can I cancel my order and get a refund?"]),
        ("What are your hours? Thanks", ["What are your hours? Thanks"]),
    ],
)
def test_questions_split_only_where_a_new_question_starts(question: str, parts: list[str]) -> None:
    assert split_question(question) == parts


TWO_PART_FAQ = f"""id,question,answer
returns,How long do I have to return an item?,"{RETURNS}"
shipping,Do you ship internationally?,"{SHIPPING}"
""".encode()


@pytest.fixture
def shop(services: Services) -> Services:
    assert services.kb.ingest_bytes("faq.csv", TWO_PART_FAQ).ok
    services.dialogue.approved_answers = False
    return services


def test_a_two_part_question_is_answered_from_both_entries(
    shop: Services, generator: ScriptedGenerator
) -> None:
    """One short generation per part, each from its own entry; both answers are shown."""
    generator.replies = [
        "Items can be returned within 30 days of delivery.",
        "We ship to Canada, Australia and the United Kingdom.",
    ]
    question = "How long do I have to return an item, and do you ship to Australia?"
    reply = shop.dialogue.respond(question)
    text = "".join(reply)
    assert reply.decision == "answer"
    assert [s.entry_id for s in reply.sources] == ["returns", "shipping"]
    first, second = (p[-1]["content"] for p in generator.prompts)
    assert "30 days" in first and "Australia" not in first
    assert first.endswith("Customer question: How long do I have to return an item")
    assert "Australia" in second and second.endswith("do you ship to Australia?")
    assert text == (
        "Items can be returned within 30 days of delivery. "
        "We ship to Canada, Australia and the United Kingdom."
    )
    assert reply.answer_mode == "generated" and reply.draft is None


def test_a_part_whose_draft_fails_is_answered_from_its_passage(
    shop: Services, generator: ScriptedGenerator
) -> None:
    generator.replies = [
        "Items can be returned within 30 days of delivery.",
        "We ship everywhere for free.",
    ]
    reply = shop.dialogue.respond(
        "How long do I have to return an item, and do you ship to Australia?"
    )
    text = "".join(reply)
    assert text.startswith("Items can be returned within 30 days of delivery. ")
    assert "Australia" in text and "free" not in text
    assert reply.answer_mode == "generated"
    assert (reply.draft, reply.draft_rejection) == ("We ship everywhere for free.", "off_passage")


def test_a_failed_two_part_answer_falls_back_to_a_sentence_for_each_part(
    shop: Services, generator: ScriptedGenerator
) -> None:
    generator.replies = ["Returns are accepted for 90 days."]
    reply = shop.dialogue.respond(
        "How long do I have to return an item, and do you ship to Australia?"
    )
    text = "".join(reply)
    assert reply.answer_mode == "passage" and reply.draft_rejection == UNSUPPORTED_NUMBER
    assert "90" not in text
    assert "30 days" in text and "Australia" in text
    # Sentences, not whole passages: the refund and price sentences are left out.
    assert "Refunds take" not in text and "$25" not in text


GIFT_CARDS = "Gift cards are sold in any amount from $25 to $500 and can be used in stores."


def test_agreeing_with_the_questions_premise_is_not_support(embedder: HashEmbedder) -> None:
    """Close in meaning to the passage, but "wrapping" is the customer's word, not the shop's."""
    check = AnswerCheck([GIFT_CARDS], embedder, question="Do you offer gift wrapping?")
    result = check.sentence("Yes, we offer gift wrapping with gift cards.")
    assert (result.supported, result.reason) == (False, UNSUPPORTED_WORDS)
    # The passage's own words answer the question as asked.
    assert check.sentence("Gift cards are sold in any amount and can be used in stores.").supported


def test_a_paraphrase_may_use_a_few_words_of_its_own(embedder: HashEmbedder) -> None:
    check = AnswerCheck([RETURNS], embedder, question="How long do refunds take?")
    assert check.sentence("Refunds usually take 5-7 business days.").supported
    many_new = "Refunds usually arrive swiftly via courier pigeon within 5-7 business days."
    assert check.sentence(many_new).reason == UNSUPPORTED_WORDS


PROMO = (
    "Only one promo code can be used per order. A price match replaces any other discount, so "
    "promo codes cannot be used on a price-matched item."
)


@pytest.mark.parametrize(
    ("answer", "supported"),
    [
        ("You can use a promo code on a price-matched item.", False),
        ("Promo codes cannot be used on a price-matched item.", True),
        ("No, promo codes can't be used on a price-matched item.", True),
        ("Yes, promo codes can be used on a price-matched item.", False),
    ],
)
def test_an_answer_that_reverses_its_passage_is_withheld(
    embedder: HashEmbedder, answer: str, supported: bool
) -> None:
    result = AnswerCheck([PROMO], embedder).sentence(answer)
    assert result.supported is supported
    if not supported:
        assert result.reason == NEGATION_MISMATCH


def test_negation_is_found_in_english_and_chinese() -> None:
    assert is_negated("Promo codes cannot be used.") and is_negated("You don't need one.")
    assert is_negated("礼品卡不会过期。") and not is_negated("礼品卡可以在门店使用。")
    assert not is_negated("Notify me when it is back.")  # "no" only as a word


def test_passage_vectors_are_computed_ahead_within_the_time_given(embedder: HashEmbedder) -> None:
    vectors = PassageVectors(embedder)
    assert vectors.preload([RETURNS, SHIPPING, RETURNS], seconds=0) == 0
    assert vectors.preload([RETURNS, SHIPPING, RETURNS], seconds=60) == 2
    full = PassageVectors(embedder, max_passages=1)
    assert full.preload([RETURNS, SHIPPING], seconds=60) == 1


def test_the_extractive_answer_comes_from_the_passage_holding_the_fact(shop: Services) -> None:
    """Of the passages the model was given, the one whose sentence answers best is quoted,
    also when another entry scored higher in the search."""
    hits = shop.kb.search("How long do I have to return an item?", k=5)
    returns = next(h for h in hits if h.entry_id == "returns")
    other = next(h for h in hits if h.entry_id != "returns")
    text = shop.dialogue._extract("How long do I have to return an item?", [other, returns])
    assert text == "Items can be returned within 30 days of delivery."


INSTALMENTS = "Orders between $100 and $2,000 can be split into 4 interest-free payments."


@pytest.mark.parametrize(
    ("passage", "question", "answer", "supported"),
    [
        # The customer's $400 lies inside the passage's range: restating it states no new fact.
        (
            INSTALMENTS,
            "can I split a $400 order?",
            "Yes, a $400 order can be split into 4 interest-free payments.",
            True,
        ),
        # Outside every range: "$20" would be an invented fact about gift cards.
        (GIFT_CARDS, "can I get a $20 gift card?", "Yes, you can get a $20 gift card.", False),
        # Inside the range but not the customer's number: the model made it up.
        (
            INSTALMENTS,
            "can I split my order?",
            "Yes, a $400 order can be split into 4 interest-free payments.",
            False,
        ),
    ],
)
def test_a_number_of_the_customers_inside_a_passage_range_may_be_restated(
    embedder: HashEmbedder, passage: str, question: str, answer: str, supported: bool
) -> None:
    result = AnswerCheck([passage], embedder, question=question).sentence(answer)
    assert result.supported is supported, result
    if not supported:
        assert result.reason == UNSUPPORTED_NUMBER
        assert result.unsupported_numbers in (["400"], ["20"])


def test_warm_up_computes_every_passages_sentence_vectors_and_reads_the_fixed_prompt(
    shop: Services, generator: ScriptedGenerator
) -> None:
    passages = {m.answer for m in shop.kb.snapshot().meta.values()}
    shop.dialogue.warm_up()
    assert len(shop.dialogue._passage_vectors) == len(passages) > 0
    # The model has read the system prompt and worked examples once, for its prompt cache.
    [prompt] = generator.prompts
    assert prompt[:-1] == build_prompt("", [])[:-1]
