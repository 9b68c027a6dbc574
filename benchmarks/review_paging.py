"""Paging and filtered search of the review console at 100,000 conversations.

    .venv/bin/python benchmarks/review_paging.py
    .venv/bin/python benchmarks/review_paging.py --conversations 20000 --repeats 10

Builds a temporary SQLite database with the real schema (Alembic migrations), bulk-inserts the
conversations (a customer message, a bot answer and a second customer message each; some
declined or handed off, a few rated or labelled) and times `ConversationLog.search`, the call
the Conversations tab makes: the match count plus one page of rows with their details. It runs
once without the index on `conversations.created_at` (the sort key; migration 0004 adds it)
and once with the schema as migrated, to show what that index buys. Searches past the last
page are left out (a small `--conversations` has fewer than 100 pages).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chatbot.staff.conversations import ConversationLog  # noqa: E402
from chatbot.storage import db  # noqa: E402
from chatbot.storage.models import Conversation, Message  # noqa: E402
from chatbot.storage.review_search import LABELS, ReviewFilters  # noqa: E402

TOPICS = [
    "refund",
    "delivery",
    "password",
    "invoice",
    "return label",
    "discount code",
    "gift card",
    "size guide",
    "warranty",
    "order status",
]
START = datetime(2025, 1, 1, tzinfo=UTC)


def populate(sessions_factory: Callable[[], object], engine: object, n: int, seed: int) -> None:
    rng = random.Random(seed)
    batch = 5000
    message_id = 0
    for start in range(0, n, batch):
        convs: list[dict[str, object]] = []
        msgs: list[dict[str, object]] = []
        for i in range(start, min(start + batch, n)):
            created = START + timedelta(seconds=i * 300 + rng.randrange(300))
            topic = rng.choice(TOPICS)
            roll = rng.random()
            decision = "answer" if roll < 0.7 else "fallback" if roll < 0.9 else "handoff"
            cid = f"c{i:07d}-0000-0000-0000-000000000000"
            convs.append(
                {
                    "id": cid,
                    "channel": "web",
                    "title": f"Question about my {topic} #{i}",
                    "needs_human": decision == "handoff",
                    "handoff_reason": "requested" if decision == "handoff" else None,
                    "labels": rng.choice(LABELS) if rng.random() < 0.02 else None,
                    "created_at": created,
                    "updated_at": created + timedelta(seconds=40),
                }
            )
            rating = None
            if rng.random() < 0.05:
                rating = 1 if rng.random() < 0.6 else -1
            for k, (role, content) in enumerate(
                [
                    ("user", f"Hi, I have a question about my {topic} (order {i})"),
                    ("assistant", f"Here is what our help article says about {topic}."),
                    ("user", "Thanks, and how long does that usually take?"),
                ]
            ):
                message_id += 1
                msgs.append(
                    {
                        "id": message_id,
                        "conversation_id": cid,
                        "role": role,
                        "content": content,
                        "decision": decision if role == "assistant" else None,
                        "reason": None,
                        "rating": rating if role == "assistant" else None,
                        "status": "complete",
                        "created_at": created + timedelta(seconds=20 * k),
                    }
                )
        with sessions_factory.begin() as s:  # type: ignore[attr-defined]
            s.execute(insert(Conversation), convs)
            s.execute(insert(Message), msgs)


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def run(log: ConversationLog, repeats: int) -> list[tuple[str, float, int]]:
    cases: list[tuple[str, ReviewFilters, int]] = [
        ("page 1, no filter", ReviewFilters(), 1),
        ("page 100, no filter", ReviewFilters(), 100),
        ("page 1, text 'refund' + declined", ReviewFilters(text="refund", outcome="declined"), 1),
        ("page 1, thumbs down", ReviewFilters(rating="thumbs down"), 1),
        ("page 1, label missing-faq", ReviewFilters(label="missing-faq"), 1),
        ("page 1, needs human", ReviewFilters(outcome="needs human"), 1),
        ("page 1, answered", ReviewFilters(outcome="answered"), 1),
        (
            "page 1, one month",
            ReviewFilters(date_from=date(2025, 3, 1), date_to=date(2025, 3, 31)),
            1,
        ),
    ]
    out = []
    for label, filters, page in cases:
        rows, total = log.search(filters, page=page, page_size=20)
        if not rows:  # past the last page of a small database
            continue
        out.append(
            (label, median_ms(lambda f=filters, p=page: log.search(f, p, 20), repeats), total)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'review.db'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        sessions = db.make_sessions(engine)
        started = time.perf_counter()
        populate(sessions, engine, args.conversations, args.seed)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        print(
            f"inserted {args.conversations:,} conversations, {3 * args.conversations:,} messages "
            f"in {time.perf_counter() - started:.1f} s (SQLite)"
        )
        log = ConversationLog(sessions)
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_conversations_created_at"))
            conn.execute(text("ANALYZE"))
        before = run(log, args.repeats)
        with engine.begin() as conn:
            conn.execute(
                text("CREATE INDEX ix_conversations_created_at ON conversations (created_at)")
            )
            conn.execute(text("ANALYZE"))
        after = run(log, args.repeats)
        engine.dispose()

    print()
    print(f"median of {args.repeats} runs, ms (count + one page of 20 rows)")
    print("| search | matches | without the created_at index | as migrated |")
    print("|---|---:|---:|---:|")
    for (label, ms, total), (_, ms2, _) in zip(before, after, strict=True):
        print(f"| {label} | {total:,} | {ms:.1f} | {ms2:.1f} |")


if __name__ == "__main__":
    main()
