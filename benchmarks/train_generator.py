"""The generator before and after `chatbot train generator`, served by llama.cpp, in one run.

    .venv/bin/python benchmarks/train_generator.py                    # the default generator
    .venv/bin/python benchmarks/train_generator.py --small --max-steps 20 --limit 12

1. Trains a LoRA adapter for --base (default: the product's default generator; --small:
   SmolLM2-135M) on the packaged sample knowledge base (`CHATBOT_SAMPLE_KB` picks its
   language), with the product's training settings (`CHATBOT_TRAINING__GENERATOR_*`), and
   prints each step's loss, the time per step, the total minutes, the process's peak memory
   (resource.getrusage) and the loss on the held-out entries before and after.
2. Runs benchmarks/answers.py's turns (its questions, checks and figures) for the base model
   and for the base model with the trained adapter, both through the llama.cpp backend (the
   adapter converted to a GGUF LoRA), and prints the facts share and the replaced share of
   both. The adapter has seen the knowledge base's own phrasings of most entries; the
   benchmark's questions are other phrasings, and its held-out entries' questions are among
   them (answers.py cannot tell which).

Timings on a shared machine are noisy. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks import answers  # noqa: E402  (after the path set-up)
from chatbot.settings import LLAMACPP_GENERATOR, TRANSFORMERS_GENERATOR  # noqa: E402

ADAPTER_VARIABLE = "CHATBOT_MODELS__GENERATOR_ADAPTER"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--base", default=LLAMACPP_GENERATOR, help="model spec to train (a GGUF for llama.cpp)"
    )
    which.add_argument(
        "--small", action="store_true", help=f"train {TRANSFORMERS_GENERATOR} (SmolLM2-135M)"
    )
    parser.add_argument("--max-steps", type=int, default=None, help="stop training after N steps")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/chatbot-train-generator"),
        help="data dirs of the training and the answer runs (emptied first)",
    )
    # What answers.py's own functions read from its arguments.
    parser.add_argument("--data", type=Path, default=answers.DATA_FILE, help="labelled questions")
    parser.add_argument("--limit", type=int, default=None, help="first N questions (kinds mixed)")
    parser.add_argument("--lang", choices=answers.LANGS, default=None)
    parser.add_argument(
        "--threads", type=int, default=None, help="model threads; default: settings"
    )
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: settings")
    parser.add_argument("--approved", choices=["on", "off"], default="on")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=REPO / ".cache" / "benchmark-models",
        help="cache for converted and joined models (reused between runs)",
    )
    parser.add_argument("--verbose", action="store_true", help="print each turn")
    args = parser.parse_args()
    base = TRANSFORMERS_GENERATOR if args.small else args.base

    shutil.rmtree(args.work, ignore_errors=True)
    folder = train(args, base, args.work / "train")
    compare(args, base, folder, args.work / "answers")


# ---- 1. training ---------------------------------------------------------------------------
def train(args: argparse.Namespace, base: str, data_dir: Path) -> Path:
    from chatbot.container import build, configure_runtime, load_sample_if_empty
    from chatbot.generation.scripted import ScriptedGenerator
    from chatbot.settings import Settings
    from chatbot.training import config
    from chatbot.training.finetune import StepProgress
    from chatbot.training.generator import train_generator_lora
    from chatbot.training.generator_data import build_examples, read_entries
    from knowledge_base.embedders import HashEmbedder

    # The training reads the entries' text only: no real embedder needed to ingest them.
    settings = Settings(data_dir=data_dir, load_sample_kb=True)
    settings.models.cache_dir = args.models_dir
    # The transformers backend's setting names the model trained (it is what training runs on).
    settings.models.generator_backend = "transformers"
    settings.models.generator = base
    if args.threads:
        settings.models.torch_threads = args.threads
    configure_runtime(settings)
    services = build(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    try:
        load_sample_if_empty(services)
        entries = read_entries(services.sessions)
    finally:
        services.engine.dispose()
    cfg = settings.training
    if args.max_steps is not None:
        cfg = config.merge(cfg, {"generator_max_steps": args.max_steps}, "--max-steps")
    data = build_examples(entries, cfg.holdout_entries, cfg.seed)
    print(
        f"Training {base} on {len(data.train)} examples ({len(data.eval)} held out, of "
        f"{len(data.eval_entries)} entries): {cfg.generator_epochs} epoch(s), batch "
        f"{cfg.generator_batch_size}, learning rate {cfg.generator_learning_rate:g}, rank "
        f"{cfg.generator_lora_rank}, max length {cfg.generator_max_length}"
        + (f", at most {cfg.generator_max_steps} steps" if cfg.generator_max_steps else ""),
        flush=True,
    )
    started = time.monotonic()

    def show(p: StepProgress) -> None:
        if p.step:
            loss = "-" if p.loss is None else f"{p.loss:.3f}"
            print(
                f"  step {p.step}/{p.total}, loss {loss}, {time.monotonic() - started:.0f} s",
                flush=True,
            )

    result = train_generator_lora(settings, data, cfg, on_step=show)
    whole = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_step = result.seconds_per_step
    print(
        f"\nTrained {result.base_model}: {result.steps} steps in {result.seconds / 60:.1f} min"
        + (f" ({per_step:.1f} s a step)" if per_step is not None else "")
        + f"; with loading and both evaluations {whole / 60:.1f} min; peak memory {peak:.0f} MB"
    )
    print(
        f"Held-out loss ({result.eval_examples} examples): {fmt(result.eval_loss_before)} -> "
        f"{fmt(result.eval_loss_after)}; adapter {result.folder}",
        flush=True,
    )
    gc.collect()  # the training's model, before the answer runs load theirs
    return result.folder


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


# ---- 2. answers, base and trained, through llama.cpp ---------------------------------------
def compare(args: argparse.Namespace, base: str, folder: Path, work: Path) -> None:
    """answers.py's run_all for two candidates that differ only in the adapter."""
    from chatbot.container import build_embedder, configure_runtime

    questions = answers.select(answers.load_questions(args.data), args.lang, args.limit)
    facts = answers.SourceFacts(answers.kb_text())
    settings = answers.make_settings(args, work / "shared")
    configure_runtime(settings)
    answers.RECORDER.install()
    embedder = build_embedder(settings)
    getattr(embedder, "warm_up", lambda: None)()
    candidate = f"llamacpp:{base}"
    print(f"\n{len(questions)} questions, embedder {embedder.name}, {candidate}", flush=True)
    rows: list[tuple[str, dict[str, Any]]] = []
    for label, adapter in (("base", ""), ("trained", str(folder))):
        # The settings answers.py builds read the adapter from the environment, as the app does.
        previous = os.environ.pop(ADAPTER_VARIABLE, None)
        if adapter:
            os.environ[ADAPTER_VARIABLE] = adapter
        try:
            turns = answers.run_candidate(args, candidate, questions, facts, embedder, work / label)
        finally:
            os.environ.pop(ADAPTER_VARIABLE, None)
            if previous is not None:
                os.environ[ADAPTER_VARIABLE] = previous
        rows.append((f"{label} {base}", answers.summarise(turns)))
        gc.collect()
    answers.print_tables(rows)
    print()
    for label, summary in rows:
        print(
            f"{label}: facts {answers.fmt_share(summary['facts'])}, "
            f"replaced {answers.fmt_share(summary['replaced'])}"
        )


if __name__ == "__main__":
    main()
