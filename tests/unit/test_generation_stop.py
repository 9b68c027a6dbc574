"""The transformers backend stops its model thread when the stream is closed or times out.

The unit tests drive TransformersGenerator with a stand-in model that generates one word per
step on the real streamer and stopping-criteria machinery; the integration test does the same
with the real packaged model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from chatbot.generation.base import ChatMessage, GenerationTimeout
from chatbot.generation.transformers_backend import DEFAULT_CONTEXT_TOKENS, TransformersGenerator
from chatbot.settings import TRANSFORMERS_GENERATOR
from tests.conftest import REPO_ROOT

PROMPT: list[ChatMessage] = [{"role": "user", "content": "Count to a thousand."}]
STOPPED_WITHIN_S = 2.0


class WordTokenizer:
    """Token i is the word "w<i>"; the chat template is one token per word of the prompt."""

    eos_token_id = 0
    model_max_length = 10**30  # what tokenizers without a limit report

    def apply_chat_template(self, messages: list[ChatMessage], **kwargs: Any) -> dict[str, Any]:
        ids = list(range(1, 1 + sum(len(m["content"].split()) for m in messages)))
        if kwargs.get("return_tensors") == "pt":
            return {"input_ids": torch.tensor([ids])}
        return {"input_ids": ids}

    def decode(self, ids: Any, **kwargs: Any) -> str:
        return "".join(f"w{int(i)} " for i in ids)


class SteppingModel:
    """Generates one token every `step_s`, checking the stopping criteria after each one, the
    way `generate` does; records how many steps it took."""

    def __init__(self, step_s: float = 0.01, fail: bool = False) -> None:
        self.config = type("Config", (), {"max_position_embeddings": 4096})()
        self.step_s = step_s
        self.fail = fail
        self.steps = 0

    def generate(
        self, input_ids: Any, streamer: Any, stopping_criteria: Any, max_new_tokens: int, **_: Any
    ) -> None:
        streamer.put(input_ids)  # the prompt, skipped by the streamer
        ids = input_ids
        for i in range(max_new_tokens):
            time.sleep(self.step_s)
            if self.fail and i == 3:
                raise RuntimeError("out of memory")
            token = torch.tensor([[1000 + i]])
            ids = torch.cat([ids, token], dim=1)
            self.steps += 1
            streamer.put(token[0])
            if bool(stopping_criteria(ids, None).all()):
                break
        streamer.end()


def backend(model: SteppingModel) -> TransformersGenerator:
    gen = TransformersGenerator("stand-in", Path("unused"))
    gen._tokenizer, gen._model = WordTokenizer(), model
    return gen


def generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "generate"]


def wait_until_stopped(within_s: float = STOPPED_WITHIN_S) -> float:
    started = time.monotonic()
    while generation_threads() and time.monotonic() - started < within_s:
        time.sleep(0.01)
    assert not generation_threads(), f"the model thread still runs after {within_s} s"
    return time.monotonic() - started


def test_a_finished_stream_yields_every_piece() -> None:
    model = SteppingModel(step_s=0)
    pieces = list(backend(model).stream(PROMPT, 5))
    assert "".join(pieces) == "w1000 w1001 w1002 w1003 w1004 "
    assert model.steps == 5
    wait_until_stopped()


def test_closing_the_stream_stops_the_model_thread() -> None:
    model = SteppingModel()
    stream = backend(model).stream(PROMPT, 100_000)
    assert isinstance(stream, Iterator)
    first = [next(stream) for _ in range(3)]
    assert first[0] == "w1000 "
    [worker] = generation_threads()
    stream.close()  # what GeneratorExit from the consumer and Reply.close() come down to
    wait_until_stopped()
    assert not worker.is_alive()
    assert model.steps < 1000  # it would have gone on for 100 000 steps (about 17 minutes)


def test_a_deadline_stops_the_model_and_raises_generation_timeout() -> None:
    model = SteppingModel()
    started = time.monotonic()
    got: list[str] = []
    with pytest.raises(GenerationTimeout):
        for piece in backend(model).stream(PROMPT, 100_000, deadline=started + 0.3):
            got.append(piece)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert got  # it streamed until the deadline
    wait_until_stopped()


def test_a_deadline_is_kept_while_no_piece_comes() -> None:
    """A model stuck before its first token (a long prefill) does not hold the turn."""
    model = SteppingModel(step_s=1.0)  # its first token takes a second
    started = time.monotonic()
    with pytest.raises(GenerationTimeout):
        list(backend(model).stream(PROMPT, 10_000, deadline=started + 0.3))
    assert time.monotonic() - started < 0.9
    wait_until_stopped()  # after that first step, the stop is seen
    assert model.steps == 1


def test_a_model_failure_reaches_the_consumer() -> None:
    with pytest.raises(RuntimeError, match="out of memory"):
        list(backend(SteppingModel(step_s=0, fail=True)).stream(PROMPT, 10))
    wait_until_stopped()


def test_context_and_token_counts_come_from_the_model_and_its_tokenizer() -> None:
    gen = backend(SteppingModel())
    assert gen.context_tokens() == 4096  # the tokenizer's huge sentinel is no limit
    gen._tokenizer.model_max_length = 1024
    assert gen.context_tokens() == 1024
    gen._model.config = type("Config", (), {})()
    gen._tokenizer.model_max_length = 10**30
    assert gen.context_tokens() == DEFAULT_CONTEXT_TOKENS
    assert gen.count_tokens(PROMPT) == 4


# ---- the real packaged model ---------------------------------------------------------------
@pytest.fixture(scope="module")
def real_generator() -> TransformersGenerator:
    # The converted model is shared with the served-app tests (converting takes a minute).
    gen = TransformersGenerator(TRANSFORMERS_GENERATOR, REPO_ROOT / ".cache" / "test-models")
    gen.warm_up()
    return gen


LONG_ANSWER_PROMPT: list[ChatMessage] = [
    {"role": "user", "content": "Count from 1 to 1000, one number per line."}
]


@pytest.mark.integration
def test_closing_the_real_models_stream_ends_its_thread(
    real_generator: TransformersGenerator,
) -> None:
    assert real_generator.context_tokens() == 8192
    assert 10 < real_generator.count_tokens(LONG_ANSWER_PROMPT) < 100
    stream = real_generator.stream(LONG_ANSWER_PROMPT, 2000)
    pieces = [next(stream) for _ in range(5)]
    assert "".join(pieces).strip()
    [worker] = generation_threads()
    assert worker.is_alive()  # 2000 tokens to go: tens of seconds on a CPU
    stream.close()
    took = wait_until_stopped()
    assert not worker.is_alive() and took < STOPPED_WITHIN_S


@pytest.mark.integration
def test_the_real_model_stops_at_the_deadline(real_generator: TransformersGenerator) -> None:
    # The deadline falls mid-answer: after about three times what four tokens take here.
    warm = time.monotonic()
    assert len(list(real_generator.stream(LONG_ANSWER_PROMPT, 4))) >= 1
    allowed = 3 * (time.monotonic() - warm)
    started = time.monotonic()
    pieces: list[str] = []
    with pytest.raises(GenerationTimeout):
        for piece in real_generator.stream(LONG_ANSWER_PROMPT, 2000, deadline=started + allowed):
            pieces.append(piece)
    assert pieces
    assert time.monotonic() - started < allowed + 0.5
    wait_until_stopped()
