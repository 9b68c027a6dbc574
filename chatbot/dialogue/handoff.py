"""Hand-off to a person: when to do it. Pure logic, no I/O. What the customer is told is in
chatbot.dialogue.handoff_texts and how their contact details are read in
chatbot.dialogue.contact_details; both are importable from here, the hand-off's one front.

Everything here is regex and word-list based on purpose: it must be fast, predictable and
explainable to support staff ("the bot handed off because the customer swore"). The patterns
target the *form* of an angry message (an insult aimed at us, a threat, shouting) rather than
single negative words, because ordinary support questions are full of words like "cancel",
"complaint", "damaged" or "scam" that are not anger at all.

Chinese messages are read by their own patterns (below the English ones) on normalised text
(`knowledge_base.language.normalise`: full-width forms folded, traditional characters
simplified, so "轉人工" is "转人工"). They follow the same rules: the person must be what is
asked for, an insult needs a target, and a threat is a statement, not a question.
"""

from __future__ import annotations

import re
from typing import Final

from chatbot.core.vocabulary import Reason
from chatbot.dialogue.contact_details import (
    Contact,
    extract_contact,
    find_contact,
    replaces_contact,
)
from chatbot.dialogue.handoff_texts import (
    ASK_FOR_CONTACT,
    CONTACT_SAVED_TEXT,
    HANDOFF_CONTACT_TEXT,
    HANDOFF_TEXT,
    contact_saved_text,
    handoff_text,
)
from chatbot.dialogue.text_rules import any_case, chinese_text

__all__ = [
    "ANGRY",
    "ASK_FOR_CONTACT",
    "CONTACT_SAVED_TEXT",
    "HANDOFF_CONTACT_TEXT",
    "HANDOFF_TEXT",
    "REPEATED_DECLINES",
    "REQUESTED",
    "Contact",
    "contact_saved_text",
    "extract_contact",
    "find_contact",
    "handoff_text",
    "is_angry",
    "replaces_contact",
    "wants_human",
]

# Reason codes, stored with the bot's message (`reason`) and shown in review.
REQUESTED: Final = Reason.REQUESTED
REPEATED_DECLINES: Final = Reason.REPEATED_DECLINES
ANGRY: Final = Reason.ANGRY

# --------------------------------------------------------------------------------------------
# Explicit requests for a person
# --------------------------------------------------------------------------------------------

# Explicit requests for a person: "talk to a human", "connect me to an agent", "I want a real
# person", or just "agent please". The human word must be the object of the request: "I need help
# since someone stole my card" or "Do I need to notify someone ...?" are questions, not requests,
# and "transfer $20 to another person" is a banking task.
_HUMAN = (
    r"(humans?|persons?|people|agents?|representatives?|reps?|operators?|somebody|someone|"
    r"staff|manager|supervisor)"
)
_WHO = (
    r"(?:(?:a|an|the|some|your|another|one\s+of\s+your)\s+)?"
    rf"(?:(?:real|live|actual|human)\s+)?{_HUMAN}"
)
_TEAM = r"(?:(?:the|your)\s+)?(?:customer\s+)?(?:service|support|care)(?:\s+team)?"
_HANDOFF_PATTERNS = any_case(
    rf"\b(talk|speak|chat)\s+(to|with)\s+({_WHO}|{_TEAM})\b",
    rf"\b(connect|transfer|put|pass)\s+(me|us|this|this\s+chat)\s+(through\s+|over\s+)?"
    rf"(to|with)\s+({_WHO}|{_TEAM})\b",
    rf"\b((want|need|get)\s+(me\s+)?|give\s+me\s+){_WHO}\b",
    rf"^\W*(a\s+)?(live\s+|real\s+)?{_HUMAN}\W*(please)?\W*$",
    r"\b(customer service|support team|live chat|call me)\b.{0,20}\b(please|now)\b",
)
# The bare request as the message's first clause, before what the customer adds: "agent
# please, my email is bob@example.org", "human! I was charged twice". Without "please" (or
# "!") what follows must not be a question: "Agent, how do I reset my password?" is a
# question put to the bot.
_LEADING_REQUEST = re.compile(
    rf"^\W*(a\s+)?(live\s+|real\s+)?{_HUMAN}\s*(?P<please>\b(please|pls|plz|now)\b)?\s*"
    r"(?P<end>[,;:!]|[.](?!\w)|\s[-\u2013\u2014])",
    re.I,
)
# Chinese requests ("转人工", which the Chinese decline tells customers to say, "我要人工客服",
# "找真人") are matched by _ZH_HANDOFF_PATTERNS below.


def _leading_request(text: str) -> bool:
    m = _LEADING_REQUEST.search(text)
    if m is None:
        return False
    rest = text[m.end() :].strip()
    return bool(m.group("please")) or "!" in m.group("end") or not rest.endswith("?")


def wants_human(text: str) -> bool:
    """True when the customer asks for a person ("talk to a human", "agent please", "agent
    please, my email is ...", "转人工", "我想和真人聊")."""
    if any(p.search(text) for p in _HANDOFF_PATTERNS) or _leading_request(text):
        return True
    chinese = chinese_text(text)
    return chinese is not None and _wants_human_zh(chinese)


# --------------------------------------------------------------------------------------------
# Anger and frustration
# --------------------------------------------------------------------------------------------

# Swear words are anger on their own in a support chat; matched as whole words so "scrap",
# "Scunthorpe" or "shitake"-style substrings never count.
_PROFANITY = re.compile(
    r"\b(f+u+c+k\w*|shit\w*|bullshit|crap|crappy|wtf|ffs|stfu|omfg|goddamn\w*|damn\s+it|"
    r"damn\s+(you|this|bot|thing)|bloody\s+(hell|useless|joke|ridiculous|bot|service|thing)|"
    r"f\*+c?k\w*|fck\w*|piss(ed)?\s+off|pissed|screw\s+(you|this|your)|bastards?|arse|"
    r"arseholes?|assholes?|ass\s+holes?|dickheads?|what\s+the\s+(hell|heck)|"
    r"for\s+(god|christ|heaven)'?s\s+sake)\b",
    re.I,
)

# Insults need a target (the bot, us, "this"): "useless" or "stupid" alone also occur in plain
# questions ("I made a stupid mistake in my address, can I change it?").
_BAD = (
    r"(useless|stupid|dumb|pathetic|incompetent|worthless|hopeless|rubbish|garbage|trash|"
    r"terrible|awful|horrible|horrendous|atrocious|clueless|brainless|idiotic)"
)
_US = (
    r"(bot|chat\s*bot|robot|machine|assistant|ai|computer|service|customer\s+service|support|"
    r"company|business|bank|shop|store|app|website|site|system|people|staff|team)"
)
_INSULT_PATTERNS = any_case(
    # "useless bot", "terrible customer service", "pathetic company"
    rf"\b{_BAD}\s+(\w+\s+)?{_US}\b",
    # "you are stupid", "you're useless", "this bot is pathetic", "your service is a joke"
    r"\b(you|you\s+guys|u|this|this\s+\w+|your\s+\w+(\s+\w+)?)\s*"
    r"(are|'re|r|is|'s)\s+"
    r"(so\s+|completely\s+|totally\s+|absolutely\s+|really\s+|utterly\s+|just\s+|such\s+)*"
    rf"({_BAD}|(a\s+|an\s+)?(joke|idiots?|morons?|clowns|scammers|thieves|crooks|"
    r"frauds|rip-?off|disgrace|nightmare))\b",
    # Name-calling on its own, plural so it is aimed at us ("you idiots"); "I'm such an idiot,
    # I typed the wrong address" and "thieves stole my card" are not anger at us.
    r"\b(idiots|morons|imbeciles)\b",
    r"\b(this|that|it|you|your\s+\w+|service|support|app|bot)\s+(really\s+)?sucks?\b",
    r"\b(what\s+a|such\s+a)\s+(joke|rip-?off|scam|disgrace|shambles|farce)\b",
)

# Strong complaints: words that only appear when a customer is upset with us. Milder ones
# ("not happy", "disappointed", "annoying") are left out: they come with ordinary problems that
# the knowledge base can answer ("I'm not happy with the size, can I exchange it?").
_COMPLAINT_PATTERNS = any_case(
    r"\b(ridiculous|unacceptable|outrageous|disgraceful|disgusting|appalling|shameful|"
    r"absurd|laughable|infuriating|furious|fuming|livid|enraged|angry|frustrated|"
    r"frustrating|shambles|farce)\b",
    # "worst service ever", "worst company I've ever dealt with" (but not "in the worst case")
    r"\bworst\b.{0,40}\bever\b|\bworst\s+(\w+\s+)?" + _US + r"\b",
    r"\b(fed\s+up|sick\s+(and\s+tired\s+)?of|had\s+enough|enough\s+is\s+enough)\b",
    # Long waits, in the customer's words: "I've been waiting for weeks", "waited 3 months"
    r"\b(waiting|waited)\s+(for\s+)?(over\s+|more\s+than\s+|almost\s+|nearly\s+)?"
    r"(weeks|months|ages|forever|an\s+eternity|a\s+month|(\d+|two|three|four|five|six)\s+"
    r"(weeks|months))\b",
    # Being ignored or repeating oneself
    r"\b(no\s*one|nobody|no\s+body)\s+(ever\s+)?(helps|helped|answers|answered|replies|"
    r"replied|responds|responded|cares|bothers|bothered|gets\s+back|got\s+back|calls?\s+back)"
    r"\b|\bhow\s+many\s+(more\s+)?times\s+(do|have|must|should)\s+i\b|"
    r"\b(third|3rd|fourth|4th|fifth|5th|tenth|hundredth)\s+time\b|"
    r"\bnever\s+(again|shop(ping)?\s+here|order(ing)?\s+from\s+you)\b",
)

# Threats to leave, complain formally or go legal. Cancel threats only count as statements:
# "I will cancel my subscription next month, will I be charged?" is a question.
_I_WILL = (
    r"(i'?ll|i\s+will|i\s+am\s+going\s+to|i'?m\s+going\s+to|"
    r"i'?m\s+gonna)"
)
_LEAVE = (
    r"(cancel|close|terminate|end|quit)\s+(my\s+|the\s+|this\s+)?"
    r"(account|membership|subscription|contract|plan|everything)s?"
)
_ELSEWHERE = (
    r"(another|a\s+different|a\s+competitor|a\s+proper|a\s+real|your\s+competitors?)\s+"
    r"(bank|provider|company|supplier|retailer|competitor)"
)
_THREAT_PATTERNS = any_case(
    # Conditional: "fix this or I'll cancel", "otherwise I will close my account".
    rf"\b(or|otherwise|else|or\s+else)\s*,?\s+{_I_WILL}\s+(cancel|close|leave)\b",
    # A flat statement that ends the sentence: "I'll cancel my account!", "I'm going to
    # cancel." ("I will close my account next month" is a plan, and "I'll cancel my order"
    # is an ordinary task.)
    rf"\b{_I_WILL}\s+(just\s+)?({_LEAVE}|cancel|leave)\s*(then|now|right\s+now|"
    r"today|immediately)?\s*[.!]*\s*$",
    # Leaving for a competitor: "I'm switching to another bank", "I'll go to a different shop".
    rf"\b(switch|switching|move|moving|go|going)\s+(over\s+)?to\s+{_ELSEWHERE}\b",
    r"\b(take|taking)\s+my\s+(business|money|custom)\s+(elsewhere|somewhere\s+else)\b",
    r"\b(i\s+want\s+to|i'?d\s+like\s+to|i\s+would\s+like\s+to|i\s+will|i'?ll|"
    r"i'?m\s+going\s+to|i\s+am\s+going\s+to|i'?m\s+gonna)\s+"
    r"(complain|make\s+a\s+(formal\s+)?complaint|file\s+a\s+(formal\s+)?complaint|"
    r"lodge\s+a\s+(formal\s+)?complaint|raise\s+a\s+(formal\s+)?complaint|"
    r"report\s+you|sue|take\s+you\s+to\s+court|take\s+legal\s+action|"
    r"leave\s+a\s+(bad|terrible|negative|1-star|one-star)\s+review)\b",
    r"\b(sue\s+you|see\s+you\s+in\s+court|legal\s+action|my\s+(lawyer|solicitor|attorney)\s+"
    r"will|(call|calling|contact|contacting|get|getting|involve|hear\s+from)\s+my\s+"
    r"(lawyer|solicitor|attorney)|"
    r"report\s+you\s+to|ombudsman|trading\s+standards)\b",
)

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_GRATITUDE = re.compile(
    r"\b(thanks?|thank\s+you|thx|great|awesome|amazing|brilliant|perfect|excellent|wonderful|"
    r"fantastic|love|happy)\b",
    re.I,
)
_WORD = re.compile(r"[A-Za-z]+(?:['][A-Za-z]+)?")


def _is_shouting(text: str, chinese: str | None = None) -> bool:
    """Mostly upper-case over at least three words, or a run of exclamation marks.

    Acronyms ("Is my ATM PIN the same as my CVV?") stay well below the ratio, and single
    words ("HELP", "OK") are too short to tell. `chinese` is the normalised text of a message
    with Chinese in it (full-width "！！！" folded to "!!!").
    """
    if _GRATITUDE.search(text) or (chinese is not None and _ZH_GRATITUDE.search(chinese)):
        return False  # "THANK YOU SO MUCH!!!" and "谢谢！！！" are joy, not anger
    if "!!!" in text or (chinese is not None and "!!!" in chinese):
        return True
    words = _WORD.findall(text)
    letters = [c for w in words for c in w]
    if len(words) < 3 or len(letters) < 8:
        return False
    upper = sum(c.isupper() for c in letters)
    return upper / len(letters) >= 0.8


def _is_threat(text: str) -> bool:
    # A threat is a statement; the same words in a question are a customer asking about
    # consequences ("If I cancel my account, will I lose my points?").
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence or sentence.endswith("?"):
            continue
        if any(p.search(sentence) for p in _THREAT_PATTERNS):
            return True
    return False


def is_angry(text: str) -> bool:
    """True for an angry or frustrated customer: swearing or insults aimed at us, strong
    complaints, shouting, or threats to leave, complain formally or sue (in English or
    Chinese: "我要投诉", "垃圾服务", "气死我了")."""
    text = text.replace("\u2019", "'")  # typographic apostrophes (U+2019) count as plain ones
    chinese = chinese_text(text)
    if _PROFANITY.search(text) or _is_shouting(text, chinese):
        return True
    if chinese is not None and _is_angry_zh(chinese):
        return True
    if any(p.search(text) for p in _INSULT_PATTERNS):
        return True
    if any(p.search(text) for p in _COMPLAINT_PATTERNS):
        return True
    return _is_threat(text)


# --------------------------------------------------------------------------------------------
# Chinese
# --------------------------------------------------------------------------------------------

# The person asked for. Atomic, so "人工客服电话" cannot be read as "人工" + "客服电话"
# to escape the look-ahead: what follows must not make it something other than a person
# ("人工智能", "人工费" labour cost, "人工审核" manual review) or an attribute of the service
# ("客服电话", "人工客服的工作时间"), which are questions the knowledge base answers.
_ZH_HUMAN = (
    r"(?>人工客服|人工服务|人工坐席|人工座席|人工|真人客服|真人|活人|客服人员|客服专员|客服代表|"
    r"工作人员|服务人员|客服|经理|主管|负责人)"
    r"(?!智能|智慧|合成|费|成本|草|湖|降雨|呼吸|审核|处理|操作|检查|检测|复核|核实|录入|干预|"
    r"的?(?:电话|热线|号码|邮箱|地址|微信|qq|时间|工作时间|上班|下班|几点|营业|在哪))"
)
_ZH_HANDOFF_PATTERNS = [
    # Transfer: 转人工, 请帮我转接人工服务, 转到人工客服, 接人工, 换真人
    re.compile(rf"(?:转接?|接|切换?|换)(?:到|给|成|为)?(?:一?个|一下|下)?{_ZH_HUMAN}"),
    # Asking for one: 我要人工, 我要找人工, 找客服, 需要真人, 联系人工客服, 叫你们经理
    re.compile(rf"(?:要|找|叫|需要|呼叫|接通|联系|求)(?:一?个|一下|下|你们的?)?{_ZH_HUMAN}"),
    # Talking to one: 我想和真人聊, 跟客服说, 与人工客服沟通
    re.compile(rf"(?:和|跟|与|同)(?:一?个|你们的?)?{_ZH_HUMAN}(?:聊|说|谈|沟通|通话|对话|交流|讲)"),
    # The whole message: 人工, 人工客服！, 我要人工, 请给我人工客服, 人工客服在吗
    re.compile(
        rf"^\W*(?:我要|我想要|要|请|请给我|给我|麻烦)?{_ZH_HUMAN}\W*"
        r"(?:在吗|在不在|在么|吧|呢|啊|呀|谢谢|please)?\W*$"
    ),
    # Whether there is one, as the whole message: 有没有人工, 有人工客服吗？ ("周末有人工客服
    # 吗？" asks about opening hours, as "Is customer service open on weekends?" does.)
    re.compile(
        rf"^\W*(?:请问|你好|您好)?\W*(?:你们|这里|这边)?(?:有没有|有无|有)(?:一?个)?{_ZH_HUMAN}"
        r"(?:可以|能)?(?:聊|说|沟通|帮我)?\W*(?:啊|呀|呢|吗|么)?\W*$"
    ),
]
# "不用转人工了", "我不需要人工客服", "别转客服": a refusal, not a request. "不能转人工吗？"
# asks for one.
_ZH_REFUSAL = re.compile(r"(?:不用|不要|不需要|不想|不必|别|无需|无须|没必要|用不着)\w{0,2}$|不$")


def _wants_human_zh(text: str) -> bool:
    for pattern in _ZH_HANDOFF_PATTERNS:
        for m in pattern.finditer(text):
            clause = re.split(r"\W", text[max(0, m.start() - 6) : m.start()])[-1]
            if not _ZH_REFUSAL.search(clause):
                return True
    return False


# Profanity: anger on its own. "滚" only as the whole message or "给我滚" ("滚筒洗衣机" is a
# washing machine); "sb" only as a word of its own.
_ZH_PROFANITY = re.compile(
    r"他妈|妈的|tmd|特么|草泥马|卧槽|我操|操你|我靠|傻逼|傻b|傻x|煞笔|脑残|去死|滚蛋|给我滚|"
    r"^\W*滚\W*$|(?<![a-z])sb(?![a-z])"
)
# What an insult is aimed at: us and our service, as the English _US (a product or a
# delivery that is "很差" is a problem the knowledge base can help with).
_ZH_US = r"(?:服务|客服|售后|公司|平台|商家|店家|店铺|网店|网站|软件|app|应用|系统|机器人|你们)"
_ZH_INSULT_PATTERNS = [
    # 垃圾服务, 垃圾公司, 服务太垃圾了, 什么垃圾 (not 垃圾袋, 垃圾分类, 垃圾短信)
    re.compile(
        rf"垃圾的?{_ZH_US}|{_ZH_US}\w{{0,4}}(?:太|真|好|超|极|很|非常|特别|就是|简直)"
        r"(?:差|烂|坑|垃圾|恶心|恶劣)"
    ),
    re.compile(
        r"(?:什么|真|太|好|超|简直|就是|纯)垃圾(?!袋|桶|分类|邮件|短信|箱|站|车|回收|处理|可以|"
        r"属于|是|怎么|能)|垃圾!|^\W*垃圾\W*$"
    ),
    # 骗子 said to us: 骗子！, 你们是骗子, 一群骗子, 骗子公司 (not "我遇到了骗子，怎么办？",
    # a fraud report)
    re.compile(
        r"(?:你们|你)(?:是|都是|就是|真是|简直是|是不是|这些|这帮|这群|这伙)?(?:一群|一帮|一伙|大)?骗子|"
        r"(?:都是|就是|简直是|一群|一帮|一伙|这群|这帮|这伙)骗子|"
        r"骗子(?:公司|平台|商家|网站|店|客服|机器人|!)|^\W*(?:大)?骗子\W*$|"
        r"(?:你们|你)(?:这是|是|就是|简直是|纯属|这不是)?(?:诈骗|欺诈|骗钱|骗人|抢钱)"
    ),
    # 什么破服务, 破app (not 破损 damaged)
    re.compile(rf"破{_ZH_US}|什么破(?!损|了|裂|洞|掉)"),
    # Name-calling aimed at us: 你们是白痴, 一群废物, 你们有病吧, 你是不是傻
    re.compile(
        r"(?:你们|你|一群|一帮|这群|这帮|都是)(?:是|真是|就是|简直是|这些)?(?:白痴|智障|废物|蠢货|"
        r"蠢猪|笨蛋|饭桶|神经病|强盗|土匪|吸血鬼)|(?:你们|你)(?:是不是|真是|就是)?有病|(?:你们|你)是不是(?:傻|有病)"
    ),
]
_ZH_COMPLAINT = re.compile(
    r"气死|气炸|烦死了|火大|恼火|生气|愤怒|受够了|忍无可忍|太过分|过分了|岂有此理|离谱|无语|"
    r"失望透顶|差劲|坑人|坑爹|坑钱|黑店|奸商|黑心|不要脸|无耻|欺人太甚|"
    r"最差的?(?:服务|客服|公司|平台|体验|商家|店)|"
    # Long waits: 等了两个星期, 等了一个多月, 等了好久
    r"等了(?:整整|快|将近|差不多|足足|好)?(?:\d+|一|两|三|四|五|六|几|好几|半)(?:个多|个|多)?"
    r"(?:星期|礼拜|周|月)|等了(?:好久|很久|半天|这么久|那么久)|"
    # Being ignored or repeating oneself, never again
    r"(?:没人|没有人|都没人)(?:理|管|回|回复|处理|接|联系|解决)|"
    r"说了(?:多少|无数|好几|几|\d+|三|四|五)(?:遍|次)|"
    r"第(?:三|四|五|六|十|\d+)次(?:问|联系|打|找|催|反映)|再也不(?:买|来|用|在)|"
    # "What is wrong with you?": 你们到底怎么回事, 你们怎么回事！, 干什么吃的, 在搞什么
    r"你们(?:到底|究竟)(?:是)?(?:怎么回事|在干什么|在搞什么)|你们(?:是)?怎么回事(?:啊|呀)?!|"
    r"干什么吃的|搞什么(?:鬼|名堂|飞机)|在搞什么(?!\w)"
)
# Threats to complain, go to the consumer association (消协, the 12315 hotline) or sue.
# "投诉流程是什么？" and "怎么投诉？" ask how to complain, as "What's your complaint
# process?" does: only a statement that the customer will complain counts.
_ZH_THREAT = re.compile(
    r"我(?:要|想|会|将|得|就|必须|一定要?|一定会|肯定|马上|现在就|立刻|立即)?(?:要|会)?"
    r"(?:去|到\w{0,6}|向\w{0,6})?(?:投诉|举报|起诉|告你们|告你|曝光|报警|找律师|请律师|差评|"
    r"给差评|打差评|给你们差评)|"
    r"(?:投诉|举报|起诉|告|曝光)你们|"
    # Conditional: 不然我就投诉, 否则我取消订阅
    r"(?:不然|否则|要不然|要不)\W?我?(?:就|会|要)?去?(?:投诉|起诉|举报|取消|注销|退订|销户|报警|"
    r"差评|曝光)|"
    r"消协|消费者协会|12315|工商局|市场监管局|律师函|法庭见|法院见|走法律程序|法律途径"
)
_ZH_SENTENCE_END = re.compile(r"(?<=[.!?;。])|\n+")
# A Chinese question ends with a question mark or a question particle (吗, 呢, 么).
_ZH_QUESTION = re.compile(r"(?:\?|吗|呢|么)\W*$")
_ZH_GRATITUDE = re.compile(
    r"谢谢|感谢|多谢|太好了|太棒了|好棒|开心|喜欢|爱你们|给力|满意|完美|厉害"
)


def _is_angry_zh(text: str) -> bool:
    if _ZH_PROFANITY.search(text) or _ZH_COMPLAINT.search(text):
        return True
    if any(p.search(text) for p in _ZH_INSULT_PATTERNS):
        return True
    for sentence in _ZH_SENTENCE_END.split(text):
        sentence = sentence.strip()
        if sentence and not _ZH_QUESTION.search(sentence) and _ZH_THREAT.search(sentence):
            return True
    return False
