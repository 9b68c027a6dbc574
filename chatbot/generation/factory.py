"""Picks the generator backend named in settings. Each backend imports its engine on use, so a
process that never generates never loads torch or llama.cpp."""

from __future__ import annotations

from chatbot.generation.base import Generator
from chatbot.settings import Settings


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
            )
        case "transformers":
            from chatbot.generation.transformers_backend import TransformersGenerator

            return TransformersGenerator(m.generator, settings.models_dir)
        case "scripted":
            from chatbot.generation.scripted import ScriptedGenerator

            return ScriptedGenerator()
