"""Benchmarks: the orchestrator against a re-implementation of the Go original's fixed-timing
algorithm, both driving the real Claude Code CLI (offline, fake Anthropic API on 127.0.0.1).

    .venv/bin/python bench/run.py            # prints a Markdown table (medians, min-max)
    .venv/bin/python bench/run.py --quick    # fewer repetitions

Each figure is the median of several runs, measured side by side in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.baseline import baseline_turn  # noqa: E402
from bench.concurrency import peak_rss_mb, tree_cpu  # noqa: E402
from claude_orchestrator.config import resolve  # noqa: E402
from claude_orchestrator.progress import QuietReporter  # noqa: E402
from claude_orchestrator.session import AgentSession  # noqa: E402
from claude_orchestrator.turn import run_turn  # noqa: E402
from tests.fakes.claude_env import claude_bin, claude_env, prepare_home  # noqa: E402
from tests.fakes.fake_anthropic import FakeAnthropic, Reply  # noqa: E402

KEY = "sk-ant-bench-0123456789abcdefghijklmnop"


@dataclass
class Figure:
    name: str
    ours: list[float]
    baseline: list[float] | None
    unit: str
    target: str
    text: str | None = None  # a cell that is not a median (e.g. a series)

    def cell(self, values: list[float] | None) -> str:
        if self.text is not None and values is self.ours:
            return self.text
        if not values:
            return "-"
        med = statistics.median(values)
        fmt = "{:.3f}" if self.unit == "s" else "{:.2f}"
        text = fmt.format(med) + f" {self.unit}"
        if len(values) > 1:
            text += f" ({fmt.format(min(values))}-{fmt.format(max(values))})"
        return text


class Bench:
    def __init__(self, quick: bool) -> None:
        self.n = 4 if quick else 10
        self.tmp = Path(tempfile.mkdtemp(prefix="co-bench-"))
        self.home = self.tmp / "home"
        self.work = self.tmp / "work"
        self.work.mkdir()
        (self.tmp / "run").mkdir(mode=0o700)
        prepare_home(self.home, KEY, trusted_dirs=[self.work])
        self.api = FakeAnthropic()
        self.api.start()
        self.env = claude_env(self.home, self.api.base_url, KEY)
        self.env["XDG_RUNTIME_DIR"] = str(self.tmp / "run")
        self.env["CLAUDE_ORCHESTRATOR_RUNLOG"] = str(self.tmp / "runs.sqlite3")
        os.environ.update(self.env)
        self.figures: list[Figure] = []
        self.base_dead: list[float] = []  # the Go algorithm's dead time (it prints at once)

    # ----------------------------------------------------------------- helpers
    @contextmanager
    def session(self, agent: str = "auto") -> Iterator[AgentSession]:
        socket = f"co-bench-{uuid.uuid4().hex[:8]}"
        cfg = resolve({"socket": socket, "agent": agent}, self.env, workdir=str(self.work))
        sess = AgentSession(cfg, QuietReporter(), environ=self.env)
        try:
            sess.ensure_ready()
            yield sess
        finally:
            sess.close(terminate=True)

    def turns(self, sess: AgentSession, n: int, make: Callable[[int], str]
              ) -> list[tuple[float, float, float, float]]:
        """(sent, confirmed, api received, api finished, reply) per turn, wall clock."""
        out = []
        for i in range(n):
            result = run_turn(sess, make(i))
            rec = self.api.requests[-1]
            assert rec.finished_wall is not None
            out.append((result.sent_at, result.confirmed_at or result.sent_at,
                        rec.received_wall, rec.finished_wall, result.reply_at))
        return out

    # ----------------------------------------------------------------- figures
    def dead_time(self) -> None:
        with self.session() as sess:
            run_turn(sess, "warm up")
            hook = self.turns(sess, self.n, lambda i: f"hook path message {i}")
        with self.session("generic") as sess:
            run_turn(sess, "warm up")
            screen = self.turns(sess, self.n, lambda i: f"screen path message {i}")
        base: list[tuple[float, float, float, float, float]] = []
        with self.session() as sess:
            run_turn(sess, "warm up")
            for i in range(max(3, self.n // 2)):
                t = baseline_turn(sess.config.socket, sess.config.session, f"baseline {i}")
                rec = self.api.requests[-1]
                assert rec.finished_wall is not None
                base.append((t.sent_at, t.entered_at, rec.received_wall, rec.finished_wall,
                             t.reply_at))
        self.base_dead = [r[4] - r[3] for r in base]
        self.figures += [
            Figure("dead time, hook path (API's last event -> reply had)",
                   [r[4] - r[3] for r in hook], [r[4] - r[3] for r in base], "s", "<= 0.05 s"),
            Figure("dead time, screen path (--agent generic)",
                   [r[4] - r[3] for r in screen], None, "s", "<= 0.5 s"),
            Figure("delivery: message handed -> request at the API",
                   [r[2] - r[0] for r in hook], [r[2] - r[0] for r in base], "s", "-"),
            Figure("overhead of an instant turn (handed -> reply, minus the API's time)",
                   [(r[4] - r[0]) - (r[3] - r[2]) for r in hook],
                   [(r[4] - r[0]) - (r[3] - r[2]) for r in base], "s", "-"),
        ]

    def dead_time_stdout(self) -> None:
        """What the person sees: the chat CLI over a pipe, from the API's last streamed event to
        the reply's line on the product's stdout (the Go tool printed the reply as soon as it
        had it: its figure is its dead time)."""
        socket = f"co-bench-{uuid.uuid4().hex[:8]}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", socket,
             "--terminate-when-quit", str(self.work)], env=self.env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        assert proc.stdin is not None and proc.stdout is not None
        lines: list[tuple[float, str]] = []
        arrived = threading.Condition()

        def read(stream: IO[str]) -> None:
            for line in stream:
                with arrived:
                    lines.append((time.time(), line))
                    arrived.notify_all()

        reader = threading.Thread(target=read, args=(proc.stdout,), daemon=True)
        reader.start()
        dead = []
        try:
            for i in range(self.n + 1):  # the first one warms up
                text = f"stdout path {i}"
                proc.stdin.write(text + "\n")
                proc.stdin.flush()
                with arrived:
                    assert arrived.wait_for(lambda t=text: any(f"ECHO: {t}" in line
                                                               for _, line in lines), 120)
                    seen = next(at for at, line in lines if f"ECHO: {text}" in line)
                rec = next(r for r in self.api.requests if r.last_user_text == text)
                assert rec.finished_wall is not None
                if i:
                    dead.append(seen - rec.finished_wall)
            proc.stdin.write("/quit\n")
            proc.stdin.flush()
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.figures.insert(0, Figure(
            "dead time to stdout (chat over a pipe: API's last event -> reply line printed)",
            dead, self.base_dead or None, "s", "<= 0.05 s"))

    def delivery(self) -> None:
        texts = {
            "1 line": "a single line to deliver",
            "50 lines": "\n".join(f"line {i}: some text here" for i in range(50)),
            "10 KB": "\n".join(f"{i:04d} " + "y" * 95 for i in range(100)),
        }
        with self.session() as sess:
            run_turn(sess, "warm up")
            for label, text in texts.items():
                rows = self.turns(sess, max(3, self.n // 2), lambda i, t=text: f"{i} {t}")
                self.figures.append(Figure(f"delivery confirmed (UserPromptSubmit), {label}",
                                           [r[1] - r[0] for r in rows], None, "s", "<= 0.2 s"))

    def cpu_while_waiting(self) -> None:
        """CPU of the orchestrator and every process it started, per second of Claude working,
        counted inside the turn (from 2 s after the request reached the API to 2 s before the
        reply ends: start-up and shutdown are not waiting), from /proc (bench/concurrency.py).
        The same window for the Go algorithm's waiting loop."""
        long_s = 14.0 if self.n < 10 else 30.0

        def window(pid: int, text: str) -> float:
            rec = self._wait_request(text)
            time.sleep(max(0.0, rec.received_wall + 2.0 - time.time()))
            c0, t0 = tree_cpu(pid), time.monotonic()
            time.sleep(long_s - 4.0)
            return (tree_cpu(pid) - c0) / (time.monotonic() - t0) * 100

        def cli_cpu(i: int) -> tuple[float, float]:
            text = f"wait for me {i}"
            self.api.push(Reply("done waiting", duration=long_s))
            socket = f"co-bench-{uuid.uuid4().hex[:8]}"
            proc = subprocess.Popen(
                [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", socket,
                 "--terminate-when-quit", str(self.work)], env=self.env,
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                text=True)
            assert proc.stdin is not None
            proc.stdin.write(text + "\n")
            proc.stdin.flush()
            try:
                cpu = window(proc.pid, text)
                rss = peak_rss_mb(proc.pid)
                proc.communicate("/quit\n", timeout=long_s + 60)
            finally:
                if proc.poll() is None:
                    proc.kill()
            return cpu, rss

        def base_cpu(i: int) -> float:
            text = f"base wait {i}"
            self.api.push(Reply("done waiting", duration=long_s))
            with self.session() as sess:
                code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                        "from bench.baseline import baseline_turn; "
                        f"baseline_turn({sess.config.socket!r}, {sess.config.session!r}, "
                        f"{text!r})")
                proc = subprocess.Popen([sys.executable, "-c", code])
                try:
                    cpu = window(proc.pid, text)
                    proc.wait(long_s + 120)
                finally:
                    if proc.poll() is None:
                        proc.kill()
            return cpu

        ours, base, rss = [], [], []
        for i in range(2 if self.n < 10 else 3):
            cpu, peak = cli_cpu(i)
            ours.append(cpu)
            rss.append(peak)
            base.append(base_cpu(i))
        self.figures.append(Figure(f"CPU while Claude works ({long_s:g} s turn, % of a core)",
                                   ours, base, "%", "<= 0.3 %"))
        self.figures.append(Figure("peak resident memory of the orchestrator", rss, None, "MB",
                                   "-"))

    def _wait_request(self, text: str, timeout: float = 120.0) -> Any:
        """The API's record of the request carrying `text`, once it arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.api.requests:
                if rec.last_user_text == text:
                    return rec
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never reached the API")

    def startup(self) -> None:
        helps = []
        for _ in range(self.n):
            t0 = time.perf_counter()
            subprocess.run([str(ROOT / ".venv" / "bin" / "claude-orchestrator"), "--help"],
                           capture_output=True, check=True)
            helps.append(time.perf_counter() - t0)
        self.figures.append(Figure("`claude-orchestrator --help` wall time", helps, None, "s",
                                   "<= 0.3 s"))
        ready = []
        for _ in range(max(3, self.n // 2)):
            socket = f"co-bench-{uuid.uuid4().hex[:8]}"
            cfg = resolve({"socket": socket}, self.env, workdir=str(self.work))
            sess = AgentSession(cfg, QuietReporter(), environ=self.env)
            t0 = time.perf_counter()
            sess.ensure_ready()
            ready.append(time.perf_counter() - t0)
            sess.close(terminate=True)
        self.figures.append(Figure("start to a ready Claude prompt", ready, None, "s", "-"))

    def recovery(self) -> None:
        ours, kept = [], []
        with self.session() as sess:
            run_turn(sess, "remember the word pelican")
            for i in range(max(3, self.n // 2)):
                # Claude saves a finished turn to its transcript ~90 ms after the Stop hook; a
                # kill inside that window loses the turn from `--resume` (claude-code-facts).
                time.sleep(0.3)
                sess.runtime.kill_server()
                t0 = time.time()
                result = run_turn(sess, f"after kill {i}")
                ours.append((result.confirmed_at or result.reply_at) - t0)
                kept.append("remember the word pelican" in self.api.requests[-1].texts)
        base = []
        for i in range(max(2, self.n // 4)):
            with self.session() as sess:
                sess.runtime.kill_server()
                t0 = time.time()
                # The Go tool: notice the session is gone, start a fresh one (no resume), wait
                # for it, then send as usual (liveness check + 0.5 s before Enter).
                for _ in range(50):  # a server killed a moment ago can hold the socket
                    if subprocess.run(["tmux", "-L", sess.config.socket, "-f", "/dev/null",
                                       "new-session", "-d", "-s", sess.config.session, "-x",
                                       "200", "-y", "50", "-c", str(self.work),
                                       *sess.config.claude_argv],
                                      env=self.env, capture_output=True).returncode == 0:
                        break
                    time.sleep(0.05)
                t = baseline_turn(sess.config.socket, sess.config.session, f"base kill {i}")
                base.append(t.entered_at - t0)
        self.figures.append(Figure(
            "recovery: `tmux kill-server` -> next message delivered "
            f"(conversation kept: {sum(kept)}/{len(kept)})", ours, base, "s", "<= 2.5 s"))

    def supervisor_feed(self) -> None:
        """What the supervisor is fed per turn, against the length of Claude's reply, over a
        20-turn conversation; the Go tool sent the pane with 2,000 lines of scrollback."""
        from claude_orchestrator.supervisor.conversation import Conversation, first_message

        def reply_for(text: str) -> Reply:
            step = text.rsplit(" ", 1)[-1]
            lines = [f"Step {step} is done. I changed three files:"]
            lines += [f"- src/module_{step}_{i}.py: updated the handler and its tests"
                      for i in range(8)]
            return Reply("\n".join([*lines, "All tests pass."]))

        saved = self.api.reply_for
        self.api.reply_for = reply_for
        conv = Conversation(first_message("Refactor the handlers", str(self.work)), 60000,
                            12000)
        ours, go, sizes = [], [], []
        try:
            with self.session() as sess:
                for i in range(20):
                    message = f"Please do step {i}"
                    result = run_turn(sess, message)
                    before = sum(len(m["content"]) for m in conv.messages())
                    conv.add_turn(message, result.reply)
                    after = sum(len(m["content"]) for m in conv.messages())
                    pane = "\n".join(sess.runtime.capture(history=2000)).strip()
                    reply = max(1, len(result.reply))
                    ours.append((after - before - len(message)) / reply)
                    go.append(len(pane) / reply)
                    sizes.append(after)
        finally:
            self.api.reply_for = saved
        self.figures.append(Figure(
            "text fed to the supervisor per turn, x Claude's reply (20 turns)", ours, go, "x",
            "<= 1.5x"))
        self.figures.append(Figure(
            "whole supervisor request at turns 1 / 10 / 20 (characters, incl. system prompt)",
            sizes, None, "chars", "<= --context-tokens",
            text=f"{sizes[0]} / {sizes[9]} / {sizes[19]}"))

    def table(self) -> str:
        lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
                 f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
                 f"Claude Code {claude_version()}, tmux "
                 f"{subprocess.run(['tmux', '-V'], capture_output=True, text=True).stdout.strip()}"
                 f"; {time.strftime('%Y-%m-%d')}.", "",
                 "| figure | claude-orchestrator | Go algorithm (re-implemented) | target |",
                 "| --- | --- | --- | --- |"]
        for f in self.figures:
            lines.append(f"| {f.name} | {f.cell(f.ours)} | {f.cell(f.baseline)} | {f.target} |")
        return "\n".join(lines)

    def close(self) -> None:
        self.api.stop()


def claude_version() -> str:
    path = claude_bin()
    if not path:
        return "?"
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True).stdout
    return out.split()[0] if out else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only",
                        help="comma-separated: dead,stdout,delivery,cpu,startup,recovery,feed")
    args = parser.parse_args()
    if claude_bin() is None:
        print("Claude Code is not installed: run scripts/install-claude-code", file=sys.stderr)
        return 1
    bench = Bench(args.quick)
    steps = {"dead": bench.dead_time, "stdout": bench.dead_time_stdout,
             "delivery": bench.delivery, "cpu": bench.cpu_while_waiting,
             "startup": bench.startup, "recovery": bench.recovery,
             "feed": bench.supervisor_feed}
    chosen = args.only.split(",") if args.only else list(steps)
    try:
        for name in chosen:
            print(f"... {name}", file=sys.stderr, flush=True)
            steps[name]()
    finally:
        bench.close()
    print(bench.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
