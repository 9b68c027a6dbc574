"""Cost of one dialogue turn: the product's full turn against the bare model calls it makes.

    .venv/bin/python benchmarks/turn.py
    .venv/bin/python benchmarks/turn.py --repeat 5 --max-new-tokens 160
    .venv/bin/python benchmarks/turn.py --steps --repeat 1   # where the product's time goes

The product side is `DialogueManager.respond` plus consuming its stream: storing the
customer's message, retrieval (embedding + FAISS + lexical + per-entry scoring), the decision,
the prompt, streamed generation, the grounding check and storing the answer with its sources
(SQLite in a temporary data dir, sample knowledge base). The bare side uses the SAME loaded
objects: `embedder.encode([question])`, a FAISS search on the same index snapshot (as many
candidates as the retriever fetches), and -- when the product generated -- `model.generate` on
the same prompt (`build_prompt` from the same hits), same `max_new_tokens`, greedy decoding,
same repetition penalty, no streamer. Each question is answered twice per repetition, product
and bare alternately (which goes first alternates too), in one process with torch threads as
the product sets them (one). Everything runs twice: with approved answers on (the default:
near-certain FAQ matches are answered with the stored answer, no generation) and off (every
answered question is generated: the pure generation comparison). Figures are medians.

This is a benchmark, not a test: it asserts nothing. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Exact FAQ phrasings (approved-answer path when it is on) and paraphrases (generated).
QUESTIONS = [
    "How do I cancel my order?",
    "How do I return an item?",
    "How much does shipping cost?",
    "How do I reset my password?",
    "my parcel still hasn't shown up, how many days does delivery usually take",
    "is paypal ok for paying or only credit cards",
    "the jacket came with a torn sleeve, what now",
    "how long until the money for my returned boots is back on my card",
]


@dataclass
class Sample:
    mode: str = ""
    product_s: list[float] = field(default_factory=list)
    bare_s: list[float] = field(default_factory=list)
    first_token_s: list[float] = field(default_factory=list)
    product_tokens: list[int] = field(default_factory=list)
    bare_tokens: list[int] = field(default_factory=list)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    from harness import add_models_dir, transformers_services

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per question")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: settings")
    add_models_dir(parser)
    parser.add_argument("--approved", choices=["both", "on", "off"], default="both")
    parser.add_argument(
        "--steps",
        action="store_true",
        help="instead: time each step of the product's generated turns (where its own time goes)",
    )
    args = parser.parse_args()

    import torch

    from chatbot.dialogue import decision as dec
    from chatbot.dialogue.manager import GENERATED, PASSAGE
    from chatbot.dialogue.prompts import build_prompt

    with tempfile.TemporaryDirectory(prefix="chatbot-turn-") as tmp:
        services = transformers_services(Path(tmp), args.models_dir, args.max_new_tokens)
        settings = services.settings
        dialogue = services.dialogue
        gen: Any = dialogue.generator
        model, tok = gen._model, gen._tokenizer
        embedder: Any = services.kb.embedder
        max_new = dialogue.max_new_tokens
        top_k = dialogue.top_k
        fetch = max(services.kb.retriever.config.candidates, top_k * 10)
        print(
            f"generator {settings.models.generator}, embedder {settings.models.embedder}, "
            f"torch threads {torch.get_num_threads()}, max_new_tokens {max_new}, "
            f"{args.repeat} repetitions, {len(QUESTIONS)} questions"
        )

        def product(question: str) -> tuple[float, float, str, str]:
            start = time.perf_counter()
            reply = dialogue.respond(question)
            first = None
            streamed = ""
            for piece in reply:
                if first is None:
                    first = time.perf_counter() - start
                streamed += piece
            total = time.perf_counter() - start
            return total, (first if first is not None else total), reply.answer_mode, streamed

        def bare(question: str, generate: bool) -> tuple[float, int]:
            prompt = None
            if generate:  # the same prompt the product built (untimed: not a model call)
                prompt = build_prompt(
                    question, dec.prompt_hits(services.kb.search(question, top_k))
                )
            index = services.kb.snapshot().index
            assert index is not None
            start = time.perf_counter()
            vector = embedder.encode([question])[0]
            index.search(vector, fetch)
            tokens = 0
            if prompt is not None:
                inputs = tok.apply_chat_template(
                    prompt, add_generation_prompt=True, return_dict=True, return_tensors="pt"
                )
                with torch.inference_mode():
                    out = model.generate(
                        **inputs,
                        max_new_tokens=max_new,
                        do_sample=False,
                        repetition_penalty=1.1,
                        pad_token_id=tok.eos_token_id,
                    )
                new = out[0, inputs["input_ids"].shape[1] :].tolist()
                tokens = len([t for t in new if t != tok.eos_token_id])
            return time.perf_counter() - start, tokens

        def count(text: str) -> int:
            return len(tok.encode(text, add_special_tokens=False)) if text else 0

        if args.steps:
            dialogue.approved_answers = False
            time_steps(dialogue, args.repeat, product)
            services.engine.dispose()
            return
        settings_to_run = {"both": [True, False], "on": [True], "off": [False]}[args.approved]
        for approved in settings_to_run:
            dialogue.approved_answers = approved
            # Warm up: one product turn and one bare call per question (first-call overheads,
            # the retriever's per-revision structures, the grounding embedder).
            # The warm-up turn also tells which path each question takes (same every time).
            modes = {}
            for q in QUESTIONS:
                modes[q] = product(q)[2]
                bare(q, modes[q] in (GENERATED, PASSAGE))
            samples = {q: Sample(mode=modes[q]) for q in QUESTIONS}
            for rep in range(args.repeat):
                for i, q in enumerate(QUESTIONS):
                    s = samples[q]
                    generated = modes[q] in (GENERATED, PASSAGE)
                    order = ("product", "bare") if (rep + i) % 2 == 0 else ("bare", "product")
                    for side in order:
                        if side == "product":
                            total, first, s.mode, streamed = product(q)
                            s.product_s.append(total)
                            s.first_token_s.append(first)
                            s.product_tokens.append(count(streamed) if generated else 0)
                        else:
                            b, n = bare(q, generated)
                            s.bare_s.append(b)
                            s.bare_tokens.append(n)
            report(samples, approved)
        services.engine.dispose()


def time_steps(dialogue: Any, repeat: int, product: Any) -> None:
    """Time each step of generated turns by wrapping the functions a turn calls."""
    import chatbot.dialogue.manager as turn_module

    spent: dict[str, list[float]] = {}

    def timed(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent.setdefault(label, []).append(time.perf_counter() - start)

        setattr(owner, name, wrapper)

    def timed_stream(generator: Any) -> None:
        original = generator.stream

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            yield from original(*args, **kwargs)
            spent.setdefault("generation (streamed, incl. prefill)", []).append(
                time.perf_counter() - start
            )

        generator.stream = wrapper

    repo = turn_module.repo
    for name in ("get_conversation", "create_conversation", "history", "add_user_message"):
        timed(repo, name, "SQL before: conversation, history, store the question")
    timed(repo, "recent_decisions", "SQL before: conversation, history, store the question")
    timed(dialogue.thresholds, "current", "decline threshold")
    timed(dialogue.kb.embedder, "encode", "embedder calls (question; answer in the check)")
    timed(dialogue.kb, "search", "retrieval (kb.search, embedding included)")
    timed(turn_module.AnswerCheck, "sentence", "answer check (per sentence)")
    timed(dialogue, "_store", "store the answer and its sources")
    timed_stream(dialogue.generator)

    for q in QUESTIONS:  # warm-up: caches, first-call costs
        product(q)
    spent.clear()
    totals = []
    for _ in range(repeat):
        for q in QUESTIONS:
            totals.append(product(q)[0])
    n = len(totals)
    print(f"\n{n} generated turns, mean {statistics.fmean(totals) * 1000:.0f} ms each")
    print("| step | calls per turn | ms per turn |")
    print("|---|---|---|")
    for label, values in spent.items():
        print(f"| {label} | {len(values) / n:.1f} | {sum(values) / n * 1000:.1f} |")


def report(samples: dict[str, Sample], approved: bool) -> None:
    print(f"\napproved answers {'on (default)' if approved else 'off (every answer generated)'}")
    print(
        "| question | mode | product s | bare s | ratio | tokens (product/bare) "
        "| product ms/token | bare ms/token | first token s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    all_p, all_b, all_ft, gen_p, gen_b, gen_pt, gen_bt = [], [], [], [], [], [], []
    for q, s in samples.items():
        p, b, ft = median(s.product_s), median(s.bare_s), median(s.first_token_s)
        pt, bt = (
            median([float(x) for x in s.product_tokens]),
            median([float(x) for x in s.bare_tokens]),
        )
        per_p = p / pt * 1000 if pt else float("nan")
        per_b = b / bt * 1000 if bt else float("nan")
        print(
            f"| {q[:48]} | {s.mode} | {p:.3f} | {b:.3f} | {p / b:.2f}x | {pt:.0f}/{bt:.0f} "
            f"| {per_p:.1f} | {per_b:.1f} | {ft:.3f} |"
        )
        all_p += s.product_s
        all_b += s.bare_s
        all_ft += s.first_token_s
        if bt:
            gen_p.append(p)
            gen_b.append(b)
            gen_pt.append(pt)
            gen_bt.append(bt)
    print(
        f"\noverall: product median {median(all_p):.3f} s, bare median {median(all_b):.3f} s, "
        f"total product / bare {sum(all_p) / sum(all_b):.2f}x (target <= 1.10x); "
        f"first streamed token median {median(all_ft):.3f} s, max {max(all_ft):.3f} s "
        "(target <= 1.5 s)"
    )
    if gen_bt:
        per_p = sum(gen_p) / sum(gen_pt) * 1000
        per_b = sum(gen_b) / sum(gen_bt) * 1000
        print(
            f"generated questions ({len(gen_bt)}): per generated token product {per_p:.1f} ms, "
            f"bare {per_b:.1f} ms, ratio {per_p / per_b:.2f}x; total time ratio "
            f"{sum(gen_p) / sum(gen_b):.2f}x"
        )


if __name__ == "__main__":
    main()
