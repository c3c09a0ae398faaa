"""Many sessions at once: 1, 2, 4 and 8 orchestrators, each driving its own real Claude Code
(offline, one fake Anthropic API on 127.0.0.1) in its own tmux session on one socket, as a
batch runs them.

    .venv/bin/python bench/concurrency.py            # prints a Markdown table
    .venv/bin/python bench/concurrency.py --quick    # 1, 2 and 4 sessions, shorter turns

Each orchestrator is the command line in autonomous mode (as `batch` runs it), its supervisor a
fake OpenAI-compatible API on 127.0.0.1 that sends a fixed list of messages. A sampler reads
/proc five times a second: each orchestrator's CPU (its own, its waited-for children's, and its
live descendants': the control-mode client, tmux commands; not the tmux server, not Claude) and
its peak resident memory (VmHWM). Figures per session count:

- dead time: the API's last streamed event of a turn -> the orchestrator had the reply (the
  reply time comes from the run log's timings), median and max over every turn of every session;
- CPU per session while Claude works: CPU inside each turn's window (the API received the
  request + 0.5 s -> its last event), over the windows' length, % of one core; median and max
  over sessions;
- resident memory per orchestrator: peak RSS, median and max over sessions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fakes.claude_env import claude_env, prepare_home  # noqa: E402
from tests.fakes.fake_anthropic import FakeAnthropic, Reply  # noqa: E402
from tests.fakes.fake_openai import FakeOpenAI  # noqa: E402

KEY = "sk-ant-bench-0123456789abcdefghijklmnop"
TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, waited-for children's CPU seconds)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK,
            (int(fields[13]) + int(fields[14])) / TICK)


def tree_cpu(root: int) -> float:
    """CPU seconds of `root` and every process below it, dead (waited for) or alive."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                stats[int(entry)] = st
    if root not in stats:
        return float("nan")
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        _, own, waited = stats[pid]
        total += own + (waited if pid == root else 0.0)
        todo += [p for p, st in stats.items() if st[0] == pid]
    return total


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class World:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="co-bench-many-"))
        self.work = self.tmp / "work"
        self.work.mkdir()
        (self.tmp / "run").mkdir(mode=0o700)
        home = prepare_home(self.tmp / "home", KEY, trusted_dirs=[self.work])
        self.duration = 0.0
        self.turns = 0
        self.api = FakeAnthropic(self.reply_for)
        self.api.start()
        self.supervisor = FakeOpenAI(self.supervise)
        self.supervisor.__enter__()
        self.env = claude_env(home, self.api.base_url, KEY)
        self.env.update(XDG_RUNTIME_DIR=str(self.tmp / "run"),
                        CLAUDE_ORCHESTRATOR_RUNLOG=str(self.tmp / "runs.sqlite3"),
                        OPENROUTER_API_KEY="sk-or-v1-bench-0123456789abcdef",
                        OPENROUTER_BASE_URL=self.supervisor.base_url)

    def supervise(self, request: dict[str, object]) -> str:
        """The next message of the session named in the task, then TASK_COMPLETE."""
        messages: list[dict[str, str]] = request["messages"]  # type: ignore[assignment]
        task = next(m["content"] for m in messages if m["role"] == "user")
        name = task.split("Bench ", 1)[1].split(".", 1)[0]
        done = sum(m["role"] == "assistant" for m in messages)
        return f"{name} turn {done}" if done < self.turns else "All done.\nTASK_COMPLETE"

    def reply_for(self, text: str) -> Reply:
        return Reply(f"done: {text}", duration=self.duration)

    def round(self, sessions: int, turns: int, duration: float) -> list[dict[str, object]]:
        """`sessions` orchestrators at once, each sending `turns` messages of `duration` s."""
        self.duration, self.turns = duration, turns
        socket = f"co-bench-{uuid.uuid4().hex[:8]}"
        procs, messages = [], []
        for k in range(sessions):
            name = f"session-{k}-{uuid.uuid4().hex[:6]}"
            proc = subprocess.Popen(
                [sys.executable, "-m", "claude_orchestrator", "--task", f"Bench {name}.",
                 "--socket", socket, "--session", f"s{k}", "--terminate-when-quit",
                 "--max-iterations", str(turns + 1), str(self.work)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=self.env)
            procs.append(proc)
            messages.append([f"{name} turn {i}" for i in range(turns)])
        samples: list[list[tuple[float, float]]] = [[] for _ in procs]
        peaks = [0.0 for _ in procs]
        while any(p.poll() is None for p in procs):
            now = time.time()
            for k, p in enumerate(procs):
                if p.poll() is None:
                    samples[k].append((now, tree_cpu(p.pid)))
                    peaks[k] = max(peaks[k], peak_rss_mb(p.pid))
            time.sleep(0.2)
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
        if any(p.returncode for p in procs):
            raise SystemExit(f"an orchestrator failed: {[p.returncode for p in procs]}")
        return [{"messages": m, "samples": s, "rss_mb": r}
                for m, s, r in zip(messages, samples, peaks, strict=True)]

    def cpu_while_working(self, result: dict[str, object]) -> float:
        """% of a core inside the session's turn windows (Claude working, we waiting)."""
        requests = {r.last_user_text: r for r in self.api.requests}
        samples: list[tuple[float, float]] = result["samples"]  # type: ignore[assignment]
        used = seconds = 0.0
        for message in result["messages"]:  # type: ignore[attr-defined]
            rec = requests[message]
            start, end = rec.received_wall + 0.5, rec.finished_wall
            inside = [(t, c) for t, c in samples if start <= t <= end and c == c]
            if len(inside) < 2:
                continue
            used += inside[-1][1] - inside[0][1]
            seconds += inside[-1][0] - inside[0][0]
        return used / seconds * 100 if seconds else float("nan")

    def dead_times(self, results: list[dict[str, object]]) -> list[float]:
        """Per turn: the orchestrator's reply time (run log) - the API's last event."""
        finished = {r.last_user_text: r.finished_wall for r in self.api.requests
                    if r.finished_wall is not None}
        db = sqlite3.connect(self.env["CLAUDE_ORCHESTRATOR_RUNLOG"])
        out = []
        for r in results:
            for message in r["messages"]:  # type: ignore[attr-defined]
                row = db.execute("SELECT timings FROM turns WHERE message = ?",
                                 (message,)).fetchone()
                reply_at = json.loads(row[0])["reply_at"]
                out.append(reply_at - finished[message])
        db.close()
        return out

    def close(self) -> None:
        self.api.stop()
        self.supervisor.__exit__(None, None, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    counts = (1, 2, 4) if args.quick else (1, 2, 4, 8)
    turns, long_s = (3, 4.0) if args.quick else (4, 8.0)
    world = World()
    rows = []
    try:
        for n in counts:
            results = world.round(n, turns, long_s)
            dead = world.dead_times(results)
            cpu = [world.cpu_while_working(r) for r in results]
            rss = [float(r["rss_mb"]) for r in results]  # type: ignore[arg-type]
            rows.append((n, statistics.median(dead), max(dead), statistics.median(cpu),
                         max(cpu), statistics.median(rss), max(rss)))
            print(f"{n} sessions: dead {statistics.median(dead):.3f}/{max(dead):.3f} s, "
                  f"cpu {statistics.median(cpu):.2f}/{max(cpu):.2f} %, rss "
                  f"{statistics.median(rss):.1f}/{max(rss):.1f} MB", file=sys.stderr)
    finally:
        world.close()
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
    claude = subprocess.run(["claude", "--version"], capture_output=True, text=True,
                            env=world.env).stdout.split()[0]
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, Claude Code {claude}, {tmux}; {turns} turns of "
          f"{long_s:g} s per session.\n")
    print("| sessions at once | dead time median (max) | CPU per session while Claude works "
          "(max) | memory per orchestrator (max) |")
    print("| --- | --- | --- | --- |")
    for n, dmed, dmax, cmed, cmax, rmed, rmax in rows:
        print(f"| {n} | {dmed:.3f} s ({dmax:.3f}) | {cmed:.2f} % ({cmax:.2f}) | "
              f"{rmed:.1f} MB ({rmax:.1f}) |")
    print("| goal (8 sessions) | <= 0.05 s | <= 0.3 % | <= 40 MB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
