"""Picks the generator backend named in settings. Each backend imports its engine on use, so a
process that never generates never loads torch, llama.cpp or the OpenAI client."""

from __future__ import annotations

from chatbot.generation.base import Generator
from chatbot.settings import Settings
from chatbot.training.generator_versions import active_adapter


def generator_adapter(settings: Settings) -> str:
    """The LoRA adapter the local backends serve: the setting when it names one, else the
    active adapter `chatbot train generator` adopted for the configured model ("" = none)."""
    m = settings.models
    if m.generator_adapter:
        return m.generator_adapter
    folder = active_adapter(settings.data_dir, m.generator)
    return str(folder) if folder is not None else ""


def build_generator(settings: Settings) -> Generator:
    m = settings.models
    match m.generator_backend:
        case "llamacpp":
            from chatbot.generation.llamacpp_backend import LlamaCppGenerator

            return LlamaCppGenerator(
                m.generator,
                settings.models_dir,
                threads=m.generator_threads,
                context_tokens=m.generator_context_tokens,
                adapter=generator_adapter(settings),
            )
        case "transformers":
            from chatbot.generation.transformers_backend import TransformersGenerator

            return TransformersGenerator(
                m.generator, settings.models_dir, adapter=generator_adapter(settings)
            )
        case "openai":
            from chatbot.generation.openai_backend import OpenAIGenerator

            key = m.openai_api_key
            return OpenAIGenerator(
                m.openai_base_url,
                # (`generator` too, as for the other backends: what benchmarks/answers.py's
                # `--candidate openai:MODEL` sets.)
                model=m.openai_model or m.generator,
                api_key=key.get_secret_value() if key is not None else None,
                timeout_s=m.openai_timeout_seconds,
                context_tokens=m.openai_context_tokens,
            )
        case "scripted":
            from chatbot.generation.scripted import ScriptedGenerator

            return ScriptedGenerator()
