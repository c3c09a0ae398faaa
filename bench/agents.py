"""Dead time and delivery per agent CLI: the orchestrator driving the real Codex CLI and Gemini
CLI (offline, their fake APIs on 127.0.0.1), by their hooks; and for Codex, `codex queue`
against the bracketed paste as the way a message goes in.

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python bench/agents.py'   # as root
    unshare -rn sh -c 'ip link set lo up && exec .venv/bin/python bench/agents.py'  # otherwise

It refuses to run where the network can be reached. Medians, min-max in brackets.

- dead time: the fake API's last streamed byte -> the turn's result in hand (the reply).
- delivery confirmed: the message handed over -> the agent's prompt hook reporting it.
- `codex queue`: `codex queue --thread ID --message TEXT` started -> the same hook.
"""

from __future__ import annotations

import argparse
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

from claude_orchestrator.config import resolve  # noqa: E402
from claude_orchestrator.progress import QuietReporter  # noqa: E402
from claude_orchestrator.session import AgentSession  # noqa: E402
from claude_orchestrator.turn import run_turn  # noqa: E402
from tests.fakes.agent_env import (  # noqa: E402
    COMMANDS,
    VERSIONS,
    agent_bin,
    agent_env,
    codex_home,
    gemini_home,
    offline_problem,
)
from tests.fakes.fake_gemini import FakeGemini  # noqa: E402
from tests.fakes.fake_responses import FakeResponses  # noqa: E402
from tests.fakes.fake_sse import FakeModelApi  # noqa: E402


def cell(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


def measure(agent: str, turns: int, root: Path) -> dict[str, list[float]]:
    api: FakeModelApi = FakeResponses() if agent == "codex" else FakeGemini()
    out: dict[str, list[float]] = {"dead": [], "confirm": [], "queue": []}
    with api:
        work = root / agent / "work"
        work.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        home = root / agent / "home"
        if isinstance(api, FakeResponses):
            codex_home(home, api.base_url, trusted=[work])
        else:
            gemini_home(home, trusted=[work])
        run = root / agent / "run"
        run.mkdir(mode=0o700)
        env = agent_env(agent, home, getattr(api, "base_url", ""),
                        {"PATH": "/usr/local/bin:/usr/bin:/bin", "XDG_RUNTIME_DIR": str(run),
                         "LANG": "C.UTF-8"})
        socket = f"co-bench-{uuid.uuid4().hex[:8]}"
        config = resolve({"socket": socket, "session": "bench", "claude_cmd": COMMANDS[agent]},
                         env, workdir=str(work))
        sess = AgentSession(config, QuietReporter(), environ=env)
        try:
            run_turn(sess, "warm up")
            for i in range(turns):
                r = run_turn(sess, f"turn {i}\nsecond line")
                rec = api.requests[-1]
                assert r.ended_by == "hook" and r.reply == f"ECHO: turn {i}\nsecond line", r
                assert rec.finished_wall is not None and r.confirmed_at is not None
                out["dead"].append(r.reply_at - rec.finished_wall)
                out["confirm"].append(r.confirmed_at - r.sent_at)
            if agent == "codex" and sess.session_id and sess.channel is not None:
                for i in range(turns):
                    out["queue"].append(queue_delivery(sess, env, i))
        finally:
            sess.close(terminate=True)
    return out


def queue_delivery(sess: AgentSession, env: dict[str, str], i: int) -> float:
    """`codex queue` started -> Codex's UserPromptSubmit for that text (then its turn ends)."""
    assert sess.channel is not None and sess.session_id
    text = f"queued {i}\nsecond line"
    sess.read_events()
    exe = str(agent_bin("codex"))
    start = time.time()
    subprocess.run([exe, "queue", "--thread", sess.session_id, "--message", text], env=env,
                   capture_output=True, check=True, timeout=30)
    confirmed = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        sess.watcher.wait(0.5)
        for ev in sess.read_events():
            if ev.name == "UserPromptSubmit" and ev.payload.get("prompt") == text:
                confirmed = time.time()
            if ev.name == "Stop" and confirmed is not None:
                return confirmed - start
    raise RuntimeError("codex queue: no UserPromptSubmit and Stop within 30 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--agents", default="codex,gemini")
    args = parser.parse_args()
    problem = offline_problem()
    if problem is not None:
        print(f"refusing to run where the network can be reached ({problem}): see the "
              "docstring for the unshare command", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="co-bench-agents-") as tmp:
        for agent in args.agents.split(","):
            if agent_bin(agent) is None:
                print(f"{agent} is not installed: scripts/install-agent-cli {agent}",
                      file=sys.stderr)
                return 2
            got = measure(agent, args.turns, Path(tmp))
            rows.append((f"{agent} {VERSIONS[agent]}", got))
    print("| agent | dead time (API's last byte -> reply) | delivery confirmed (paste) | "
          "delivery confirmed (`codex queue`) |")
    print("| --- | --- | --- | --- |")
    for name, got in rows:
        print(f"| {name} | {cell(got['dead'])} | {cell(got['confirm'])} | "
              f"{cell(got['queue'])} |")
    print("| goal | <= 0.05 s | <= 0.2 s | - |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
