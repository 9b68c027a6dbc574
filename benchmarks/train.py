"""Retrieval before and after `chatbot train retrieval`, in one run.

    .venv/bin/python benchmarks/train.py [--data ../shared/data] [--work /tmp/chatbot-train]

1. The sample knowledge base, as real traffic meets it: a fifth of its FAQ entries is removed
   before anything sees the knowledge base, and their phrasings are asked as questions it
   cannot answer; one alternative phrasing of each other entry that has one is removed too and
   asked as an in-scope question. The product is measured untrained (its own calibration), then
   trained on what is left (the trainer holds out its own questions from that) and measured
   again as it then serves. Five folds, so that every entry is held out once; the figures pool
   them.
2. The dev sets in --data: each FAQ ingested, its dev queries asked untrained, then trained on
   the FAQ and asked again: CLINC MCC, COVID recall@1, xSID per language (queries in English,
   Chinese and German against an English FAQ). A drop of more than 0.01 is flagged.

Each training prints its time and the process's peak memory (resource.getrusage). --sets and
--folds choose a part; --embedder another base model.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatbot.container import SAMPLE_DATA, Services, build, configure_runtime
from chatbot.dialogue import evaluation
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import DEFAULT_EMBEDDER, Settings
from chatbot.training.job import TrainingJob, TrainingResult

REGRESSION = 0.01
DEV_SETS = {
    "clinc150_banking": ["dev_queries"],
    "covid_faq": ["dev_queries"],
    "xsid_multilingual": ["dev_queries_en", "dev_queries_zh", "dev_queries_de"],
}
# Which figure of each dev set must not drop (the others are shown).
WATCHED = {"clinc150_banking": "mcc", "covid_faq": "recall_at_1", "xsid_multilingual": "mcc"}


@dataclass
class Run:
    label: str
    result: TrainingResult
    seconds: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/chatbot-train"))
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER)
    parser.add_argument("--sets", default="sample," + ",".join(DEV_SETS))
    parser.add_argument("--folds", type=int, default=5, help="folds of the sample (1-5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sets = args.sets.split(",")
    runs: list[Run] = []
    if "sample" in sets:
        runs += sample(args.work / "sample", args.embedder, args.folds, args.seed)
    for name in DEV_SETS:
        if name in sets:
            runs += dev_set(args.data, args.work / name, name, args.embedder)
    print("\n## Trainings\n")
    print("| run | pairs | steps | training s | whole run s | adopted | why | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        res = r.result
        print(
            f"| {r.label} | {res.counts['pairs']} | {res.fit.steps} | {res.fit.seconds:.0f} | "
            f"{r.seconds:.0f} | {'yes' if res.adopted else 'no'} | {res.reason} | "
            f"{res.peak_memory_mb:.0f} |"
        )


def settings_for(data_dir: Path, embedder: str) -> Settings:
    settings = Settings(data_dir=data_dir, load_sample_kb=False)
    settings.models.embedder = embedder
    settings.models.cache_dir = data_dir.parent / "models"
    configure_runtime(settings)
    return settings


def fresh(data_dir: Path, embedder: str) -> Services:
    shutil.rmtree(data_dir, ignore_errors=True)
    return build(settings_for(data_dir, embedder), generator=ScriptedGenerator())


def train(services: Services, label: str) -> Run:
    started = time.monotonic()
    job = TrainingJob(
        services.kb,
        services.sessions,
        services.settings,
        services.settings.training,
        services.dialogue.thresholds,
    )
    result = job.run()
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label}: trained in {result.fit.seconds:.0f} s ({result.fit.steps} steps, "
        f"{result.counts['pairs']} pairs), whole run {seconds:.0f} s, peak memory {peak:.0f} MB; "
        f"{'adopted' if result.adopted else 'not adopted'}: {result.reason}",
        flush=True,
    )
    return Run(label, result, seconds)


def served(services: Services) -> Services:
    """The services as a restart builds them: the active trained version and its thresholds."""
    settings = services.settings
    services.engine.dispose()
    return build(settings, generator=ScriptedGenerator())


# ---- 1. the sample knowledge base, real-traffic protocol --------------------------------------
def sample(work: Path, embedder: str, folds: int, seed: int) -> list[Run]:
    rows = list(csv.DictReader((SAMPLE_DATA / "shop_faq.csv").open(encoding="utf-8")))
    ids = sorted({r["id"] for r in rows})
    random.Random(seed).shuffle(ids)
    parts = [ids[i::5] for i in range(5)]
    before: list[evaluation.QueryResult] = []
    after: list[evaluation.QueryResult] = []
    runs = []
    for fold in range(folds):
        removed = set(parts[fold])
        queries = [(r["question"], "") for r in rows if r["id"] in removed]
        kept_rows, asked = [], set()
        for r in rows:
            if r["id"] in removed:
                continue
            first = next(x for x in rows if x["id"] == r["id"])
            if r is not first and r["id"] not in asked:  # one alternative phrasing per entry
                asked.add(r["id"])
                queries.append((r["question"], r["id"]))
                continue
            kept_rows.append(r)
        services = fresh(work / f"fold{fold}", embedder)
        services.kb.ingest_bytes("shop_faq.csv", csv_bytes(kept_rows))
        services.kb.ingest_paths([SAMPLE_DATA / "store_policies.md"])
        before += evaluation.evaluate(services.dialogue, queries)
        runs.append(train(services, f"sample fold {fold + 1}"))
        services = served(services)
        after += evaluation.evaluate(services.dialogue, queries)
        services.engine.dispose()
    b, a = evaluation.metrics(before), evaluation.metrics(after)
    print(
        f"\n## Sample knowledge base ({folds} folds: {a.in_scope} in-scope, {a.out_of_scope} "
        "out-of-scope questions)\n"
    )
    print("| | in-scope acc | OOS recall | MCC | recall@1 |")
    print("|---|---|---|---|---|")
    for label, m in (("untrained", b), ("trained", a)):
        print(
            f"| {label} | {m.in_scope_accuracy:.3f} | {m.oos_recall:.3f} | {m.mcc:.3f} | "
            f"{m.recall_at_1:.3f} |"
        )
    for label, results in (("untrained", before), ("trained", after)):
        cut, m = hindsight(results)
        print(
            f"| {label}, threshold chosen in hindsight ({cut:.3f}) | {m.in_scope_accuracy:.3f} | "
            f"{m.oos_recall:.3f} | {m.mcc:.3f} | {m.recall_at_1:.3f} |"
        )
    targets = [
        ("OOS recall >= 0.80", a.oos_recall >= 0.80),
        ("in-scope accuracy within 0.02", a.in_scope_accuracy >= b.in_scope_accuracy - 0.02),
        ("MCC at least 0.05 higher", a.mcc >= b.mcc + 0.05),
    ]
    print("\n" + "; ".join(f"{t}: {'met' if ok else 'NOT met'}" for t, ok in targets), flush=True)
    return runs


def hindsight(results: list[evaluation.QueryResult]) -> tuple[float, evaluation.Metrics]:
    """The best MCC any one threshold reaches on these questions: what the embedder allows,
    not what a product that has not seen them could pick."""
    best: tuple[float, float, evaluation.Metrics] | None = None
    for cut in sorted({r.score for r in results}):
        decided = [replace(r, predicted_id=top_entry(r) if r.score >= cut else "") for r in results]
        m = evaluation.metrics(decided)
        if best is None or m.mcc > best[0]:
            best = (m.mcc, cut, m)
    assert best is not None
    return best[1], best[2]


def top_entry(r: evaluation.QueryResult) -> str:
    """The best entry of a question, answered or not ("?" when it is not the expected one:
    any wrong entry counts the same)."""
    return r.expected_id if r.rank_of_expected == 1 else "?"


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


# ---- 2. the dev sets -----------------------------------------------------------------------
def dev_set(data: Path, work: Path, name: str, embedder: str) -> list[Run]:
    services = fresh(work, embedder)
    started = time.monotonic()
    services.kb.ingest_paths([data / name / "faq.csv"])
    print(f"{name}: ingested in {time.monotonic() - started:.0f} s", flush=True)
    files = DEV_SETS[name]
    queries = {f: evaluation.read_queries(data / name / f"{f}.csv") for f in files}
    before = {
        f: evaluation.metrics(evaluation.evaluate(services.dialogue, q)) for f, q in queries.items()
    }
    run = train(services, name)
    services = served(services)
    after = {
        f: evaluation.metrics(evaluation.evaluate(services.dialogue, q)) for f, q in queries.items()
    }
    services.engine.dispose()
    watched = WATCHED[name]
    print(f"\n## {name}\n")
    print("| queries | | recall@1 | in-scope acc | OOS recall | MCC | check |")
    print("|---|---|---|---|---|---|---|")
    for f in files:
        lang = f.rsplit("_", 1)[-1] if f != "dev_queries" else ""
        drop = getattr(before[f], watched) - getattr(after[f], watched)
        check = f"{watched} {'drops by ' + format(drop, '.3f') if drop > REGRESSION else 'ok'}"
        for label, m in (("untrained", before[f]), ("trained", after[f])):
            print(
                f"| {lang or f} | {label} | {m.recall_at_1:.3f} | {m.in_scope_accuracy:.3f} | "
                f"{m.oos_recall:.3f} | {m.mcc:.3f} | {check if label == 'trained' else ''} |"
            )
    print(flush=True)
    return [run]


if __name__ == "__main__":
    main()
