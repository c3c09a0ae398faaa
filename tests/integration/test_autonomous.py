"""Autonomous mode end to end: the CLI as a subprocess, a real tmux server, the fake supervisor
(a local OpenAI-compatible server) and the simulated agent, plus one run with the real Claude
Code CLI against the fake Anthropic API.

What reached the agent is checked in its own log (FAKE_AGENT_LOG); what reached the supervisor
in the fake server's request records.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.agents.claude import claude_normalise
from claude_orchestrator.runlog import RunLog
from tests.fakes.claude_env import claude_bin, claude_env, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.fakes.fake_anthropic import Reply as FakeAnthropicReply
from tests.fakes.fake_openai import FakeOpenAI, HttpError, Reply
from tests.integration.conftest import (
    FAKE_AGENT,
    fake_agent_cmd,
    logged_texts,
    run_cli,
    tmux_cmd,
    wait_until,
)

# Distinctive, so that any leak is found by a plain byte search.
KEY = "sk-or-v1-ORCHTEST-5ecr3t-7f3e9a1c5b2d4e6f8a0b1c2d3e4f5a6b"
TASK = "Write hello.py that prints a greeting, and check that it runs."
DONE = "Summary: hello.py written and checked.\nTASK_COMPLETE"


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def supervisor() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def env(cli_env: dict[str, str], supervisor: FakeOpenAI) -> dict[str, str]:
    return dict(cli_env, OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url)


def auto_args(socket_name: str, workdir: Path, *extra: str, agent: str = "generic",
              task: str = TASK, claude_cmd: str | None = None) -> list[str]:
    cmd = ["--task", task, "--socket", socket_name]
    if agent:
        cmd += ["--agent", agent]
    cmd += ["--claude-cmd", claude_cmd or fake_agent_cmd()]
    return [*cmd, *extra, str(workdir)]


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "claude_orchestrator", *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def request_messages(fake: FakeOpenAI) -> list[list[dict[str, str]]]:
    """The `messages` of every chat-completions request, oldest first."""
    return [r.json["messages"] for r in fake.requests if isinstance(r.json, dict)]


def one_run_id(env: dict[str, str]) -> str:
    proc = run_cli(["runs", "--json"], env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    assert len(runs) == 1, proc.stdout
    return str(runs[0]["id"])


def run_status(env: dict[str, str], run_id: str) -> str:
    proc = run_cli(["runs", "--json"], env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    for run in json.loads(proc.stdout):
        if run["id"] == run_id:
            return str(run["status"])
    raise AssertionError(f"run {run_id} not listed:\n{proc.stdout}")


def lines_with(text: str, *needles: str) -> list[str]:
    return [line for line in text.splitlines() if all(n in line for n in needles)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast_agent_cmd(tmp_path: Path, busy: float = 0.02) -> str:
    """The simulated agent with a shorter busy time per turn (a 200-turn run stays fast)."""
    wrapper = tmp_path / "fast_agent.py"
    wrapper.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(FAKE_AGENT.parent)!r})\n"
        "import fake_agent\n"
        f"fake_agent.DEFAULT_BUSY = {busy!r}\n"
        "sys.exit(fake_agent.main())\n")
    return f"{sys.executable} {wrapper}"


SCREEN_FURNITURE = ("❯", "───", "? for shortcuts", "esc to interrupt", "Fake Claude Code",
                    "cwd:")


# --- 1. a complete run -----------------------------------------------------------------------


def test_run_to_task_complete(socket_name: str, workdir: Path, env: dict[str, str],
                              supervisor: FakeOpenAI, agent_log: Path) -> None:
    messages = [
        "Create hello.py with this content:\n"
        "    def main():\n"
        "        print('hello')\n"
        "\n"
        "Then tell me when it is done.",
        "Now run `python hello.py` && show me \"exactly\" what it printed; $(no) expansion",
    ]
    supervisor.enqueue(*(Reply(m) for m in messages), Reply(DONE))
    proc = run_cli(auto_args(socket_name, workdir), env)
    assert proc.returncode == 0, proc.stderr

    # The summary is printed, and never typed into the agent.
    assert "Summary: hello.py written and checked." in proc.stdout
    assert "TASK_COMPLETE" not in "".join(logged_texts(agent_log))
    # Each supervisor message delivered exactly, once, in order.
    assert logged_texts(agent_log) == messages

    requests = request_messages(supervisor)
    assert len(requests) == 3
    system, task = requests[0][0], requests[0][1]
    assert system["role"] == "system"
    assert "verbatim" in system["content"]
    assert "TASK_COMPLETE" in system["content"]
    assert "last line" in system["content"]
    assert task["role"] == "user"
    assert TASK in task["content"]
    assert str(workdir.resolve()) in task["content"]
    for i, msgs in enumerate(requests):
        assert msgs[0] == system and msgs[1] == task
        if i == 0:
            assert len(msgs) == 2
            continue
        # the history: what the supervisor said, and only the agent's reply to it
        assert msgs[-2] == {"role": "assistant", "content": messages[i - 1]}
        last = msgs[-1]
        assert last["role"] == "user"
        assert last["content"] == f"ECHO: {messages[i - 1]}", last["content"]
        for furniture in SCREEN_FURNITURE:
            assert furniture not in last["content"], (furniture, last["content"])


# --- 2. completion marker ----------------------------------------------------------------------


def test_marker_only_on_its_own_last_line_ends_the_run(socket_name: str, workdir: Path,
                                                       env: dict[str, str],
                                                       supervisor: FakeOpenAI,
                                                       agent_log: Path) -> None:
    mentions = [
        "I will say TASK_COMPLETE when done",
        "TASK_COMPLETE\nis what I will write at the very end; first run the tests",
    ]
    supervisor.enqueue(*(Reply(m) for m in mentions),
                       Reply("Everything works.\n\n**TASK_COMPLETE**\n"))
    proc = run_cli(auto_args(socket_name, workdir, agent="claude"), env)
    assert proc.returncode == 0, proc.stderr
    assert logged_texts(agent_log) == mentions
    assert "Everything works." in proc.stdout
    assert len(supervisor.requests) == 3


# --- 3. supervisor API failures --------------------------------------------------------------


def test_429_and_500_are_retried_and_reported(socket_name: str, workdir: Path,
                                              env: dict[str, str], supervisor: FakeOpenAI,
                                              agent_log: Path) -> None:
    supervisor.enqueue(HttpError(429, headers={"Retry-After": "1"}), Reply("first step"),
                       HttpError(500), Reply(DONE))
    t0 = time.monotonic()
    proc = run_cli(auto_args(socket_name, workdir, agent="claude"), env)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert logged_texts(agent_log) == ["first step"]
    assert len(supervisor.requests) == 4
    retry_429 = lines_with(proc.stderr, "429", "retry")
    retry_500 = lines_with(proc.stderr, "500", "retry")
    assert len(retry_429) == 1 and len(retry_500) == 1, proc.stderr
    assert "in 1.0s" in retry_429[0]  # Retry-After honoured
    assert elapsed >= 1.0
    assert KEY not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("status", "words"), [
    (401, ("401", "key", "OPENROUTER_API_KEY")),
    (402, ("402", "credits")),
])
def test_refusal_exits_4_with_one_line(status: int, words: tuple[str, ...], socket_name: str,
                                       workdir: Path, env: dict[str, str],
                                       supervisor: FakeOpenAI, agent_log: Path) -> None:
    supervisor.enqueue(HttpError(status, message=f"refused {KEY}"))
    proc = run_cli(auto_args(socket_name, workdir, agent="claude"), env)
    assert proc.returncode == 4, proc.stderr
    assert len(supervisor.requests) == 1  # a refusal is never retried
    found = lines_with(proc.stderr, *words)
    assert len(found) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    assert logged_texts(agent_log) == []


def test_unreachable_supervisor_exits_1_with_one_line(socket_name: str, workdir: Path,
                                                      cli_env: dict[str, str],
                                                      agent_log: Path) -> None:
    port = closed_port()
    env = dict(cli_env, OPENROUTER_API_KEY=KEY,
               OPENROUTER_BASE_URL=f"http://127.0.0.1:{port}/v1",
               CLAUDE_ORCHESTRATOR_SUPERVISOR_RETRIES="2")
    proc = run_cli(auto_args(socket_name, workdir, agent="claude"), env, timeout=150)
    assert proc.returncode == 1, proc.stderr
    assert len(lines_with(proc.stderr, "retry")) == 2, proc.stderr  # the setting is honoured
    found = lines_with(proc.stderr, "cannot reach", f"127.0.0.1:{port}")
    assert found, proc.stderr
    assert "Traceback" not in proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    assert logged_texts(agent_log) == []


def test_missing_key_exits_2_before_anything_starts(socket_name: str, workdir: Path,
                                                    cli_env: dict[str, str],
                                                    supervisor: FakeOpenAI,
                                                    agent_log: Path, tmp_path: Path) -> None:
    env = dict(cli_env, OPENROUTER_BASE_URL=supervisor.base_url)
    env.pop("OPENROUTER_API_KEY", None)
    proc = run_cli(auto_args(socket_name, workdir), env, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert len(lines_with(proc.stderr, "OPENROUTER_API_KEY")) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert tmux_cmd(socket_name, "list-sessions").returncode != 0  # no tmux server
    assert supervisor.requests == []
    assert not agent_log.exists()


# --- 4. budgets ------------------------------------------------------------------------------


def test_iteration_budget(socket_name: str, workdir: Path, env: dict[str, str],
                          supervisor: FakeOpenAI, agent_log: Path) -> None:
    supervisor.responder = lambda request: "keep going"
    proc = run_cli(auto_args(socket_name, workdir, agent="claude"),
                   dict(env, MAX_ITERATIONS="2"))
    assert proc.returncode == 3, proc.stderr
    assert logged_texts(agent_log) == ["keep going", "keep going"]
    assert lines_with(proc.stderr, "iteration budget"), proc.stderr


def test_cost_budget(socket_name: str, workdir: Path, env: dict[str, str],
                     supervisor: FakeOpenAI, agent_log: Path) -> None:
    supervisor.enqueue(*(Reply(f"step {i}", cost=0.6) for i in range(1, 6)))
    proc = run_cli(auto_args(socket_name, workdir, "--max-cost", "1", agent="claude"), env)
    assert proc.returncode == 3, proc.stderr
    assert logged_texts(agent_log) == ["step 1", "step 2"]  # $1.20 spent after two calls
    assert lines_with(proc.stderr, "cost budget"), proc.stderr


def test_time_budget(socket_name: str, workdir: Path, env: dict[str, str],
                     supervisor: FakeOpenAI, agent_log: Path) -> None:
    # The budget counts from the run's start, Claude's start-up included (over 1 s under two
    # CPU burners): 4 s leaves the message time to go, and the 20 s turn is cut short.
    supervisor.enqueue(Reply("sleep 20"))
    proc = run_cli(auto_args(socket_name, workdir, "--max-time", "4", agent="claude"), env)
    assert proc.returncode == 3, proc.stderr
    assert logged_texts(agent_log) == ["sleep 20"]
    assert len(supervisor.requests) == 1
    assert lines_with(proc.stderr, "time budget"), proc.stderr


# --- 4b. no loop spends without bound ---------------------------------------------------------


def test_a_failing_check_and_an_insisting_supervisor_stop_by_themselves(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """`--verify false` and a supervisor that keeps answering TASK_COMPLETE (with a different
    summary each time): no --max-* flag, and the run stops with exit 6 after 3 calls (the
    default --stuck-after), saying why and how to go on."""
    count = iter(range(1, 1000))
    supervisor.responder = lambda request: f"Done, take {next(count)}.\nTASK_COMPLETE"
    proc = run_cli(auto_args(socket_name, workdir, "--verify", "false"), env)
    assert proc.returncode == 6, proc.stderr
    assert len(supervisor.requests) == 3
    assert logged_texts(agent_log) == []
    assert lines_with(proc.stderr, "check refused it"), proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("next: ") and "claude-orchestrator resume" in last, proc.stderr


def test_supervisor_calls_without_a_claude_turn_are_bounded_whatever_the_flags(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """Even with the stuck check off, at most 4 supervisor calls in a row without giving
    Claude anything to do (refused completions, answers with nothing to type)."""
    answers = iter(["Done.\nTASK_COMPLETE", "\x1b[2J", "All done.\nTASK_COMPLETE"] * 10)
    supervisor.responder = lambda request: next(answers)
    proc = run_cli(auto_args(socket_name, workdir, "--verify", "false", "--stuck-after", "0"),
                   env)
    assert proc.returncode == 6, proc.stderr
    assert len(supervisor.requests) == 4
    assert logged_texts(agent_log) == []
    assert lines_with(proc.stderr, "4 times in a row without giving Claude anything"), \
        proc.stderr


def test_every_supervisor_call_counts_against_the_iteration_budget(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """`--max-iterations 3 --stuck-after 2` with a failing check: the stuck check (2 refused
    completions in a row) stops it first; with the stuck check off the budget does, after 3
    calls, one of them a turn."""
    supervisor.responder = lambda request: "Done.\nTASK_COMPLETE"
    proc = run_cli(auto_args(socket_name, workdir, "--verify", "false", "--max-iterations",
                             "3", "--stuck-after", "2"), env)
    assert proc.returncode == 6, proc.stderr
    assert len(supervisor.requests) == 2
    supervisor.enqueue(Reply("real work"), Reply("Done.\nTASK_COMPLETE"))
    proc = run_cli(auto_args(socket_name, workdir, "--verify", "false", "--max-iterations",
                             "3", "--stuck-after", "0"), env)
    assert proc.returncode == 3, proc.stderr
    assert len(supervisor.requests) == 2 + 3
    assert lines_with(proc.stderr, "iteration budget reached: 3 supervisor calls"), proc.stderr
    assert logged_texts(agent_log) == ["real work"]


def test_a_budget_stop_names_a_resume_with_a_new_total_that_works(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """The last line after an iteration budget is `resume ID --max-iterations 4`; that
    command goes on to the new total, and `show` reports the setting now in force."""
    supervisor.responder = lambda request: "keep going"
    proc = run_cli(auto_args(socket_name, workdir, "--max-iterations", "2", agent="claude"),
                   env)
    assert proc.returncode == 3, proc.stderr
    run_id = one_run_id(env)
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (f"next: claude-orchestrator resume {run_id} --max-iterations 4 "
                    "(a new total, not an increment)"), proc.stderr
    resumed = run_cli(["resume", run_id, "--max-iterations", "4"], env, timeout=60)
    assert resumed.returncode == 3, resumed.stderr
    assert logged_texts(agent_log) == ["keep going"] * 4
    assert "iteration budget reached: 4 supervisor calls" in resumed.stderr
    shown = run_cli(["show", run_id], env, timeout=30)
    assert '"max_iterations": 4' in shown.stdout, shown.stdout
    assert "--max-iterations 8" in shown.stdout


def test_resume_refuses_flags_it_cannot_honour_and_names_a_changed_environment(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """`resume --chat` or `--session` are refused with one line, never ignored; a supervisor
    URL changed in the environment is named at resume (the run keeps its own)."""
    supervisor.responder = lambda request: "keep going"
    proc = run_cli(auto_args(socket_name, workdir, "--max-iterations", "1"), env)
    assert proc.returncode == 3, proc.stderr
    run_id = one_run_id(env)
    for flags, words in ((["--chat"], "--chat/--autonomous does not apply to resume"),
                         (["--session", "other"], "--session does not apply to resume"),
                         (["--socket", "other"], "--socket does not apply to resume")):
        refused = run_cli(["resume", run_id, *flags], env, timeout=30)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1 and words in refused.stderr, refused.stderr
    moved = dict(env, OPENROUTER_BASE_URL="http://127.0.0.1:9/v1")
    resumed = run_cli(["resume", run_id, "--max-iterations", "2"], moved, timeout=60)
    assert resumed.returncode == 3, resumed.stderr
    said = lines_with(resumed.stderr, "not used, the run keeps its own settings",
                      "OPENROUTER_BASE_URL (http://127.0.0.1:9/v1, the run's: "
                      f"{supervisor.base_url})")
    assert said, resumed.stderr
    assert logged_texts(agent_log) == ["keep going"] * 2


# --- 5. context bounding on a long run -------------------------------------------------------


def test_200_turns_stay_within_the_context_budget(socket_name: str, workdir: Path,
                                                  env: dict[str, str], supervisor: FakeOpenAI,
                                                  agent_log: Path, tmp_path: Path) -> None:
    turns, budget = 200, 4000
    sizes = (30, 10, 45, 20)
    sent: list[str] = []

    def responder(request: dict[str, Any]) -> str:
        if len(sent) >= turns:
            return "All 200 steps done.\nTASK_COMPLETE"
        sent.append(f"lines {sizes[len(sent) % len(sizes)]}")
        return sent[-1]

    supervisor.responder = responder
    t0 = time.monotonic()
    proc = run_cli(auto_args(socket_name, workdir, "--context-tokens", str(budget),
                             agent="claude", claude_cmd=fast_agent_cmd(tmp_path)), env,
                   timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert logged_texts(agent_log) == sent and len(sent) == turns

    requests = request_messages(supervisor)
    assert len(requests) == turns + 1
    system, task = requests[0][0], requests[0][1]
    rows = []
    over = []
    for k, msgs in enumerate(requests):
        tokens = len(json.dumps(msgs)) / 3.5
        if tokens >= budget:
            over.append((k + 1, round(tokens)))
        assert msgs[0] == system and msgs[1] == task
        assert TASK in msgs[1]["content"]
        if k == 0:
            continue
        n = int(sent[k - 1].split()[1])
        newest = "\n".join(f"line {i}" for i in range(1, n + 1))
        assert msgs[-2] == {"role": "assistant", "content": sent[k - 1]}
        assert msgs[-1]["role"] == "user"
        assert msgs[-1]["content"].endswith(newest)
        if k > 1:
            # only the newest reply (and, when turns were dropped, the note) is new
            assert msgs[-1]["content"] == newest or "not shown" in msgs[-1]["content"]
        chars = sum(len(m["content"]) for m in msgs)
        rows.append((k, chars, len(json.dumps(msgs)), len(msgs), len(newest)))
    # the oldest turns were dropped (the history is bounded), the newest always kept
    assert max(len(m) for m in requests) < 2 * turns
    assert "not shown" in requests[-1][3]["content"]  # a note says turns were left out

    def avg(col: int, last: int) -> float:
        chosen = [r[col] for r in rows if r[0] <= last]
        return sum(chosen) / len(chosen)

    print(f"\n200-turn run: {elapsed:.1f}s ({elapsed / turns * 1000:.0f} ms/turn)")
    print("turn  chars sent (content)  json chars  messages  reply chars")
    for r in rows:
        if r[0] in (1, 2, 5, 10, 20, 50, 100, 150, 200):
            print(f"{r[0]:>4}  {r[1]:>20}  {r[2]:>10}  {r[3]:>8}  {r[4]:>11}")
    for last in (20, 200):
        print(f"turns 1-{last}: mean {avg(1, last):.0f} chars sent per turn "
              f"(max {max(r[1] for r in rows if r[0] <= last)}), "
              f"mean reply {avg(4, last):.0f} chars")
    peak = max(len(json.dumps(m)) / 3.5 for m in requests)
    print(f"largest request ~{peak:.0f} tokens (json chars / 3.5), budget {budget}")
    # every request within the budget (estimate: JSON characters / 3.5 per token)
    assert not over, f"{len(over)} requests over {budget} tokens, e.g. {over[:5]}"


# --- 6. run log ------------------------------------------------------------------------------


def _log_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + "*"))


def test_run_log_lists_shows_and_keeps_no_secret(socket_name: str, workdir: Path,
                                                 env: dict[str, str], supervisor: FakeOpenAI,
                                                 agent_log: Path) -> None:
    db = Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])
    supervisor.enqueue(Reply("first message"), Reply("sleep 2"),
                       Reply(DONE))
    proc = start_cli(auto_args(socket_name, workdir, agent="claude"), env)
    # mid-run, while the WAL is in use
    assert wait_until(lambda: "sleep 2" in logged_texts(agent_log), 30)
    live = {p.name: p.read_bytes() for p in _log_files(db)}
    pane_pid = tmux_cmd(socket_name, "list-panes", "-t", "=gt-claude-loop",
                        "-F", "#{pane_pid}").stdout.strip()
    # The pane runs a small `sh` that reads the environment from a private file, then the
    # agent: the agent's own environment is the one that counts.
    agent_pid = subprocess.run(["ps", "-o", "pid=", "--ppid", pane_pid], capture_output=True,
                               text=True).stdout.split()[0]
    pane_env = Path(f"/proc/{agent_pid}/environ").read_bytes()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in _log_files(db)}
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert db.name + "-wal" in live, sorted(live)

    run_id = one_run_id(env)
    runs = run_cli(["runs"], env, timeout=30)
    assert runs.stdout.splitlines()[0].split()[:2] == ["run", "status"]  # the header row
    assert runs.stdout.splitlines()[1].split()[0] == run_id
    assert run_status(env, run_id) == "complete"
    show = run_cli(["show", run_id], env, timeout=30)
    assert show.returncode == 0, show.stderr
    assert run_id in show.stdout
    for text in ("first message", "sleep 2", "slept 2", "ECHO: first message"):
        assert text in show.stdout, show.stdout
    assert show.stdout.index("first message") < show.stdout.index("sleep 2")

    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for name, mode in modes.items():
        assert mode & 0o077 == 0, f"{name} has mode {mode:o}"
    secret = KEY.encode()
    for name, data in live.items():
        assert secret not in data, f"key in {name} during the run"
    for p in _log_files(db):
        assert secret not in p.read_bytes(), f"key in {p.name}"
    assert b"FAKE_AGENT_LOG=" in pane_env and secret not in pane_env  # the agent never has it
    for text in (out, err, runs.stdout, runs.stderr, show.stdout, show.stderr):
        assert KEY not in text
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert KEY not in dump


# --- 7. resume after SIGKILL -----------------------------------------------------------------


def _claude_like_env(env: dict[str, str]) -> dict[str, str]:
    """The agent profile and command in the environment, so `resume` sees the same."""
    return dict(env, CLAUDE_CMD=fake_agent_cmd(), CLAUDE_ORCHESTRATOR_AGENT="claude")


def test_resume_after_sigkill_picks_up_the_reply_in_flight(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    env = _claude_like_env(env)
    supervisor.enqueue(Reply("first:\n  two lines"), Reply("sleep 5"), Reply(DONE))
    proc = start_cli(["--task", TASK, "--socket", socket_name, str(workdir)], env)
    assert wait_until(lambda: "sleep 5" in logged_texts(agent_log), 30)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert len(supervisor.requests) == 2

    run_id = one_run_id(env)
    assert run_status(env, run_id) == "interrupted"
    assert tmux_cmd(socket_name, "has-session", "-t", "=gt-claude-loop").returncode == 0

    resumed = run_cli(["resume", run_id], env, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert "Summary: hello.py written and checked." in resumed.stdout
    # the in-flight message was not sent again
    assert logged_texts(agent_log) == ["first:\n  two lines", "sleep 5"]
    assert lines_with(resumed.stderr, "picked up"), resumed.stderr

    requests = request_messages(supervisor)
    assert len(requests) == 3
    rebuilt = requests[2]
    assert rebuilt[0]["role"] == "system" and TASK in rebuilt[1]["content"]
    assert rebuilt[2:] == [
        {"role": "assistant", "content": "first:\n  two lines"},
        {"role": "user", "content": "ECHO: first:\n  two lines"},
        {"role": "assistant", "content": "sleep 5"},
        {"role": "user", "content": "slept 5"},
    ]

    assert run_status(env, run_id) == "complete"
    show = run_cli(["show", run_id], env, timeout=30)
    assert show.returncode == 0, show.stderr
    assert "=== turn 1  done" in show.stdout and "=== turn 2  done" in show.stdout
    assert "=== turn 3" not in show.stdout
    for text in ("first:", "two lines", "ECHO: first:", "sleep 5", "slept 5"):
        assert text in show.stdout
    assert "no reply recorded" not in show.stdout


def test_resume_uses_the_runs_own_agent_command(socket_name: str, workdir: Path,
                                                env: dict[str, str], supervisor: FakeOpenAI,
                                                agent_log: Path) -> None:
    """A run started with --claude-cmd/--agent flags resumes with a bare `resume ID`: the
    command and profile are the run's (recorded in its settings), not the defaults."""
    supervisor.enqueue(Reply("sleep 3"), Reply(DONE))
    proc = start_cli(auto_args(socket_name, workdir, agent="claude"), env)
    assert wait_until(lambda: "sleep 3" in logged_texts(agent_log), 30)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    run_id = one_run_id(env)
    resumed = run_cli(["resume", run_id], env, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert logged_texts(agent_log) == ["sleep 3"]
    assert request_messages(supervisor)[-1][-1] == {"role": "user", "content": "slept 3"}


# --- 8. --json -------------------------------------------------------------------------------


def test_json_summary(socket_name: str, workdir: Path, env: dict[str, str],
                      supervisor: FakeOpenAI) -> None:
    supervisor.enqueue(Reply("one", cost=0.25), Reply("two", cost=0.25),
                       Reply(DONE, cost=0.125))
    proc = run_cli(auto_args(socket_name, workdir, "--json", agent="claude"), env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["outcome"] == "complete"
    assert data["exit_code"] == 0
    assert data["turns"] == 2
    assert data["cost_usd"] == pytest.approx(0.625)
    assert data["summary"] == "Summary: hello.py written and checked."
    assert data["prompt_tokens"] == 33 and data["completion_tokens"] == 21
    assert isinstance(data["seconds"], (int, float))
    assert re.fullmatch(r"[0-9A-Za-z-]+", data["run_id"])
    assert data["run_id"] == one_run_id(env)


# --- 9. SIGINT -------------------------------------------------------------------------------


def test_sigint_exits_130_and_the_run_resumes(socket_name: str, workdir: Path,
                                              env: dict[str, str], supervisor: FakeOpenAI,
                                              agent_log: Path) -> None:
    env = _claude_like_env(env)
    supervisor.enqueue(Reply("sleep 3"), Reply(DONE))
    proc = start_cli(["--task", TASK, "--socket", socket_name, str(workdir)], env)
    assert wait_until(lambda: "sleep 3" in logged_texts(agent_log), 30)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run_id = one_run_id(env)
    assert f"resume {run_id}" in err
    assert run_status(env, run_id) == "interrupted"

    resumed = run_cli(["resume", run_id], env, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert logged_texts(agent_log) == ["sleep 3"]
    assert run_status(env, run_id) == "complete"
    assert request_messages(supervisor)[-1][-1] == {"role": "user", "content": "slept 3"}


# --- 10. the real Claude Code CLI ------------------------------------------------------------


@pytest.mark.realcli
def test_real_claude_code_end_to_end(socket_name: str, workdir: Path, tmp_path: Path,
                                     cli_env: dict[str, str], supervisor: FakeOpenAI) -> None:
    exe = claude_bin()
    assert exe is not None, "Claude Code is not installed: run scripts/install-claude-code"
    anthropic_key = "sk-ant-api03-orchestrator-test-key-0123456789abcdef"
    home = prepare_home(tmp_path / "home", anthropic_key, trusted_dirs=[workdir])
    multi = "Please do two things:\n\tfirst, with a tab\n\n  second, after a blank line"
    slash = "/review the last change"
    supervisor.enqueue(HttpError(429, headers={"Retry-After": "1"}), Reply(multi),
                       HttpError(500), Reply(slash), Reply(DONE))
    with FakeAnthropic() as api:
        env = claude_env(home, api.base_url, anthropic_key, base=cli_env)
        env.update(OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url)
        assert env["PATH"].split(os.pathsep)[0] == str(exe.parent)
        proc = run_cli(["--task", TASK, "--socket", socket_name, str(workdir)], env,
                       timeout=120)
        assert proc.returncode == 0, proc.stderr
        received = [r.last_user_text for r in api.requests if r.status == 200]
    # The multi-line message arrives whole (2.1.332 wraps a folded paste: its own doing); the
    # slash text stays a prompt: /review is a command Claude knows, so a backslash before it.
    assert [claude_normalise(t) for t in received] == [multi.replace("\t", "    "),
                                                       "\\" + slash]
    assert "Summary: hello.py written and checked." in proc.stdout
    assert lines_with(proc.stderr, "429", "retry") and lines_with(proc.stderr, "500", "retry")
    assert len(lines_with(proc.stderr, "── Claude (hook")) == 2  # the claude profile, auto
    assert KEY not in proc.stdout + proc.stderr

    # 5 requests: the 429 and the 500 were each retried with the same messages
    sent = request_messages(supervisor)
    assert len(sent) == 5 and sent[0] == sent[1] and sent[2] == sent[3]
    requests = [sent[0], sent[2], sent[4]]
    replies = [m[-1]["content"] for m in requests[1:]]
    assert replies == [f"ECHO: {text}".rstrip() for text in received]  # Claude trims its end
    for msgs in requests:
        assert msgs[0]["role"] == "system" and TASK in msgs[1]["content"]
        for m in msgs[2:]:
            assert m["role"] in ("assistant", "user")
            if m["role"] == "user":
                assert m["content"].startswith("ECHO: ")



@pytest.mark.realcli
@pytest.mark.parametrize("finished_while_dead", [True, False])
def test_real_claude_resume_after_sigkill_takes_the_reply_in_flight(
        finished_while_dead: bool, socket_name: str, workdir: Path, tmp_path: Path,
        cli_env: dict[str, str], supervisor: FakeOpenAI) -> None:
    """The orchestrator is SIGKILLed while the real Claude works on a message. `resume` takes
    Claude's reply from the hook record (finished meanwhile) or waits for it (still running),
    and never sends the message again."""
    exe = claude_bin()
    assert exe is not None, "Claude Code is not installed: run scripts/install-claude-code"
    anthropic_key = "sk-ant-api03-orchestrator-test-key-0123456789abcdef"
    home = prepare_home(tmp_path / "home", anthropic_key, trusted_dirs=[workdir])
    supervisor.enqueue(Reply("first message"), Reply("the long one"), Reply(DONE))

    def reply_for(text: str) -> FakeAnthropicReply:
        if text == "the long one":
            return FakeAnthropicReply("long answer done", duration=2 if finished_while_dead
                                      else 6)
        return FakeAnthropicReply(f"ECHO: {text}")

    with FakeAnthropic(reply_for) as api:
        env = claude_env(home, api.base_url, anthropic_key, base=cli_env)
        env.update(OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url)
        proc = start_cli(["--task", TASK, "--socket", socket_name, str(workdir)], env)
        assert wait_until(lambda: any(r.last_user_text == "the long one"
                                      for r in api.requests), 60)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        if finished_while_dead:
            assert wait_until(lambda: all(r.done for r in api.requests), 15)
            time.sleep(0.5)
        run_id = one_run_id(env)
        assert run_status(env, run_id) == "interrupted"
        resumed = run_cli(["resume", run_id], env, timeout=90)
        assert resumed.returncode == 0, resumed.stderr
        sent = [r.last_user_text for r in api.requests]
    assert sent == ["first message", "the long one"]  # nothing delivered twice
    assert lines_with(resumed.stderr, "picked up"), resumed.stderr
    last = request_messages(supervisor)[-1]
    assert last[-2:] == [{"role": "assistant", "content": "the long one"},
                         {"role": "user", "content": "long answer done"}]
    assert run_status(env, run_id) == "complete"


def test_time_budget_ends_the_run_during_a_long_turn_and_resume_takes_the_reply(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """--max-time is kept even while Claude works on one long turn: the run ends with 3 at the
    budget (Claude goes on), and `resume` later takes that turn's reply without re-sending."""
    supervisor.enqueue(Reply("sleep 8"), Reply(DONE))  # the budget includes start-up
    proc = run_cli(auto_args(socket_name, workdir, "--max-time", "4", agent="claude"), env)
    assert proc.returncode == 3, proc.stderr
    assert lines_with(proc.stderr, "time budget", "while Claude worked"), proc.stderr
    run_id = one_run_id(env)
    assert run_status(env, run_id) == "budget"
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        in_flight = log.in_flight_turn(run_id)  # the run did not wait for the 8 s turn
    assert in_flight is not None and in_flight.message == "sleep 8"
    resumed = run_cli(["resume", run_id, "--max-time", "0"], env, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert lines_with(resumed.stderr, "picked up"), resumed.stderr
    assert logged_texts(agent_log) == ["sleep 8"]  # delivered once
    assert request_messages(supervisor)[-1][-1] == {"role": "user", "content": "slept 8"}


def test_resume_keeps_every_setting_and_the_spend(socket_name: str, workdir: Path,
                                                  env: dict[str, str], supervisor: FakeOpenAI,
                                                  agent_log: Path) -> None:
    """A run started with flags (a withheld variable, budgets, limits) resumes with a bare
    `resume ID`: the restarted agent still does not see the withheld variable, the iteration
    budget counts the turns before (the one in flight too), and the spend goes on."""
    env = dict(env, MY_TOKEN="tok-do-not-leak")
    supervisor.enqueue(Reply("sleep 3", cost=0.25), Reply("env MY_TOKEN", cost=0.25),
                       Reply("one too many"))
    args = auto_args(socket_name, workdir, "--withhold-env", "MY_TOKEN", "--max-iterations", "2",
                     "--context-tokens", "9000", "--reply-limit", "3000", "--idle-timeout", "7m",
                     agent="claude")
    proc = start_cli(args, env)
    assert wait_until(lambda: "sleep 3" in logged_texts(agent_log), 30)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    tmux_cmd(socket_name, "kill-server")  # the agent dies too: resume starts it afresh
    run_id = one_run_id(env)
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        recorded = log.get_run(run_id).settings
    assert recorded["withhold_env"] == "MY_TOKEN" and recorded["context_tokens"] == 9000
    assert recorded["reply_limit"] == 3000 and recorded["idle_timeout"] == 420.0
    resumed = run_cli(["resume", run_id], env, timeout=60)
    assert resumed.returncode == 3, resumed.stderr  # two turns: the budget, not a third turn
    assert "iteration budget reached: 2 supervisor calls" in resumed.stderr
    assert logged_texts(agent_log) == ["sleep 3", "env MY_TOKEN"]
    assert len(supervisor.requests) == 2
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        turns = log.turns(run_id)
        assert [t.reply for t in turns][-1] == "MY_TOKEN=unset"
        assert "not sent again" in (turns[0].reply or "")
        assert log.get_run(run_id).cost_usd == pytest.approx(0.5)  # both calls, both runs


def test_a_supervisor_message_of_control_characters_is_not_typed(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """The supervisor is told that nothing was sent, and the run goes on."""
    supervisor.enqueue(Reply("\x1b[2J\x07\x00"), Reply("real work"), Reply(DONE))
    proc = run_cli(auto_args(socket_name, workdir), env)
    assert proc.returncode == 0, proc.stderr
    assert logged_texts(agent_log) == ["real work"]
    second = request_messages(supervisor)[1]
    assert "nothing was sent to Claude" in second[-1]["content"]


@pytest.mark.realcli
def test_real_claude_resume_never_takes_the_reply_of_an_earlier_identical_message(
        socket_name: str, workdir: Path, tmp_path: Path, cli_env: dict[str, str],
        supervisor: FakeOpenAI) -> None:
    """The message in flight ("continue") was sent before and answered: `resume` looks only at
    what Claude reported after this turn began, so it waits for this turn's own reply."""
    anthropic_key = "sk-ant-api03-orchestrator-test-key-0123456789abcdef"
    home = prepare_home(tmp_path / "home", anthropic_key, trusted_dirs=[workdir])
    supervisor.enqueue(Reply("continue"), Reply("continue"), Reply(DONE))
    answers = iter(["first answer", "second answer"])

    def reply_for(text: str) -> FakeAnthropicReply:
        answer = next(answers)
        return FakeAnthropicReply(answer, duration=6 if answer == "second answer" else 0)

    with FakeAnthropic(reply_for) as api:
        env = claude_env(home, api.base_url, anthropic_key, base=cli_env)
        env.update(OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url)
        proc = start_cli(["--task", TASK, "--socket", socket_name, str(workdir)], env)
        assert wait_until(lambda: len(api.requests) == 2, 60)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        resumed = run_cli(["resume", one_run_id(env)], env, timeout=90)
        assert resumed.returncode == 0, resumed.stderr
        sent = [r.last_user_text for r in api.requests]
    assert sent == ["continue", "continue"]  # not delivered a third time
    last = request_messages(supervisor)[-1]
    assert last[-1] == {"role": "user", "content": "second answer"}
    assert last[-3] == {"role": "user", "content": "first answer"}


def test_the_key_never_reaches_claude_the_log_or_the_terminal(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """The supervisor writes (a piece of) its own key into a message, Claude echoes it, an error
    body quotes it: it is typed, printed and stored as [REDACTED] everywhere."""
    piece = KEY[4:20]  # 16 characters of the key: a piece is the key
    supervisor.enqueue(Reply(f"store this: {KEY} and {piece}"), Reply(DONE))
    proc = run_cli(auto_args(socket_name, workdir), env)
    assert proc.returncode == 0, proc.stderr
    typed = logged_texts(agent_log)
    assert typed == ["store this: [REDACTED] and [REDACTED]"]
    run_id = one_run_id(env)
    show = run_cli(["show", run_id], env, timeout=30)
    db = Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])
    stored = b"".join(p.read_bytes() for p in _log_files(db))
    for text in (proc.stdout, proc.stderr, show.stdout):
        assert KEY not in text and piece not in text
    assert piece.encode() not in stored and KEY.encode() not in stored


def test_terminal_escapes_in_replies_are_shown_never_sent(
        socket_name: str, workdir: Path, env: dict[str, str], supervisor: FakeOpenAI,
        agent_log: Path) -> None:
    """A reply that carries terminal escapes (an OSC 52 clipboard write, a window title) is
    printed with the escapes visible, live and by `show`; `show --raw` gives it as stored."""
    supervisor.enqueue(Reply("hostile"), Reply("All done \x1b]52;c;cm0gLXJmIH4=\x07"
                                               "\x1b]0;pwned\x07\n\nTASK_COMPLETE"))
    proc = run_cli(auto_args(socket_name, workdir, agent="claude"), env)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout + proc.stderr
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07" in proc.stdout  # the summary, escapes shown
    assert "clip \\x1b]52;c;cm0gLXJmIH4=\\x07 title" in proc.stderr  # Claude's reply, live
    run_id = one_run_id(env)
    show = run_cli(["show", run_id], env, timeout=30)
    assert "\x1b" not in show.stdout and "clip \\x1b]52" in show.stdout
    assert "\x1b" not in run_cli(["runs"], env, timeout=30).stdout
    raw = run_cli(["show", run_id, "--raw"], env, timeout=30)
    assert raw.returncode == 0 and "clip \x1b]52;c;cm0gLXJmIH4=\x07 title" in raw.stdout


def test_a_run_log_locked_for_a_while_loses_nothing(socket_name: str, workdir: Path,
                                                   env: dict[str, str], supervisor: FakeOpenAI,
                                                   agent_log: Path) -> None:
    """Another program holds the run log's write lock for 8 s mid-run: the run waits (and
    says so), keeps the turn's record in memory meanwhile, and records everything."""
    db = Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])
    supervisor.enqueue(Reply("sleep 1"), Reply("second"), Reply(DONE))
    proc = start_cli(auto_args(socket_name, workdir, agent="claude"), env)
    assert wait_until(lambda: "sleep 1" in logged_texts(agent_log), 30)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    time.sleep(8)
    holder.execute("COMMIT")
    holder.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert lines_with(err, "run log", "locked", "waiting"), err
    run_id = one_run_id(env)
    with RunLog(db) as log:
        turns = log.turns(run_id)
        assert [(t.message, t.reply) for t in turns] == [("sleep 1", "slept 1"),
                                                         ("second", "ECHO: second")]
        assert log.get_run(run_id).status == "complete"


def test_three_quick_ctrl_c_still_record_the_run(socket_name: str, workdir: Path,
                                                 env: dict[str, str], supervisor: FakeOpenAI,
                                                 agent_log: Path) -> None:
    supervisor.enqueue(Reply("sleep 5"), Reply(DONE))
    proc = start_cli(auto_args(socket_name, workdir, agent="claude"), env)
    assert wait_until(lambda: "sleep 5" in logged_texts(agent_log), 30)
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run_id = one_run_id(env)
    assert run_status(env, run_id) == "interrupted"
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        assert log.get_run(run_id).exit_code == 130
