"""Generation on an inference server that is already running and speaks the OpenAI chat API:
vLLM, TGI, Ollama, llama.cpp's llama-server (the `openai` client, imported on first use).

The server is another program, so it can be down, refuse a request or be slow. Any of these
during a turn raises `InferenceServerError`, whose message names the server and what went
wrong; the dialogue turns it into its polite error reply and keeps the customer's message,
as for any generator failure. The turn's deadline is kept here, not by the server: past it
the stream raises `GenerationTimeout`, whatever the server is doing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn, cast

from chatbot.generation.base import ChatMessage, GenerationTimeout, GeneratorUnavailable
from chatbot.generation.worker import stream_from_worker

if TYPE_CHECKING:
    from openai import OpenAI, OpenAIError
    from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)

# How often the wait for the next piece wakes up to look at the deadline.
# One retry (the client waits about half a second first): it covers a keep-alive connection
# the server dropped when it restarted. More would spend the customer's turn on an outage.
MAX_RETRIES = 1
# Sent when no key is set. The client insists on some key, and an explicit one keeps it from
# sending OPENAI_API_KEY from the environment (a real OpenAI key) to this server.
NO_KEY = "none"
# The OpenAI protocol has no way to count tokens, so `count_tokens` estimates, erring high:
# a prompt counted short would overflow the server's context and fail the turn, one counted
# long is only cut a little more. English prose averages about 4 characters a token in current
# vocabularies, so 3 leaves a margin. Digits count one each (Qwen and Llama split numbers into
# digits or short groups). Other characters count their UTF-8 bytes, the most any byte-level
# vocabulary takes: an English-only one (SmolLM2) spends 2-3 tokens on a Chinese character
# that Qwen reads as one.
ASCII_CHARS_PER_TOKEN = 3
# What a chat template adds around each message (ChatML's `<|im_start|>role\n...<|im_end|>\n`
# is 5 tokens; Llama 3's headers about as many) and before the answer, with room to spare.
MESSAGE_OVERHEAD_TOKENS = 8
PROMPT_OVERHEAD_TOKENS = 8
# A prompt with no system message gets the template's own (Qwen2.5's "You are Qwen, created by
# Alibaba Cloud...", SmolLM2's "You are a helpful AI assistant named SmolLM..."): 20-30 tokens.
DEFAULT_SYSTEM_PROMPT_TOKENS = 40


class InferenceServerError(GeneratorUnavailable):
    """The inference server did not answer: unreachable, refused the request, or too slow.
    The message is for staff (it names the server and the setting to check)."""


def estimate_tokens(text: str) -> int:
    """An upper estimate of `text`'s length in tokens (see ASCII_CHARS_PER_TOKEN)."""
    other = [ch for ch in text if not ch.isascii()]
    digits = sum(1 for ch in text if ch in "0123456789")
    prose = len(text) - len(other) - digits
    return len("".join(other).encode()) + digits + math.ceil(prose / ASCII_CHARS_PER_TOKEN)


class OpenAIGenerator:
    """Streams chat completions from an OpenAI-compatible server, temperature 0."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "",
        api_key: str | None = None,
        timeout_s: float = 30.0,
        context_tokens: int = 4096,
    ) -> None:
        self.base_url = base_url
        self._model = model
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._n_ctx = context_tokens
        self._lock = threading.Lock()
        self._client: OpenAI | None = None
        self._reachable = False
        self.name = self._describe()

    def _describe(self) -> str:
        return f"{self._model or 'the first model listed'} at {self.base_url}"

    def _connect(self) -> OpenAI:
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                # The timeout is the client's per-operation one: connecting, and each read,
                # so it bounds the wait between two pieces, not the whole answer.
                self._client = OpenAI(
                    base_url=self.base_url,
                    api_key=self._api_key or NO_KEY,
                    timeout=self._timeout_s,
                    max_retries=MAX_RETRIES,
                )
            return self._client

    def warm_up(self) -> None:
        """Asks the server for its models: says at start whether it answers, and which model
        turns will use. A server that does not answer is logged for staff, not raised: it may
        be started after this app, and each turn tries again."""
        if self._reachable:
            return
        try:
            self._discover_model(self._connect())
        except InferenceServerError as exc:
            log.warning("%s; customers get the error reply until it answers", exc)
            return
        self._reachable = True
        log.info("inference server at %s answers; model %s", self.base_url, self._model)

    def _discover_model(self, client: OpenAI) -> str:
        """The configured model, else the first one the server lists (llama-server and vLLM
        serve one). Checks that a configured one is listed, but only warns: some servers
        answer to names they do not list."""
        import openai

        try:
            listed = [m.id for m in client.models.list()]
        except openai.OpenAIError as exc:
            raise self._failure(exc) from None
        if not self._model:
            if not listed:
                raise InferenceServerError(
                    f"the inference server at {self.base_url} lists no model; set "
                    "CHATBOT_MODELS__OPENAI_MODEL"
                )
            self._model = listed[0]
            self.name = self._describe()
        elif self._model not in listed:
            log.warning(
                "the inference server at %s does not list model %r (it lists %s); check "
                "CHATBOT_MODELS__OPENAI_MODEL",
                self.base_url,
                self._model,
                ", ".join(listed) or "none",
            )
        return self._model

    def context_tokens(self) -> int:
        return self._n_ctx

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        """An estimate that errs high (see ASCII_CHARS_PER_TOKEN): the protocol has no way to
        ask the server."""
        added = PROMPT_OVERHEAD_TOKENS
        if not any(m["role"] == "system" for m in messages):
            added += DEFAULT_SYSTEM_PROMPT_TOKENS
        return added + sum(
            estimate_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages
        )

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        """Reads the server's stream on a background thread and yields its text as it comes,
        so the deadline is kept even while the server sends nothing.

        However the stream ends (finished, closed by the consumer, past `deadline`, failed),
        the connection is closed once the reader wakes (at the server's next piece, or its
        timeout): the server then stops generating, as OpenAI-compatible servers do when
        their client goes away."""
        if deadline is not None and time.monotonic() >= deadline:
            raise GenerationTimeout("the turn's deadline passed before generation started")
        client = self._connect()

        def produce(emit: Callable[[str], None], stop: threading.Event) -> None:
            response: Any = None
            try:
                model = self._model or self._discover_model(client)
                response = client.chat.completions.create(
                    model=model,
                    # (The same role/content dicts; the client's types spell each role out.)
                    messages=cast("list[ChatCompletionMessageParam]", messages),
                    max_tokens=max_new_tokens,
                    temperature=0.0,
                    stream=True,
                )
                for chunk in response:
                    if stop.is_set():
                        break
                    for choice in chunk.choices:
                        text = choice.delta.content if choice.delta else None
                        if text:
                            emit(text)
            finally:
                if response is not None:
                    response.close()

        def failed(exc: BaseException) -> NoReturn:
            # Raised without the client's chain of causes: the message says all an outage
            # needs, and the dialogue logs it in one line (GeneratorUnavailable).
            raise self._failure(exc) from None

        yield from stream_from_worker(produce, deadline, failed)

    def _failure(self, exc: BaseException) -> BaseException:
        """The client's error as one line for staff, as a new exception (its traceback starts
        where it is raised, not on the reader's thread); anything else (a bug) as it is."""
        import openai

        if isinstance(exc, InferenceServerError):
            return InferenceServerError(str(exc))
        if not isinstance(exc, openai.OpenAIError):
            return exc
        return InferenceServerError(self._explain(exc))

    def _explain(self, exc: OpenAIError) -> str:
        import openai

        where = f"the inference server at {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return (
                f"{where} sent nothing for {self._timeout_s:g} s "
                "(CHATBOT_MODELS__OPENAI_TIMEOUT_SECONDS)"
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            reason = str(cause) if cause is not None and str(cause) else exc.message
            return (
                f"cannot reach {where} ({reason}); is it running? (CHATBOT_MODELS__OPENAI_BASE_URL)"
            )
        if isinstance(exc, openai.APIStatusError):
            body = exc.body
            detail = body.get("message") if isinstance(body, dict) else None
            hint = {
                401: "; check CHATBOT_MODELS__OPENAI_API_KEY",
                403: "; check CHATBOT_MODELS__OPENAI_API_KEY",
                404: "; check CHATBOT_MODELS__OPENAI_MODEL, and that "
                "CHATBOT_MODELS__OPENAI_BASE_URL ends in /v1",
            }.get(exc.status_code, "")
            return f"{where} answered HTTP {exc.status_code}: {detail or exc.message}{hint}"
        if isinstance(exc, openai.APIError):
            return f"{where} failed mid-answer: {exc.message}"
        return f"{where}: {type(exc).__name__}: {exc}"
