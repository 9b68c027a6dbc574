"""Replays the answer checks that a `benchmarks/answers.py --json` run recorded, with the
answer check as it is now, and prints every sentence whose verdict changed (and, with
`--all`, every verdict). No model: a change to the check is seen in a minute, on the drafts
the model really wrote.

    .venv/bin/python benchmarks/answer_check_replay.py /tmp/answers.json [--all]

Only the sentences the run judged are replayed: a draft ends at its first failing sentence,
so what the model would have written after it is not known.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the JSON of a benchmarks/answers.py run")
    parser.add_argument("--all", action="store_true", help="print every verdict")
    args = parser.parse_args()

    from chatbot.answers.grounding import AnswerCheck, PassageVectors
    from chatbot.container import build_embedder, configure_runtime
    from chatbot.settings import Settings

    settings = Settings(data_dir=Path("/tmp/answer-check-replay"), load_sample_kb=True)
    configure_runtime(settings)
    embedder = build_embedder(settings)
    cache = PassageVectors(embedder)
    run = json.loads(args.run.read_text(encoding="utf-8"))
    changed = judged = 0
    for candidate in run["candidates"]:
        for turn in candidate["turns"]:
            for record in turn.get("checks", []):
                # (The dialogue's default threshold: the container never sets another.)
                check = AnswerCheck(
                    record["passages"], embedder, cache=cache, question=record["question"]
                )
                for sentence, reason, _score in record["verdicts"]:
                    judged += 1
                    now = check.sentence(sentence)
                    if now.reason != reason:
                        changed += 1
                    if now.reason != reason or args.all:
                        print(f"{turn['id']:30} {reason:18} -> {now.reason:18} | {sentence}")
    print(f"\n{changed} of {judged} verdicts changed")


if __name__ == "__main__":
    main()
