"""A LoRA adapter trained for a few steps on the packaged small generator (SmolLM2-135M),
converted to a GGUF LoRA and served by the llama.cpp backend: the file llama.cpp reads, and
the same greedy answer as the transformers backend with the adapter merged."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from chatbot.generation.base import ChatMessage
from chatbot.generation.llamacpp_backend import ADAPTER_GGUF, LlamaCppGenerator, lora_file
from chatbot.generation.transformers_backend import TransformersGenerator
from chatbot.settings import TRANSFORMERS_GENERATOR
from chatbot.training import gguf_lora
from chatbot.training.generator import train_generator_lora
from tests.integration.test_generator_training import FEW_STEPS, settings_in, tiny_examples

pytestmark = pytest.mark.integration

# A learning rate far above the default: three steps must change what the model says.
HIGH_LR = FEW_STEPS.model_copy(update={"generator_max_steps": 3, "generator_learning_rate": 5e-3})
# Enough for the trained answer to part from the base model's (at about the 11th token).
TOKENS = 16
# Largest difference in a generated token's log-probability between llama.cpp (Q4_1 weights,
# 8-bit activations) and transformers (the same weights dequantised, fp32). Seen: under 0.01
# on the product's prompts; a wrong q/k row order (no permutation) was 0.12 off.
LOGPROB_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> tuple[Path, Any]:
    """The adapter folder, and the prompts: the product's, for a trained and a held-out entry."""
    settings = settings_in(tmp_path_factory.mktemp("gguf-lora"), models_dir)
    examples = tiny_examples(settings)
    result = train_generator_lora(settings, examples, HIGH_LR, evaluate=False)
    assert result.steps == 3
    return result.folder, [examples.train[0].prompt, examples.eval[0].prompt]


def base_gguf(models_dir: Path) -> Path:
    from chatbot.generation.llamacpp_backend import gguf_file
    from knowledge_base import model_packages

    return gguf_file(model_packages.resolve(TRANSFORMERS_GENERATOR, models_dir))


def test_the_gguf_file_has_the_adapter_keys_and_two_tensors_per_layer(
    trained: tuple[Path, Any], models_dir: Path, tmp_path: Path
) -> None:
    import gguf
    from safetensors import safe_open

    folder, _ = trained
    out = gguf_lora.convert_adapter(folder, base_gguf(models_dir), tmp_path / "lora.gguf")
    reader = gguf.GGUFReader(out)
    fields = {name: f.contents() for name, f in reader.fields.items()}
    assert fields["general.type"] == "adapter"
    assert fields["general.architecture"] == "llama"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == HIGH_LR.generator_lora_alpha

    with safe_open(str(folder / gguf_lora.ADAPTER_WEIGHTS), "np") as f:
        layers = {k.split(".lora_A.")[0] for k in f.keys() if ".lora_A." in k}  # noqa: SIM118
    assert len(layers) == 30 * 7  # every linear layer of the 30 blocks
    names = {t.name for t in reader.tensors}
    assert len(reader.tensors) == len(names) == 2 * len(layers)
    assert {"blk.0.attn_q.weight.lora_a", "blk.29.ffn_down.weight.lora_b"} <= names
    base = {
        t.name: [int(n) for n in t.shape] for t in gguf.GGUFReader(base_gguf(models_dir)).tensors
    }
    rank = HIGH_LR.generator_lora_rank
    for t in reader.tensors:
        assert t.tensor_type == gguf.GGMLQuantizationType.F32
        weight, part = t.name.rsplit(".", 1)
        n_in, n_out = base[weight]
        # (GGUF lists the row length first: lora_a is rank x in, lora_b out x rank.)
        assert [int(n) for n in t.shape] == ([n_in, rank] if part == "lora_a" else [rank, n_out])


def test_a_folder_is_converted_once_and_again_when_the_adapter_changes(
    trained: tuple[Path, Any], models_dir: Path
) -> None:
    folder, _ = trained
    converted = lora_file(str(folder), base_gguf(models_dir), models_dir)
    assert converted == folder / ADAPTER_GGUF
    made = converted.stat().st_mtime_ns
    assert lora_file(str(folder), base_gguf(models_dir), models_dir).stat().st_mtime_ns == made
    assert lora_file(str(converted), base_gguf(models_dir), models_dir) == converted  # as is
    later = time.time() + 5
    os.utime(folder / gguf_lora.ADAPTER_WEIGHTS, (later, later))
    assert lora_file(str(folder), base_gguf(models_dir), models_dir).stat().st_mtime_ns != made


def greedy(
    generator: LlamaCppGenerator, prompt: list[ChatMessage]
) -> tuple[list[int], list[float]]:
    """llama.cpp's greedy tokens and their log-probabilities (one request, not streamed)."""
    generator.warm_up()
    reply = generator._server.handle_chat_completions(
        {
            "messages": prompt,
            "max_tokens": TOKENS,
            "temperature": 0.0,
            "top_k": 1,
            "logprobs": True,
            "stream": False,
        }
    )
    tokens = reply["choices"][0]["logprobs"]["content"]
    return [t["id"] for t in tokens], [t["logprob"] for t in tokens]


def test_llamacpp_with_the_adapter_answers_as_transformers_with_it_merged(
    trained: tuple[Path, Any], models_dir: Path
) -> None:
    import torch

    folder, prompts = trained
    served = LlamaCppGenerator(TRANSFORMERS_GENERATOR, models_dir, adapter=str(folder))
    plain = LlamaCppGenerator(TRANSFORMERS_GENERATOR, models_dir)
    merged = TransformersGenerator(TRANSFORMERS_GENERATOR, models_dir, adapter=str(folder))
    merged.warm_up()
    tok, model = merged._tokenizer, merged._model
    changed = 0
    for prompt in prompts:
        ids, logprobs = greedy(served, prompt)
        assert ids
        # The backend's own stream gives the same greedy text.
        assert "".join(served.stream(prompt, TOKENS)) == tok.decode(ids, skip_special_tokens=True)
        # Transformers, fed the same tokens, picks each of them itself (so its greedy answer
        # is the same) with nearly the same probability.
        start = tok.apply_chat_template(
            prompt, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )["input_ids"]
        with torch.inference_mode():
            logits = model(torch.cat([start, torch.tensor([ids])], 1)).logits[0]
        logits = logits[start.shape[1] - 1 : -1].log_softmax(-1)
        assert logits.argmax(-1).tolist() == ids
        theirs = [float(logits[i, t]) for i, t in enumerate(ids)]
        gap = max(abs(a - b) for a, b in zip(logprobs, theirs, strict=True))
        print(f"{tok.decode(ids)!r}: largest log-probability gap {gap:.4f}")
        assert gap < LOGPROB_TOLERANCE
        changed += greedy(plain, prompt)[0] != ids
    assert changed  # the adapter changes the answer
