"""Concurrent customers against a running chat server, through its public API.

    # against a server you started (give its database so the turns can be checked):
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:7860/ --data-dir data
    # starts `chatbot serve` itself (free port, fresh temp data dir each), once per
    # concurrency setting, same questions -- concurrency 1 against the default in one command:
    .venv/bin/python benchmarks/load.py --start-server --concurrency 1 default
    .venv/bin/python benchmarks/load.py --start-server --customers 8 --turns 2
    # the same on PostgreSQL (a new database per server, dropped afterwards):
    .venv/bin/python benchmarks/load.py --start-server \
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

N simulated customers (default 20) start together and each holds one conversation of several
turns (default 3, no pause between turns) through the chat page's "chat" endpoint with
gradio_client. Each customer is its own Client, so its own Gradio session and its own
conversation state. Every question carries a marker word unique to the customer.

Checked and printed: errors (client exceptions, error replies, stored error status); through
the database (SQLAlchemy; `--database-url` or `--data-dir`), that each customer's turns are
stored exactly once, all in one conversation of its own holding nothing else; that the history
returned to each customer holds exactly its own messages and no other customer's marker.
Measured: answers per minute over the whole run, p50/p95 time to the first streamed partial
answer and to the full answer, as the client sees them (queue wait included; outputs are
polled every `--poll` seconds, 20 ms by default), and the server's own stored first-token and
turn latencies (queue wait excluded).

With a server you started yourself, compare concurrency settings by restarting it with
`CHATBOT_SERVER__CONCURRENCY=1` and without (the default) and running the same command; or use
`--start-server`, which does exactly that. A benchmark, not a test: it asserts nothing (the exit
status is 1 when a check failed).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import free_port, stop, wait_up

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# The same questions for every run: FAQ phrasings (approved answers) and paraphrases
# (generated). Customer i asks QUESTIONS[(i + turn) % len] at each turn.
QUESTIONS = [
    "How do I cancel my order?",
    "my parcel still hasn't shown up, how many days does delivery usually take",
    "How much does shipping cost?",
    "is paypal ok for paying or only credit cards",
    "How do I return an item?",
    "the jacket came with a torn sleeve, what now",
    "How do I reset my password?",
    "how long until the money for my returned boots is back on my card",
]
WARM_UP_QUESTION = "what should I do if the boots I got are the wrong size"


def marker(i: int) -> str:
    """A word unique to customer i (letters only, so privacy masking leaves it alone)."""
    a, b = divmod(i, 26)
    return f"zq{chr(97 + a // 26)}{chr(97 + a % 26)}{chr(97 + b)}"


MARKER_RE = re.compile(r"\bzq[a-z]{3}\b")


def question(i: int, turn: int) -> str:
    return f"{QUESTIONS[(i + turn) % len(QUESTIONS)]} (ref {marker(i)})"


def text_of(content: Any) -> str:
    """A chat message's text, whatever shape the client returns it in."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(text_of(c) for c in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    return "" if content is None else str(content)


def messages(history: Any) -> list[tuple[str, str]]:
    return [(str(m.get("role")), text_of(m.get("content"))) for m in history or []]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Customer:
    index: int
    first_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    history_problems: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)


def run_customer(
    c: Customer, url: str, turns: int, poll: float, start: threading.Barrier, client: Any
) -> None:
    from chatbot.dialogue.manager import ERROR_TEXT

    history: list[Any] = []
    try:
        start.wait()
    except threading.BrokenBarrierError:
        c.errors.append("start barrier broken")
        return
    for turn in range(turns):
        q = question(c.index, turn)
        c.asked.append(q)
        began = time.perf_counter()
        first = None
        try:
            job = client.submit(q, api_name="/chat")  # the server keeps the history
            while not job.done():
                if first is None:
                    for out in job.outputs():
                        msgs = messages(out[0] if isinstance(out, tuple | list) else out)
                        if msgs and msgs[-1][0] == "assistant" and msgs[-1][1]:
                            first = time.perf_counter() - began
                            break
                time.sleep(poll)
            result = job.result()
            total = time.perf_counter() - began
        except Exception as exc:  # counted, not raised: a benchmark reports
            c.errors.append(f"turn {turn}: {type(exc).__name__}: {exc}")
            return
        history = result[0] if isinstance(result, tuple | list) else result
        msgs = messages(history)
        c.first_s.append(first if first is not None else total)
        c.total_s.append(total)
        if msgs and ERROR_TEXT in msgs[-1][1]:
            c.errors.append(f"turn {turn}: error reply")
        # The history must be exactly this customer's own questions, each answered once.
        users = [t for r, t in msgs if r == "user"]
        if users != c.asked or len(msgs) != 2 * len(c.asked):
            c.history_problems.append(f"turn {turn}: history has {len(msgs)} messages {users}")
        others = {m for _, t in msgs for m in MARKER_RE.findall(t)} - {marker(c.index)}
        if others:
            c.history_problems.append(f"turn {turn}: other customers' markers {sorted(others)}")


def check_database(db_url: str, customers: list[Customer], turns: int) -> list[str]:
    """Each customer's turns stored once, all in one conversation holding nothing else."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from chatbot.storage.models import Message

    problems: list[str] = []
    engine = create_engine(db_url)
    with Session(engine) as s:
        rows = s.execute(
            select(Message.conversation_id, Message.role, Message.content, Message.status).order_by(
                Message.id
            )
        ).all()
    engine.dispose()
    by_conv: dict[str, list[Any]] = {}
    for r in rows:
        by_conv.setdefault(r.conversation_id, []).append(r)
    seen_convs: dict[str, int] = {}
    for c in customers:
        mark = marker(c.index)
        convs = {r.conversation_id for r in rows if r.role == "user" and mark in r.content}
        if len(convs) != 1:
            problems.append(f"customer {c.index}: turns in {len(convs)} conversations")
            continue
        conv = convs.pop()
        if conv in seen_convs:
            problems.append(f"customers {seen_convs[conv]} and {c.index} share {conv}")
        seen_convs[conv] = c.index
        stored = by_conv[conv]
        users = [r.content for r in stored if r.role == "user"]
        if users != c.asked:
            problems.append(f"customer {c.index}: stored questions {users} != asked {c.asked}")
        if [r.role for r in stored] != ["user", "assistant"] * len(c.asked):
            problems.append(f"customer {c.index}: roles {[r.role for r in stored]}")
        if any(r.status != "complete" for r in stored):
            problems.append(f"customer {c.index}: a stored message has error status")
        foreign = {m for r in stored for m in MARKER_RE.findall(r.content)} - {mark}
        if foreign:
            problems.append(f"customer {c.index}: conversation holds {sorted(foreign)}")
        if len(c.asked) != turns:
            problems.append(f"customer {c.index}: asked {len(c.asked)} of {turns} turns")
    return problems


def server_latencies(db_url: str, since_id: int) -> tuple[list[float], list[float]]:
    """The server's own stored first-token and turn latencies (s) of answers after since_id."""
    from sqlalchemy import create_engine, select

    from chatbot.storage.models import Message

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Message.first_token_ms, Message.latency_ms).where(
                Message.role == "assistant", Message.id > since_id
            )
        ).all()
    engine.dispose()
    return [r[0] / 1000 for r in rows if r[0] is not None], [
        r[1] / 1000 for r in rows if r[1] is not None
    ]


def max_message_id(db_url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from chatbot.storage.models import Message

    engine = create_engine(db_url)
    with engine.connect() as conn:
        value = conn.execute(select(func.max(Message.id))).scalar()
    engine.dispose()
    return int(value or 0)


def make_client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def run_load(url: str, db_url: str | None, args: argparse.Namespace, label: str) -> bool:
    # A warm-up turn (its own session): the generator loads in the background at start.
    warm = make_client(url)
    warm.predict(WARM_UP_QUESTION, api_name="/chat")
    since = max_message_id(db_url) if db_url else 0
    customers = [Customer(i) for i in range(args.customers)]
    clients = [make_client(url) for _ in customers]
    barrier = threading.Barrier(len(customers) + 1)
    threads = [
        threading.Thread(
            target=run_customer, args=(c, url, args.turns, args.poll, barrier, cl), daemon=True
        )
        for c, cl in zip(customers, clients, strict=True)
    ]
    for t in threads:
        t.start()
    barrier.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began

    errors = [f"customer {c.index}: {e}" for c in customers for e in c.errors]
    history = [f"customer {c.index}: {p}" for c in customers for p in c.history_problems]
    stored = check_database(db_url, customers, args.turns) if db_url else None
    first = [x for c in customers for x in c.first_s]
    total = [x for c in customers for x in c.total_s]
    answers = len(total)
    print(f"\n== {label}: {args.customers} customers x {args.turns} turns, {url}")
    print(f"errors: {len(errors)}")
    for e in errors[:10]:
        print(f"  {e}")
    print(f"history problems (a customer saw a wrong history): {len(history)}")
    for p in history[:10]:
        print(f"  {p}")
    if stored is None:
        print("database check: skipped (give --database-url or --data-dir)")
    else:
        print(f"database problems (turns not stored once in their own conversation): {len(stored)}")
        for p in stored[:10]:
            print(f"  {p}")
    print(
        f"answers: {answers} in {wall:.1f} s = {answers / wall * 60:.1f} answers/minute\n"
        f"client first partial answer: p50 {pct(first, 0.5):.2f} s, p95 {pct(first, 0.95):.2f} s"
        f"\nclient full answer:          p50 {pct(total, 0.5):.2f} s, p95 {pct(total, 0.95):.2f} s"
    )
    if db_url:
        s_first, s_total = server_latencies(db_url, since)
        print(
            f"server first token (no queue): p50 {pct(s_first, 0.5):.2f} s, "
            f"p95 {pct(s_first, 0.95):.2f} s; server turn: p50 {pct(s_total, 0.5):.2f} s, "
            f"p95 {pct(s_total, 0.95):.2f} s"
        )
    if answers:
        print(f"mean client full answer {statistics.fmean(total):.2f} s")
    return not errors and not history and not stored


def memory_mb(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of a process, in MB (Linux /proc; empty elsewhere)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024  # kB
    return values


def with_server(args: argparse.Namespace, concurrency: str) -> bool:
    data_dir = Path(tempfile.mkdtemp(prefix="chatbot-load-"))
    port = free_port()
    env = dict(os.environ)
    env["CHATBOT_MODELS__CACHE_DIR"] = str(args.models_dir)
    env.pop("CHATBOT_DATABASE_URL", None)
    database = None
    if args.postgres:  # a fresh database of its own on that server, dropped afterwards
        database = create_database(args.postgres)
        env["CHATBOT_DATABASE_URL"] = database
    if concurrency == "default":
        env.pop("CHATBOT_SERVER__CONCURRENCY", None)
    else:
        env["CHATBOT_SERVER__CONCURRENCY"] = concurrency
    chatbot = Path(sys.executable).parent / "chatbot"
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(chatbot), "--data-dir", str(data_dir), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        started = time.perf_counter()
        wait_up(url, proc)
        print(f"\nserver up in {time.perf_counter() - started:.0f} s (data dir {data_dir})")
        db_url = database or f"sqlite:///{(data_dir / 'chatbot.db').resolve()}"
        from chatbot.settings import ServerSettings

        default = ServerSettings().concurrency
        label = f"concurrency {concurrency}" + (f" ({default})" if concurrency == "default" else "")
        label += ", PostgreSQL" if database else ", SQLite"
        before = memory_mb(proc.pid)
        ok = run_load(url, db_url, args, label)
        after = memory_mb(proc.pid)
        if before and after:
            print(
                f"server memory: {before['VmRSS']:.0f} MB resident when it first answered, "
                f"{after['VmRSS']:.0f} MB after the run, peak {after['VmHWM']:.0f} MB"
            )
        return ok
    finally:
        stop(proc)
        log.close()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
            if database:
                drop_database(args.postgres, database)


def create_database(server_url: str) -> str:
    """A new, uniquely named database on the PostgreSQL server at `server_url` (an admin
    connection URL); returns its URL."""
    import uuid

    import sqlalchemy as sa

    name = f"chatbot_load_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    import sqlalchemy as sa

    name = sa.make_url(database_url).database
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server, e.g. http://127.0.0.1:7860/")
    parser.add_argument("--database-url", help="the server's database (SQLAlchemy URL)")
    parser.add_argument("--data-dir", type=Path, help="the server's data dir (SQLite)")
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between output polls")
    parser.add_argument(
        "--start-server",
        action="store_true",
        help="start `chatbot serve` (temp data dir, free port) once per --concurrency value",
    )
    parser.add_argument(
        "--concurrency",
        nargs="+",
        default=["1", "default"],
        help="with --start-server: CHATBOT_SERVER__CONCURRENCY values ('default' = unset)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=Path("/tmp/chatbot-bench-models"),
        help="with --start-server: converted-model cache shared by the servers",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers' data dirs and databases"
    )
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="with --start-server: run the servers on a new PostgreSQL database each, created "
        "through this admin URL and dropped afterwards, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()

    ok = True
    if args.start_server:
        for value in args.concurrency:
            ok = with_server(args, value) and ok
    elif args.url:
        db_url = args.database_url
        if db_url is None and args.data_dir is not None:
            db_url = f"sqlite:///{(args.data_dir / 'chatbot.db').resolve()}"
        ok = run_load(args.url, db_url, args, "server at " + args.url)
    else:
        parser.error("give --url of a running server, or --start-server")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
