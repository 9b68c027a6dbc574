"""Chinese hand-off requests and anger, read by the same functions as English."""

from __future__ import annotations

import pytest

from chatbot.dialogue.handoff import extract_contact, is_angry, wants_human


@pytest.mark.parametrize(
    "text",
    [
        "转人工",
        "轉人工",  # traditional characters
        "转 人工",
        "人工客服",
        "人工客服！",
        "人工",
        "我要找人工",
        "我要人工客服",
        "找客服",
        "请帮我转接人工服务",
        "請幫我轉接人工服務",
        "我想和真人聊",
        "我想跟客服说一下",
        "有没有人工",
        "有人工客服吗？",
        "请问有没有真人客服",
        "人工客服在吗",
        "怎么转人工？",  # how to reach one, in a chat, is asking for one
        "不能转人工吗？",
        "接人工",
        "叫你们经理来",
        "机器人没用，转人工客服",
    ],
)
def test_chinese_requests_for_a_person(text: str) -> None:
    assert wants_human(text)


@pytest.mark.parametrize(
    "text",
    [
        # A person, or the service, is what the question is about, not what is asked for
        "人工智能是什么",
        "你们是人工智能吗？",
        "客服电话是多少？",
        "在哪里找客服电话？",
        "人工客服电话是多少",
        "人工客服的工作时间是什么？",
        "客服几点上班？",
        "周末有人工客服吗？",  # opening hours, as "Is customer service open on weekends?"
        "退款需要人工审核吗？",  # manual review
        "人工费怎么算？",  # labour cost
        "这个价格包含人工吗？",
        # Refusals
        "不用转人工了，谢谢",
        "我不需要人工客服",
        "别转客服",
        # Ordinary questions
        "怎么退货？",
        "退货要多久？",
    ],
)
def test_chinese_questions_that_mention_a_person_are_not_requests(text: str) -> None:
    assert not wants_human(text)


@pytest.mark.parametrize(
    "text",
    [
        # Threats to complain, as "I want to complain" (statements, not questions)
        "我要投诉",
        "我要投诉你们！",
        "我想投诉一下快递员",
        "我要投诉，你们的快递太慢了",
        "我要去12315投诉",
        "不然我就投诉",
        "否则我取消订阅",
        # Strong complaints
        "太差劲了",
        "气死我了",
        "氣死我了",
        "再也不买了",
        "等了两个星期还没到",
        "我等了一个多月",
        "说了三遍了",
        "坑人",
        "你们到底怎么回事",
        "你们怎么回事！！！",  # full-width exclamation marks
        "你们怎么回事!!!",
        # Insults aimed at us
        "垃圾服务",
        "垃圾服務",
        "垃圾！",
        "服务太差了",
        "你们客服态度太差了",
        "什么破服务",
        "骗子",
        "骗子！",
        "騙子公司",
        "你们是骗子",
        "你们这些骗子",
        "你们这是诈骗",
        "你们有病吧",
        "一群废物",
        # Profanity
        "傻逼",
        "他妈的怎么还没到",
    ],
)
def test_chinese_anger(text: str) -> None:
    assert is_angry(text)


@pytest.mark.parametrize(
    "text",
    [
        # Asking how to complain, as "What's your complaint process?"
        "投诉流程是什么？",
        "怎么投诉？",
        "如何投诉快递员？",
        "我要投诉的话怎么操作？",  # one sentence, a question
        "12315是什么？",
        # Ordinary tasks and problems
        "我想退货",
        "我要取消订单",
        "退货要多久？",
        "包裹破损了，能退吗？",
        "产品质量很差，能退吗？",  # a product problem, not anger at us
        "差价怎么退？",
        "最差的情况是什么？",  # "in the worst case"
        "我的订单怎么回事？",
        "信号不好怎么办",
        # Rubbish, scams and fraud as topics
        "垃圾分类怎么做？",
        "收到垃圾短信怎么办？",
        "我遇到了骗子，怎么办？",
        "你好我遇到骗子了",
        "这个是骗子吗？",
        "有人冒充你们的客服骗了我的钱，怎么办？",
        # Self-deprecation, joy, look-alike characters
        "我真是个白痴，地址填错了",
        "谢谢！！！",
        "太好了！！！",
        "滚筒洗衣机有货吗",
        "这个靠谱吗？",
        "人工智能是什么",
    ],
)
def test_chinese_ordinary_messages_are_not_anger(text: str) -> None:
    assert not is_angry(text)


def test_an_angry_request_for_a_person_is_a_request() -> None:
    # The dialogue hands off as "requested" when both hold; both must be seen.
    text = "气死我了，转人工！"
    assert is_angry(text) and wants_human(text)


# ---- contact details after a hand-off -------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("我的电话是13812345678", "13812345678"),
        ("我的電話是13812345678", "13812345678"),  # traditional characters
        ("手机：138-1234-5678，谢谢", "138-1234-5678"),
        ("13812345678", "13812345678"),
        ("好的，13812345678", "13812345678"),
        ("麻烦尽快处理，有问题可以打13812345678找我", "13812345678"),  # a mobile number's form
        ("请致电021-12345678联系我", "021-12345678"),
        ("邮箱：jane@example.com，谢谢", "jane@example.com"),
        ("我的邮箱是jane@example.com谢谢", "jane@example.com"),
        ("请发到jane.doe@example.com.cn", "jane.doe@example.com.cn"),
        # The order number first, then the phone number.
        ("订单号123456789012，电话13812345678", "13812345678"),
        ("我的电话13812345678，订单号123456789012", "13812345678"),
    ],
)
def test_chinese_contact_details_are_found(text: str, expected: str) -> None:
    assert extract_contact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "订单号123456789012",
        "订单号：13812345678",
        "我的订单123456789还没到",
        "运单编号 7712345678",
        "我买的东西一直没有收到，单号是123456789",
        "我买的那个东西123456789什么时候能到",  # a bare number in a question
        "你们的电话是多少？",
        "2024-05-01下的单",
    ],
)
def test_chinese_order_numbers_and_questions_are_not_contact_details(text: str) -> None:
    assert extract_contact(text) is None
