"""Retrieval and decline quality, from a naive baseline to the product's method, in one run.

    .venv/bin/python benchmarks/evaluate.py [--data ../shared/data] [--work /tmp/chatbot-eval]

For each embedder and data set it ingests the FAQ once (cached in --work), then evaluates the
dev queries under each retrieval configuration, with the threshold the product calibrates by
itself (no labels). Prints a Markdown table.

    .venv/bin/python benchmarks/evaluate.py --languages

instead evaluates the product's method on each data set's dev queries per language (xSID's
English, Chinese and German translations of one query set against an English FAQ), with the
English embedder alone and joined with the multilingual one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatbot.container import build, configure_runtime
from chatbot.dialogue import evaluation
from chatbot.generation.scripted import ScriptedGenerator
from chatbot.settings import DEFAULT_EMBEDDER, FAST_EMBEDDER, Settings
from knowledge_base.multilingual import USE_SPEC
from knowledge_base.retriever import HybridRetriever, RetrievalConfig

CONFIGS = [
    ("naive dense: nearest phrasing", RetrievalConfig(knn=1, lexical_weight=0, use_answers=False)),
    ("+ answer passages", RetrievalConfig(knn=1, lexical_weight=0, use_answers=True)),
    ("+ k-NN phrasing vote (k=3)", RetrievalConfig(knn=3, lexical_weight=0, use_answers=True)),
    ("+ BM25 bonus (product)", RetrievalConfig(knn=3, lexical_weight=0.1, use_answers=True)),
]
SETS = {"covid_faq": "COVID FAQ", "clinc150_banking": "CLINC150 banking"}


# Languages: each data set's dev queries per language, English-only vs language-routed.
LANGUAGE_SETS = {
    "xsid_multilingual": ["dev_queries_en", "dev_queries_zh", "dev_queries_de"],
    "covid_faq": ["dev_queries"],
    "clinc150_banking": ["dev_queries"],
}
LANGUAGE_EMBEDDERS = {"English only": "", "English + multilingual (product)": USE_SPEC}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/chatbot-eval"))
    parser.add_argument("--embedders", default=f"{FAST_EMBEDDER},{DEFAULT_EMBEDDER}")
    parser.add_argument(
        "--languages",
        action="store_true",
        help="instead: the product's method per query language, with and without the "
        "multilingual embedder (the default English embedder)",
    )
    args = parser.parse_args()
    if args.languages:
        languages(args.data, args.work)
        return
    print(
        "| embedder | data set | method | threshold | recall@1 | recall@5 | MRR@10 | "
        "in-scope acc | OOS recall | OOS precision | MCC |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for embedder in args.embedders.split(","):
        short = embedder.split(":")[-1]
        for folder, title in SETS.items():
            settings = Settings(
                data_dir=args.work / short.replace("/", "_") / folder, load_sample_kb=False
            )
            settings.models.embedder = embedder
            settings.models.cache_dir = args.work / "models"
            configure_runtime(settings)
            services = build(settings, generator=ScriptedGenerator())
            if services.kb.is_empty():
                services.kb.ingest_paths([args.data / folder / "faq.csv"])
            rows = evaluation.read_queries(args.data / folder / "dev_queries.csv")
            for name, config in CONFIGS:
                services.kb.retriever = HybridRetriever.for_embedder(services.kb.embedder, config)
                services.dialogue.thresholds._cached = None
                services.dialogue.thresholds.reset()
                threshold = services.dialogue.threshold()
                m = evaluation.metrics(evaluation.evaluate(services.dialogue, rows))
                print(
                    f"| {short} | {title} | {name} | {threshold:.3f} | {m.recall_at_1:.3f} | "
                    f"{m.recall_at_5:.3f} | {m.mrr_at_10:.3f} | {m.in_scope_accuracy:.3f} | "
                    f"{m.oos_recall:.3f} | {m.oos_precision:.3f} | {m.mcc:.3f} |",
                    flush=True,
                )
            services.engine.dispose()


def languages(data: Path, work: Path) -> None:
    print(
        "| embedder | data set | queries | threshold | recall@1 | in-scope acc | OOS recall | MCC |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, multilingual in LANGUAGE_EMBEDDERS.items():
        for folder, query_files in LANGUAGE_SETS.items():
            settings = Settings(
                data_dir=work
                / "languages"
                / (multilingual or "english").replace(":", "_")
                / folder,
                load_sample_kb=False,
            )
            settings.models.multilingual_embedder = multilingual
            settings.models.cache_dir = work / "models"
            configure_runtime(settings)
            services = build(settings, generator=ScriptedGenerator())
            if services.kb.is_empty():
                services.kb.ingest_paths([data / folder / "faq.csv"])
            for name in query_files:
                rows = evaluation.read_queries(data / folder / f"{name}.csv")
                lang = name.rsplit("_", 1)[-1] if name != "dev_queries" else "en"
                threshold = services.dialogue.threshold(lang)
                m = evaluation.metrics(evaluation.evaluate(services.dialogue, rows))
                print(
                    f"| {label} | {folder} | {lang} | {threshold:.3f} | {m.recall_at_1:.3f} | "
                    f"{m.in_scope_accuracy:.3f} | {m.oos_recall:.3f} | {m.mcc:.3f} |",
                    flush=True,
                )
            services.engine.dispose()


if __name__ == "__main__":
    main()
