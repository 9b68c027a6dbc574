"""The Simplified Chinese sample knowledge base: the setting that picks it, the files that load,
and that it says what the English sample says (same entries, same numbers and contacts)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pydantic
import pytest

from chatbot.container import Services, build, load_sample_if_empty, sample_files
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import Settings
from knowledge_base.embedders import HashEmbedder
from knowledge_base.limits import Limits
from knowledge_base.loaders import load_document
from knowledge_base.records import ParsedDocument, PassageDraft
from tests.conftest import SAMPLE_DATA

ZH_DATA = SAMPLE_DATA / "zh"
EN_FILES = [SAMPLE_DATA / "shop_faq.csv", SAMPLE_DATA / "store_policies.md"]
ZH_FILES = [ZH_DATA / "shop_faq_zh.csv", ZH_DATA / "store_policies_zh.md"]

_HAN = re.compile(r"[\u4e00-\u9fff]")
# The facts a translation must not change: links, e-mail addresses, phone numbers, numbers.
_URL = re.compile(r"https?://[\w./-]*\w")
_EMAIL = re.compile(r"[a-z]+@[a-z]+\.[a-z]+")
_PHONE = re.compile(r"\d-\d{3}-\d{3}-\d{4}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def facts(text: str) -> set[str]:
    """Links, addresses, phone numbers and the other numbers (each number once: "8 am-8 pm"
    and "上午8点至晚上8点" state the same)."""
    found: set[str] = set()
    for pattern in (_URL, _EMAIL, _PHONE):
        found |= set(pattern.findall(text))
        text = pattern.sub(" ", text)
    return found | set(_NUMBER.findall(text))


# Names that stay as they are in the Chinese text: the shop's, its programme's, its partners'.
NAMES = (
    "Northwind",
    "Northwind Outfitters",
    "Trailhead Rewards",
    "Summit",
    "Klarna",
    "UPS",
    "Visa",
    "Mastercard",
    "American Express",
    "Discover",
    "PayPal",
    "Apple Pay",
    "410 Alder Street",
    "1225 Larimer Street",
    "88 Church Street",
)


def load(path: Path) -> ParsedDocument:
    return load_document(path.name, path.read_bytes())


def by_entry(doc: ParsedDocument) -> dict[str, list[PassageDraft]]:
    out: dict[str, list[PassageDraft]] = defaultdict(list)
    for p in doc.passages:
        out[p.entry_id].append(p)
    return dict(out)


@pytest.fixture
def sample_services(settings: Settings) -> Iterator[Callable[[str], Services]]:
    """Services whose empty KB would get the sample in the given language (one per test: they
    share the test's database)."""
    built: list[Services] = []

    def make(language: str) -> Services:
        chosen = settings.model_copy(update={"load_sample_kb": True, "sample_kb": language})
        svc = build(chosen, embedder=HashEmbedder(), generator=ScriptedGenerator())
        built.append(svc)
        return svc

    yield make
    for svc in built:
        svc.engine.dispose()


def faq_ids(paths: list[Path]) -> set[str]:
    return {p.entry_id for path in paths for p in load(path).passages if p.kind != "text"}


# ---- the setting ----------------------------------------------------------------------------


def test_the_sample_language_defaults_to_english_and_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().sample_kb == "en"
    monkeypatch.setenv("CHATBOT_SAMPLE_KB", "zh")
    assert Settings().sample_kb == "zh"
    monkeypatch.setenv("CHATBOT_SAMPLE_KB", "fr")
    with pytest.raises(pydantic.ValidationError, match="sample_kb"):
        Settings()


def test_each_choice_picks_only_its_own_files() -> None:
    assert sample_files("en") == EN_FILES
    assert sample_files("zh") == ZH_FILES
    assert sample_files("both") == EN_FILES + ZH_FILES
    # In "both" every document keeps its own name: no file replaces another.
    assert len({p.name for p in sample_files("both")}) == 4


# ---- what loads -----------------------------------------------------------------------------


def test_with_zh_the_sample_kb_is_the_chinese_one(
    sample_services: Callable[[str], Services],
) -> None:
    zh = sample_services("zh")
    results = load_sample_if_empty(zh)
    assert [(r.name, r.status) for r in results] == [
        ("shop_faq_zh.csv", "added"),
        ("store_policies_zh.md", "added"),
    ]
    assert sorted(d.name for d in zh.kb.documents()) == ["shop_faq_zh.csv", "store_policies_zh.md"]
    for name in ("shop_faq_zh.csv", "store_policies_zh.md"):
        passages = zh.kb.preview(name)
        assert passages
        for p in passages:
            assert _HAN.search(p.text), (name, p.text)
            assert _HAN.search(p.title), (name, p.title)
    assert load_sample_if_empty(zh) == []  # not loaded again into a KB that has content

    en_ids = faq_ids(EN_FILES)
    zh_ids = set(zh.kb.faq_entry_ids())
    assert zh_ids == faq_ids(ZH_FILES)
    assert len(zh_ids) == len(en_ids)
    assert {i for i in zh_ids if "#" not in i} == {f"zh-{i}" for i in en_ids if "#" not in i}
    entries = {d.name: d.entries for d in zh.kb.documents()}
    assert entries["shop_faq_zh.csv"] == len(by_entry(load(EN_FILES[0]))) == 30


def test_both_loads_the_two_languages_side_by_side(
    sample_services: Callable[[str], Services],
) -> None:
    both = sample_services("both")
    results = load_sample_if_empty(both)
    assert [r.status for r in results] == ["added"] * 4
    assert sorted(d.name for d in both.kb.documents()) == sorted(
        p.name for p in EN_FILES + ZH_FILES
    )
    assert set(both.kb.faq_entry_ids()) == faq_ids(EN_FILES) | faq_ids(ZH_FILES)


def test_the_chinese_sample_fits_the_default_limits_comfortably() -> None:
    limits = Limits()
    for path in ZH_FILES:
        doc = load_document(path.name, path.read_bytes(), limits)
        assert 0 < len(doc.passages) * 100 < limits.max_passages, path.name


# ---- the same facts as the English sample ---------------------------------------------------


def test_the_chinese_faq_has_every_english_entry_with_the_same_facts() -> None:
    en = by_entry(load(EN_FILES[0]))
    zh = by_entry(load(ZH_FILES[0]))
    assert list(zh) == [f"zh-{i}" for i in en]
    for entry_id, en_passages in en.items():
        zh_passages = zh[f"zh-{entry_id}"]
        en_questions = [p for p in en_passages if p.kind == "question"]
        zh_questions = [p for p in zh_passages if p.kind == "question"]
        # As many Chinese phrasings as English ones, each of them Chinese.
        assert len(zh_questions) >= len(en_questions), entry_id
        assert all(_HAN.search(p.text) for p in zh_questions), entry_id
        first_en, first_zh = en_passages[0], zh_passages[0]
        assert _HAN.search(first_zh.answer) and _HAN.search(first_zh.category or ""), entry_id
        assert first_zh.url == first_en.url, entry_id
        assert facts(first_zh.answer) == facts(first_en.answer), entry_id


def test_the_chinese_store_policies_have_the_same_sections_and_facts() -> None:
    en = load(EN_FILES[1]).passages
    zh = load(ZH_FILES[1]).passages
    assert [p.kind for p in zh] == [p.kind for p in en]
    for en_p, zh_p in zip(en, zh, strict=True):
        assert _HAN.search(zh_p.text), zh_p.text
        assert facts(zh_p.answer) == facts(en_p.answer), (en_p.title, zh_p.title)
    questions = [p.title for p in zh if p.kind == "question"]
    assert questions == [
        "你们提供终身保修吗？",
        "价格匹配可以和优惠码同时使用吗？",
        "礼品卡会过期吗？",
    ]
    sections = [p.title for p in zh if p.kind == "text"]
    assert sections[0] == "Northwind Outfitters 商店政策"
    assert "Northwind Outfitters 商店政策 > 门店地址与营业时间" in sections
    assert "store-policies-zh#礼品卡会过期吗" in {p.entry_id for p in zh}


def test_contacts_in_the_chinese_sample_stand_apart_from_the_chinese_text() -> None:
    # Links and e-mail addresses are read up to the next space or non-word character, and a
    # Chinese character counts as a word character: so each has a space or punctuation
    # (never a Chinese character) on both sides, and a link is followed by a space or line end.
    han = "\u4e00-\u9fff"
    for path in ZH_FILES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(f"[{han}][\\w.]*@|@[\\w.]*[{han}]", text), path.name
        for link in re.findall(r"https?://[^\s,]+", text):
            assert re.fullmatch(r"https://northwind\.example/[a-z/]*", link), (path.name, link)


def test_names_and_street_addresses_are_kept_as_they_are() -> None:
    for en_path, zh_path in zip(EN_FILES, ZH_FILES, strict=True):
        en, zh = en_path.read_text(encoding="utf-8"), zh_path.read_text(encoding="utf-8")
        kept = [name for name in NAMES if name in en]
        assert kept, en_path.name
        assert [name for name in kept if name not in zh] == [], zh_path.name


def test_the_chinese_background_questions_are_off_topic_for_the_shop() -> None:
    # Calibration data for declining Chinese questions: general questions that no shop's
    # support FAQ answers, so none may use the sample's own subjects.
    path = Path(__file__).parents[2] / "knowledge_base" / "data" / "background_questions_zh.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200
    assert len(set(lines)) == 200
    assert all(line == line.strip() and _HAN.search(line) for line in lines)
    shop_words = re.compile(
        "订单|下单|发货|配送|运费|快递|包裹|退货|退款|换货|尺码|付款|支付|信用卡|优惠|折扣|"
        "礼品卡|积分|会员|保修|门店|营业|客服|账户|登录|密码|邮件|邮箱"
    )
    assert [line for line in lines if shop_words.search(line)] == []
