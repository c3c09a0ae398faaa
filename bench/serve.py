"""`serve` under load: how fast `/` answers with 1,000 runs in the log, and what 20 open pages
cost the server while runs work.

    .venv/bin/python bench/serve.py            # prints a Markdown table (about 2 minutes)
    .venv/bin/python bench/serve.py --quick    # a 20 s window instead of 60 s

The run log holds 1,000 finished runs of a night (tests/fakes/night.py: every kind of ending,
pauses, checks, people at the pane; written through RunLog), and `serve` runs as the command
line does. Figures:

- `/` with 1,000 runs: wall time of GET / over a kept-alive connection (the whole page:
  the overview, the plots, every run of the window), median and max of 20, after one first;
- CPU of the server with 20 pages open (20 event streams, each what a page's script opens)
  while 4 runs work (the command line in autonomous mode, the simulated agent in tmux, the fake
  supervisor: each turn 5 s), read from /proc/<serve pid>/stat over the window, % of one core;
  the same with the 20 pages open and no run working; and with no page open while runs work;
- renders: how many fragments the server rendered in the window (one reader for all pages).
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fakes.fake_openai import FakeOpenAI  # noqa: E402
from tests.fakes.night import make_night  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
FAKE_AGENT = ROOT / "tests" / "fakes" / "fake_agent.py"


def cpu_seconds(pid: int) -> float:
    """A process's CPU seconds so far, all its threads (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start_serve(env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "claude_orchestrator", "serve", "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r":(\d+)/ ", line)
    if found is None:
        proc.kill()
        raise SystemExit(f"serve did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    return proc, int(found.group(1))


def page_times(port: int, n: int = 20) -> tuple[float, list[float], int]:
    """The first GET / and `n` more over one kept-alive connection: seconds, and the size."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times, size = [], 0
    for _ in range(n + 1):
        started = time.perf_counter()
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read()
        times.append(time.perf_counter() - started)
        assert response.status == 200, response.status
        size = len(body)
    conn.close()
    return times[0], times[1:], size


class Streams:
    """`count` event streams of the overview, as open pages hold them; bytes received."""

    def __init__(self, port: int, count: int) -> None:
        self.received = 0
        self.events = 0
        self.lock = threading.Lock()
        self.socks = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(f"GET /events?topic=overview:24 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Accept: text/event-stream\r\n\r\n".encode())
            self.socks.append(s)
            threading.Thread(target=self._read, args=(s,), daemon=True).start()

    def _read(self, s: socket.socket) -> None:
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    return
                with self.lock:
                    self.received += len(data)
                    self.events += data.count(b"event: fragment")
        except OSError:
            return

    def close(self) -> None:
        for s in self.socks:
            s.close()


def start_runs(env: dict[str, str], count: int, turns: int, base: Path,
               supervisor: FakeOpenAI) -> tuple[list[subprocess.Popen[str]], str]:
    """`count` autonomous runs of `turns` turns of 5 s each, on one private tmux socket."""
    socket_name = f"co-bench-{uuid.uuid4().hex[:8]}"
    supervisor.responder = lambda request: "sleep 5"
    runs = []
    for n in range(count):
        work = base / f"work-{n}"
        work.mkdir(exist_ok=True)
        runs.append(subprocess.Popen(
            [sys.executable, "-m", "claude_orchestrator", "--task", f"bench run {n}",
             "--socket", socket_name, "--session", f"bench-{n}", "--agent", "claude",
             "--claude-cmd", f"{sys.executable} {FAKE_AGENT}", "--max-iterations",
             str(turns), "--terminate-when-quit", str(work)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, text=True))
    return runs, socket_name


def window(pid: int, seconds: float) -> float:
    """% of one core `pid` used over the next `seconds`."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 s windows instead of 60 s")
    parser.add_argument("--runs", type=int, default=1000, help="runs in the log (1000)")
    args = parser.parse_args()
    span = 20.0 if args.quick else 60.0
    base = Path(tempfile.mkdtemp(prefix="co-bench-serve-"))
    (base / "run").mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENROUTER_", "CLAUDE_", "TMUX"))}
    env.update(CLAUDE_ORCHESTRATOR_RUNLOG=str(base / "runs.sqlite3"),
               XDG_RUNTIME_DIR=str(base / "run"),
               OPENROUTER_API_KEY="sk-or-v1-bench-key-0123456789")
    made = time.monotonic()
    make_night(base / "runs.sqlite3", args.runs, hours=10)
    print(f"wrote {args.runs} runs in {time.monotonic() - made:.1f}s", file=sys.stderr)
    serve, port = start_serve(env)
    socket_name = ""
    try:
        first, times, size = page_times(port)
        with FakeOpenAI() as supervisor:
            env["OPENROUTER_BASE_URL"] = supervisor.base_url
            streams = Streams(port, 20)
            time.sleep(3)
            idle_pages = window(serve.pid, span / 2)
            runs, socket_name = start_runs(env, 4, 1000, base, supervisor)
            time.sleep(5)  # they start, and their first turns begin
            events_before = streams.events
            working_pages = window(serve.pid, span)
            events = streams.events - events_before
            streams.close()
            time.sleep(2)
            working_no_pages = window(serve.pid, span / 2)
            for run in runs:
                run.terminate()
            for run in runs:
                run.wait(timeout=120)
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        if socket_name:
            subprocess.run(["tmux", "-L", socket_name, "kill-server"], capture_output=True)
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.runs} runs in the log, page {size / 1e6:.2f} MB; "
          f"{span:g} s window; {time.strftime('%Y-%m-%d')}.\n")
    print("| figure | serve | target |\n| --- | --- | --- |")
    print(f"| `/` with {args.runs} runs (median of 20; max) | {statistics.median(times):.3f} s "
          f"({max(times):.3f}) | < 0.2 s |")
    print(f"| `/` the first time | {first:.3f} s | - |")
    print(f"| CPU, 20 pages open while 4 runs work | {working_pages:.2f} % of a core | < 1 % |")
    print(f"| CPU, 20 pages open, no run working | {idle_pages:.2f} % | - |")
    print(f"| CPU, no page open while 4 runs work | {working_no_pages:.2f} % | - |")
    print(f"| fragments pushed to the 20 pages in the window | {events} ({events / 20:.0f} "
          "per page) | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
