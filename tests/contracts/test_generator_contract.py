"""The Generator contract (chatbot/generation/base.py), run against every backend.

What the protocol promises: `warm_up` loads the model and is a no-op once loaded; the answer
streams as text pieces; at most `max_new_tokens` tokens are written; past `deadline` the
stream raises `GenerationTimeout`; closing the stream stops generation; `count_tokens` and
`context_tokens` describe the prompt the way the model reads it. However a stream ends, the
model must stop working (no thread left running): a customer who leaves, or a turn out of
time, must not keep a core busy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chatbot.generation.base import ChatMessage, GenerationTimeout, Generator
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import TRANSFORMERS_GENERATOR
from tests.contracts.conftest import LlamaServer

N_CTX = 1024
# Long enough that no backend finishes it within the few tokens a test lets it write.
STORY = "Once upon a time a dragon learned to cook " * 40
LONG: list[ChatMessage] = [
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
# Generous for the slowest backend on a busy machine: only a hang fails it.
THREAD_END_S = 20.0


def _llamacpp(models_dir: Path) -> Generator:
    from chatbot.generation.llamacpp_backend import LlamaCppGenerator

    # The smallest packaged GGUF (SmolLM2-135M) through llama.cpp.
    return LlamaCppGenerator(TRANSFORMERS_GENERATOR, models_dir, context_tokens=N_CTX)


def _transformers(models_dir: Path) -> Generator:
    from chatbot.generation.transformers_backend import TransformersGenerator

    return TransformersGenerator(TRANSFORMERS_GENERATOR, models_dir)


def _openai(request: pytest.FixtureRequest) -> Generator:
    from chatbot.generation.openai_backend import OpenAIGenerator

    # The same model behind llama.cpp's OpenAI-compatible server (tests/contracts/conftest.py).
    server: LlamaServer = request.getfixturevalue("llama_server")
    return OpenAIGenerator(server.url, api_key=server.api_key, context_tokens=N_CTX)


def _local(build: Callable[[Path], Generator]) -> Callable[[pytest.FixtureRequest], Generator]:
    return lambda request: build(request.getfixturevalue("models_dir"))


IMPLEMENTATIONS: dict[str, Callable[[pytest.FixtureRequest], Generator]] = {
    "scripted": lambda _: ScriptedGenerator([STORY.strip()]),
    "llamacpp": _local(_llamacpp),
    "transformers": _local(_transformers),
    "openai": _openai,
}
REAL = {"llamacpp", "transformers", "openai"}


@pytest.fixture(
    scope="session",
    params=[
        pytest.param(name, marks=[pytest.mark.integration] if name in REAL else [], id=name)
        for name in IMPLEMENTATIONS
    ],
)
def generator(request: pytest.FixtureRequest) -> Generator:
    """One instance per backend for the whole run: each real model loads once (here, so
    that the threads a model starts when it loads are not taken for a stream's)."""
    built = IMPLEMENTATIONS[request.param](request)
    built.warm_up()
    return built


@pytest.fixture
def threads_before() -> set[threading.Thread]:
    return set(threading.enumerate())


def assert_no_thread_left(before: set[threading.Thread]) -> None:
    """Every thread a stream started has ended (the model stopped working)."""
    end = time.monotonic() + THREAD_END_S
    while time.monotonic() < end:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left:
            return
        time.sleep(0.02)
    pytest.fail(f"the model kept working after its stream ended: {left}")


def collect(pieces: Iterator[str]) -> list[str]:
    out = list(pieces)
    assert all(isinstance(p, str) for p in out), out
    return out


def test_it_has_a_name(generator: Generator) -> None:
    assert isinstance(generator.name, str) and generator.name


def test_warm_up_may_be_called_again(generator: Generator) -> None:
    generator.warm_up()
    generator.warm_up()  # already loaded: nothing to do, nothing breaks
    assert "".join(collect(generator.stream(QUESTION, 8))).strip()


def test_the_answer_streams_as_text_pieces(
    generator: Generator, threads_before: set[threading.Thread]
) -> None:
    pieces = collect(generator.stream(LONG, 16))
    assert len(pieces) > 1  # streamed, not one block at the end
    assert all(pieces)
    assert "".join(pieces).strip()
    assert_no_thread_left(threads_before)


@pytest.mark.parametrize("limit", [1, 5])
def test_no_more_than_max_new_tokens_are_written(generator: Generator, limit: int) -> None:
    # A piece is at least one token, so a stream of `limit` tokens has at most `limit` pieces.
    pieces = collect(generator.stream(LONG, limit))
    assert 0 < len(pieces) <= limit


def test_a_deadline_already_past_raises_a_timeout_and_stops_the_model(
    generator: Generator, threads_before: set[threading.Thread]
) -> None:
    pieces: list[str] = []
    with pytest.raises(GenerationTimeout):
        for piece in generator.stream(LONG, 200, deadline=time.monotonic() - 1):
            pieces.append(piece)
    assert pieces == []  # nothing is written after the deadline
    assert_no_thread_left(threads_before)
    assert "".join(collect(generator.stream(QUESTION, 8))).strip()  # and the next one works


def test_a_deadline_that_passes_mid_answer_cuts_it_short(
    generator: Generator, threads_before: set[threading.Thread], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = generator.stream(LONG, 200, deadline=time.monotonic() + 3600)
    assert isinstance(next(stream), str)
    # The deadline is read while streaming: a stream that outlives it must end with a
    # timeout. Waiting out an hour is not a test, so the clock is moved on instead (the
    # deadline is a `time.monotonic()` value, read through the module).
    later = time.monotonic() + 7200
    monkeypatch.setattr(time, "monotonic", lambda: later)
    with pytest.raises(GenerationTimeout):
        for _ in stream:
            pass
    monkeypatch.undo()
    assert_no_thread_left(threads_before)


def test_a_distant_deadline_changes_nothing(generator: Generator) -> None:
    untimed = "".join(collect(generator.stream(QUESTION, 12)))
    timed = "".join(collect(generator.stream(QUESTION, 12, deadline=time.monotonic() + 600)))
    assert timed == untimed


def test_closing_the_stream_stops_the_model_and_the_next_answer_works(
    generator: Generator, threads_before: set[threading.Thread]
) -> None:
    stream = generator.stream(LONG, 200)
    assert isinstance(next(stream), str)
    close = getattr(stream, "close", None)  # the protocol's "closing the iterator"
    assert callable(close), "the stream cannot be closed"
    close()
    assert list(stream) == []  # a closed stream yields nothing more
    assert_no_thread_left(threads_before)
    assert "".join(collect(generator.stream(QUESTION, 8))).strip()


def test_token_counts_grow_with_the_prompt_and_fit_the_context(generator: Generator) -> None:
    system_only = generator.count_tokens(QUESTION[:1])
    full = generator.count_tokens(QUESTION)
    assert isinstance(full, int) and 0 < system_only < full
    context = generator.context_tokens()
    assert isinstance(context, int) and full < context
