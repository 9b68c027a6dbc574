"""Local causal LM through Hugging Face transformers, loaded on first use.

A GGUF model (the packaged default) is dequantised once and saved as a plain folder in the data
dir: loading GGUF takes tens of seconds, the converted folder a few. A fine-tuned LoRA adapter
(`CHATBOT_MODELS__GENERATOR_ADAPTER`) is merged into the weights as the model loads.
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatbot.generation.base import ChatMessage, GenerationTimeout
from knowledge_base import model_packages

log = logging.getLogger(__name__)

# How often the wait for the next piece wakes up to look at the deadline.
POLL_SECONDS = 0.1
# Tokenizers without a length limit report a huge number; anything above this is no limit.
NO_LIMIT = 10**7
# When neither the model nor its tokenizer says (old configs): a size every current model has.
DEFAULT_CONTEXT_TOKENS = 2048


def _find_gguf(folder: Path) -> Path | None:
    if folder.is_file() and folder.suffix == ".gguf":  # e.g. a joined `gguf-parts:` model
        return folder
    files = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    return files[0] if files else None


def model_source(spec: str, cache_dir: Path) -> Path:
    """The folder (or hub id, as a path that does not exist here) transformers loads `spec`
    from: a GGUF model is converted to a plain folder in `cache_dir` the first time."""
    source = Path(model_packages.resolve(spec, cache_dir))
    gguf = _find_gguf(source)
    if gguf is None:
        return source
    converted = cache_dir / gguf.stem
    if not (converted / "config.json").exists():
        _convert(gguf, converted)
    return converted


def load_causal_lm(spec: str, cache_dir: Path) -> tuple[Any, Any]:
    """The tokenizer and the fp32 model of `spec` (also what the generator's fine-tuning,
    chatbot.training.generator, trains)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = model_source(spec, cache_dir)
    local = source.exists()
    tok = AutoTokenizer.from_pretrained(str(source), local_files_only=local)
    model = AutoModelForCausalLM.from_pretrained(
        str(source), local_files_only=local, dtype=torch.float32
    )
    return tok, model


def merge_adapter(model: Any, adapter: str) -> Any:
    """`model` with the PEFT adapter in folder `adapter` merged into its weights: generation
    then runs at the base model's speed, with no adapter layers left."""
    from peft import PeftModel

    folder = Path(adapter).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise RuntimeError(
            f"CHATBOT_MODELS__GENERATOR_ADAPTER={adapter}: no PEFT adapter there (no "
            "adapter_config.json); give a folder that `chatbot train generator` saved, e.g. "
            "DATA_DIR/models/generator/v1, or leave the setting empty"
        )
    log.info("merging the generator adapter %s", folder)
    return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to %s (one time, about a minute)", gguf.name, target)
    kwargs = {"gguf_file": gguf.name, "local_files_only": True}
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
    # save_pretrained refuses a model that still looks quantised; the weights are fp32 now.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # A private temporary folder, renamed into place: two processes converting at once
    # never see each other's half-written files.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        if (target / "config.json").exists():  # another process finished first
            return
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class TransformersGenerator:
    """Greedy decoding (answers must be reproducible) with token streaming. `adapter`: a
    folder holding a PEFT adapter, merged into the model when it loads ("" = none)."""

    def __init__(self, spec: str, cache_dir: Path, adapter: str = "") -> None:
        self.name = spec
        self.adapter = adapter
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                self._tokenizer, self._model = self._load()

    def _load(self) -> tuple[Any, Any]:
        tok, model = load_causal_lm(self.name, self._cache_dir)
        if self.adapter:
            model = merge_adapter(model, self.adapter)
        return tok, model.eval()

    def context_tokens(self) -> int:
        """The model's context: its position embeddings, or the tokenizer's limit if smaller
        (tokenizers without one report a huge sentinel)."""
        self.warm_up()
        limits = [
            getattr(self._model.config, "max_position_embeddings", None),
            getattr(self._tokenizer, "model_max_length", None),
        ]
        known = [int(n) for n in limits if isinstance(n, int) and 0 < n < NO_LIMIT]
        return min(known) if known else DEFAULT_CONTEXT_TOKENS

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        self.warm_up()
        encoded = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return len(encoded["input_ids"])

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Iterator[str]:
        """Generates on a background thread and yields its text as it comes.

        However the stream ends (finished, closed by the consumer, past `deadline`, failed),
        the model thread is told to stop and ends after the token it is working on: a customer
        who leaves, or a turn that runs out of time, must not keep a core busy."""
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        self.warm_up()
        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        # A short queue timeout: the wait for the next piece wakes up to look at the deadline.
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=POLL_SECONDS
        )
        stop = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(
                        **inputs,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([stop_when_set(stop)]),
                        max_new_tokens=max_new_tokens,
                        do_sample=False,
                        repetition_penalty=1.1,
                        pad_token_id=self._tokenizer.eos_token_id,
                    )
            except BaseException as exc:
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="generate", daemon=True)
        worker.start()
        try:
            yield from _pieces(streamer, worker, deadline)
        finally:
            stop.set()
        worker.join()
        if errors:
            raise errors[0]


def _pieces(streamer: Any, worker: threading.Thread, deadline: float | None) -> Iterator[str]:
    """The streamer's text until it ends; GenerationTimeout once `deadline` has passed."""
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            raise GenerationTimeout("the answer was not finished in time")
        try:
            piece = next(streamer)
        except queue.Empty:
            if not worker.is_alive() and streamer.text_queue.empty():
                return  # the thread died without ending the stream
            continue
        except StopIteration:
            return
        if piece:
            yield piece


def stop_when_set(event: threading.Event) -> Any:
    """A stopping criterion that ends generation once `event` is set (checked per token)."""
    import torch
    from transformers import StoppingCriteria

    class StopWhenSet(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full(
                (input_ids.shape[0],), event.is_set(), dtype=torch.bool, device=input_ids.device
            )

    return StopWhenSet()
