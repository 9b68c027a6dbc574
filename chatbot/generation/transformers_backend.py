"""Local causal LM through Hugging Face transformers, loaded on first use.

A GGUF model (the packaged default) is dequantised once and saved as a plain folder in the data
dir: loading GGUF takes tens of seconds, the converted folder a few.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatbot.generation.base import ChatMessage
from knowledge_base import model_packages

log = logging.getLogger(__name__)


def _find_gguf(folder: Path) -> Path | None:
    files = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    return files[0] if files else None


class TransformersGenerator:
    """Greedy decoding (answers must be reproducible) with token streaming."""

    def __init__(self, spec: str, cache_dir: Path) -> None:
        self.name = spec
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                self._tokenizer, self._model = self._load()

    def _load(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source = Path(model_packages.resolve(self.name, self._cache_dir))
        gguf = _find_gguf(source)
        if gguf is None:
            local = source.exists()
            tok = AutoTokenizer.from_pretrained(str(source), local_files_only=local)
            model = AutoModelForCausalLM.from_pretrained(
                str(source), local_files_only=local, dtype=torch.float32
            )
            return tok, model.eval()
        converted = self._cache_dir / gguf.stem
        if not (converted / "config.json").exists():
            self._convert(gguf, converted)
        tok = AutoTokenizer.from_pretrained(str(converted), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(converted), local_files_only=True, dtype=torch.float32
        )
        return tok, model.eval()

    @staticmethod
    def _convert(gguf: Path, target: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log.info("converting %s to %s (one time, about a minute)", gguf.name, target)
        kwargs = {"gguf_file": gguf.name, "local_files_only": True}
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), dtype=torch.float32, **kwargs
        )
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

    def stream(self, messages: list[ChatMessage], max_new_tokens: int) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        self.warm_up()
        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        streamer = TextIteratorStreamer(
            self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=120
        )
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(
                        **inputs,
                        streamer=streamer,
                        max_new_tokens=max_new_tokens,
                        do_sample=False,
                        repetition_penalty=1.1,
                        pad_token_id=self._tokenizer.eos_token_id,
                    )
            except BaseException as exc:
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        yield from (piece for piece in streamer if piece)
        worker.join()
        if errors:
            raise errors[0]
