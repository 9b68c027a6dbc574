"""What several benchmarks share: a served app to wait for, and the transformers model loaded
as the product loads it. Imported by the benchmark scripts (run as `python benchmarks/x.py`,
so this folder is on the path)."""

from __future__ import annotations

import argparse
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatbot.container import Services

MODELS_DIR = Path("/tmp/chatbot-bench-models")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 600, poll: float = 1) -> None:
    """Until `url` answers 200; fails when the server exits or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(poll)
    raise RuntimeError(f"the server did not answer at {url} within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes], grace: float = 30) -> None:
    """Terminate the server; kill it if it has not exited after `grace` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def add_models_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=MODELS_DIR,
        help="cache for the converted generator (reused between runs)",
    )


def transformers_services(
    data_dir: Path,
    models_dir: Path,
    max_new_tokens: int | None = None,
    torch_threads: int | None = None,
) -> Services:
    """The product's services on the sample knowledge base with the transformers generator,
    warmed up. These measurements reach into the transformers model (generate, batching); the
    llama.cpp default is measured by benchmarks/answers.py."""
    from chatbot.container import build, load_sample_if_empty
    from chatbot.settings import TRANSFORMERS_GENERATOR, Settings

    settings = Settings(data_dir=data_dir)
    settings.models.generator_backend = "transformers"
    settings.models.generator = TRANSFORMERS_GENERATOR
    settings.models.cache_dir = models_dir
    if max_new_tokens:
        settings.models.max_new_tokens = max_new_tokens
    if torch_threads:
        settings.models.torch_threads = torch_threads
    services = build(settings)
    load_sample_if_empty(services)
    services.kb.refresh()
    services.dialogue.generator.warm_up()
    return services
