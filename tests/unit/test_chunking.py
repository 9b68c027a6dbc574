"""split_text: paragraph packing, sentence splitting, overlap and hard bounds."""

from __future__ import annotations

import itertools

import pytest

from knowledge_base.chunking import MAX_CHARS, OVERLAP_CHARS, split_text


def sentence(n: int, words: int = 12) -> str:
    return " ".join(f"s{n}w{i}" for i in range(words)) + "."


def shared_prefix(prev: str, nxt: str) -> int:
    """Length of the longest word-aligned prefix of `nxt` that ends `prev`."""
    words = nxt.split(" ")
    best = 0
    for i in range(1, len(words) + 1):
        candidate = " ".join(words[:i])
        if prev.endswith(candidate):
            best = len(candidate)
    return best


def test_empty_and_blank_text_give_no_chunks() -> None:
    assert split_text("") == []
    assert split_text("  \n\n \t\n") == []


def test_short_text_is_one_chunk_with_whitespace_normalised() -> None:
    assert split_text("  Hello   there.\nHow are\tyou?  ") == ["Hello there. How are you?"]


def test_short_paragraphs_are_packed_together_up_to_the_limit() -> None:
    paras = ["a" * 40, "b" * 40, "c" * 40, "d" * 40]
    chunks = split_text("\n\n".join(paras), max_chars=100, overlap=10)
    # 40 + 2 + 40 = 82 fits; adding a third (124) does not.
    assert chunks == [f"{paras[0]}\n\n{paras[1]}", f"{paras[2]}\n\n{paras[3]}"]


def test_paragraph_that_fits_exactly_is_not_split() -> None:
    text = "x" * 50 + " " + "y" * 49  # 100 characters, one paragraph
    assert split_text(text, max_chars=100, overlap=10) == [text]


def test_a_long_paragraph_flushes_the_packed_chunk_before_it() -> None:
    short = "Short intro."
    long_para = " ".join(sentence(i) for i in range(30))
    chunks = split_text(f"{short}\n\n{long_para}\n\nShort outro.", max_chars=200, overlap=40)
    assert chunks[0] == short
    assert chunks[-1] == "Short outro."
    assert all(len(c) <= 200 for c in chunks)
    assert len(chunks) > 3


def test_long_paragraph_splits_at_sentence_boundaries_with_overlap() -> None:
    sentences = [sentence(i) for i in range(40)]
    chunks = split_text(" ".join(sentences), max_chars=300, overlap=80)
    assert len(chunks) > 3
    assert all(len(c) <= 300 for c in chunks)
    for prev, nxt in itertools.pairwise(chunks):
        # The next chunk starts with whole words carried over from the end of the previous one,
        # no more than `overlap` characters of them.
        carried = shared_prefix(prev, nxt)
        assert 0 < carried <= 80
    # Every sentence survives somewhere, whole.
    for s in sentences:
        assert any(s in c for c in chunks), s


@pytest.mark.parametrize("max_chars,overlap", [(900, 150), (300, 100), (120, 60), (80, 0)])
def test_chunks_never_exceed_max_chars(max_chars: int, overlap: int) -> None:
    # Mixed sentence lengths, including sentences nearly as long as a chunk: a short tail
    # carried over from the previous chunk plus such a sentence must still fit.
    lengths = [3, 25, 4, 40, 2, 60, 7, 1, 33, 5, 70, 2, 2, 50]
    text = " ".join(sentence(i, words=min(w, max_chars // 7)) for i, w in enumerate(lengths * 3))
    chunks = split_text(text, max_chars=max_chars, overlap=overlap)
    assert chunks
    assert max(len(c) for c in chunks) <= max_chars


def test_default_limit_holds_when_a_near_max_sentence_follows_a_chunk() -> None:
    first = ("word " * 40).strip() + "."  # ~200 characters
    near_max = ("xxxxx " * 140).strip() + " end."  # ~844 characters
    chunks = split_text(f"{first} {first} {near_max}")
    assert max(len(c) for c in chunks) <= MAX_CHARS
    assert chunks[-1].endswith("end.")


def test_giant_sentence_without_spaces_is_cut_by_characters_with_overlap() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(2000))
    chunks = split_text(text, max_chars=900, overlap=150)
    assert chunks == [text[0:900], text[750:1650], text[1500:2000]]


def test_giant_word_inside_a_paragraph_keeps_all_text() -> None:
    giant = "z" * 500
    text = f"Before it. {giant} After it."
    chunks = split_text(text, max_chars=200, overlap=20)
    # Cuts every 180 characters (200 - 20 overlap) until the rest fits.
    assert chunks == ["Before it.", "z" * 200, "z" * 200, "z" * 140 + " After it."]


def test_zero_overlap_repeats_nothing() -> None:
    sentences = [sentence(i) for i in range(30)]
    chunks = split_text(" ".join(sentences), max_chars=200, overlap=0)
    words = [w for c in chunks for w in c.split()]
    assert words == " ".join(sentences).split()


def test_defaults() -> None:
    assert (MAX_CHARS, OVERLAP_CHARS) == (900, 150)


@pytest.mark.parametrize("max_chars,overlap", [(0, 0), (100, 100), (100, 150), (100, -1)])
def test_invalid_parameters_are_rejected(max_chars: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        split_text("some text", max_chars=max_chars, overlap=overlap)


# ---- Chinese ---------------------------------------------------------------------------------
def zh_sentence(n: int) -> str:
    ends = "。！？；"
    return f"第{n}条规定退货须在收货后三十天内申请，商品须保持原包装并附上购物凭证{ends[n % 4]}"


def test_a_long_chinese_paragraph_splits_at_sentence_ends_with_overlap() -> None:
    sentences = [zh_sentence(i) for i in range(40)]
    text = "".join(sentences)  # no spaces anywhere
    chunks = split_text(text, max_chars=200, overlap=60)
    assert len(chunks) > 3
    assert all(len(c) <= 200 for c in chunks)
    # Every chunk ends where a sentence does, and every sentence is whole in some chunk.
    assert all(c[-1] in "。！？；" for c in chunks)
    for s in sentences:
        assert any(s in c for c in chunks), s
    for prev, nxt in itertools.pairwise(chunks):
        # The next chunk starts with text from the end of the previous one, at a clause.
        carried = max(k for k in range(len(nxt) + 1) if prev.endswith(nxt[:k]))
        assert 0 < carried <= 60
        assert prev[-carried - 1] in "，。！？；"
    # Nothing lost and nothing put in: the chunks without their overlaps are the text.
    rebuilt = chunks[0]
    for prev, nxt in itertools.pairwise(chunks):
        carried = max(k for k in range(len(nxt) + 1) if prev.endswith(nxt[:k]))
        rebuilt += nxt[carried:]
    assert rebuilt == text


def test_chinese_sentences_keep_closing_quotes_and_spaces_between_them() -> None:
    text = "他说：“请先联系客服。”然后再退货。 English follows. 最后一句！"
    assert split_text(text, max_chars=20, overlap=0) == [
        "他说：“请先联系客服。”然后再退货。",
        "English follows.",
        "最后一句！",
    ]


def test_a_chinese_overlap_with_no_clause_break_in_it_starts_at_a_character() -> None:
    first = "甲" * 30 + "。"
    chunks = split_text(first + "乙" * 30 + "。", max_chars=40, overlap=5)
    assert chunks == [first, "甲甲甲甲。" + "乙" * 30 + "。"]
