"""The OpenAI-compatible `/v1/chat/completions`, driven by the official `openai` client."""

from __future__ import annotations

import pytest

from chatbot.container import Services
from chatbot.generation.scripted import ScriptedGenerator
from tests.unit.api_server import FAQ_CSV, client, new_key, parse_sse, served

openai = pytest.importorskip("openai")


@pytest.fixture
def answering(services: Services) -> Services:
    assert services.kb.ingest_bytes("faq.csv", FAQ_CSV.encode()).ok
    services.dialogue.approved_answers = False
    services.dialogue.generator = ScriptedGenerator(["9 to 5 on weekdays."])
    return services


def test_the_openai_client_gets_an_answer_blocking_and_streamed(answering: Services) -> None:
    key = new_key(answering, "customer")
    with served(answering) as url:
        bot = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        question = [{"role": "user", "content": "When are you open?"}]
        done = bot.chat.completions.create(model="support-bot", messages=question)
        assert done.object == "chat.completion"
        assert done.choices[0].message.content == "9 to 5 on weekdays."
        assert done.choices[0].finish_reason == "stop"
        pieces = [
            chunk.choices[0].delta.content or ""
            for chunk in bot.chat.completions.create(
                model="support-bot", messages=question, stream=True
            )
            if chunk.choices
        ]
        assert "".join(pieces) == "9 to 5 on weekdays."
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                base_url=f"{url}/v1", api_key="cb_pub_x", max_retries=0
            ).chat.completions.create(model="support-bot", messages=question)


def test_a_conversation_token_continues_the_conversation(answering: Services) -> None:
    key = new_key(answering, "customer")
    with served(answering) as url, client(url, key) as c:
        ask = {"messages": [{"role": "user", "content": "When are you open?"}]}
        first = c.post("/v1/chat/completions", json=ask)
        assert first.status_code == 200, first.text
        token = first.headers["x-conversation-token"]
        assert first.json()["chatbot"]["conversation_token"] == token
        r = c.post(
            "/v1/chat/completions",
            json={**ask, "stream": True},
            headers={"X-Conversation-Token": token},
        )
        events = parse_sse(r.text)
        assert events[-1] == ("message", "[DONE]")
        assert r.headers["x-conversation-token"] == token
        cid = first.json()["chatbot"]["conversation_id"]
        t = answering.conversations.transcript(cid)
        assert t is not None and len(t.messages) == 4
        forged = c.post("/v1/chat/completions", json={**ask, "user": f"{cid}.forged"})
        assert forged.status_code == 403
        assert c.post("/v1/chat/completions", json={"messages": []}).status_code == 422
