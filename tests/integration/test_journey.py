"""The user's journey around a run (issue 18): typing the task, the folder a live session is
adopted in, what is left running and how to stop it. Real tmux, the simulated agent, the fake
supervisor; the CLI as the person runs it (in a terminal where that matters)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.runlog import RunLog, RunLogMissing
from tests.fakes.fake_openai import FakeOpenAI
from tests.integration.conftest import fake_agent_cmd, run_cli, tmux_cmd, wait_until
from tests.integration.terminal import Terminal

KEY = "sk-or-v1-JOURNEY-5ecr3t-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
DONE = "Summary: done.\nTASK_COMPLETE"


@pytest.fixture
def supervisor() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def env(cli_env: dict[str, str], supervisor: FakeOpenAI) -> dict[str, str]:
    return dict(cli_env, OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url)


def folder(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def test_the_task_typed_at_the_prompt_takes_several_lines(
        tmp_path: Path, socket_name: str, env: dict[str, str], supervisor: FakeOpenAI) -> None:
    """At the task prompt on a terminal, Alt-Enter adds a line and Enter sends: the task
    arrives whole, with no raw ESC in it, and nothing is left over for the shell."""
    supervisor.responder = lambda request: DONE
    work = folder(tmp_path, "work")
    term = Terminal([sys.executable, "-m", "claude_orchestrator", "--socket", socket_name,
                     "--agent", "generic", "--claude-cmd", fake_agent_cmd(), str(work)], env)
    assert term.wait_for("task>"), term.text()
    term.type(b"Add a --verbose flag", every=0.01)
    term.type(b"\x1b\r")
    term.type(b"and its tests", every=0.01)
    term.type(b"\r")
    assert term.wait(60) == 0, term.text()
    first = supervisor.requests[0].json["messages"][1]["content"]
    assert "Task:\nAdd a --verbose flag\nand its tests\n" in first, first
    assert "\x1b" not in first


def chat(socket: str, work: Path, env: dict[str, str], lines: str,
         *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["--chat", "--socket", socket, "--agent", "generic",
                    "--claude-cmd", fake_agent_cmd(), *extra, str(work)], env, input=lines)


def test_a_run_never_drives_the_agent_left_running_in_another_folder(
        tmp_path: Path, socket_name: str, env: dict[str, str]) -> None:
    """Chat in A, /quit (the agent stays, and that is said with the way to stop it); a run in
    B on the same session is refused with one line naming both folders and the way out;
    after `stop`, the run in B works in B."""
    a, b = folder(tmp_path, "a"), folder(tmp_path, "b")
    first = chat(socket_name, a, env, "pwd\n/quit\n")
    assert first.returncode == 0, first.stderr
    assert f"PWD {a}" in first.stdout
    kept = [ln for ln in first.stderr.splitlines() if "keeps running in tmux session" in ln]
    assert kept and f"stop it with claude-orchestrator stop --socket {socket_name}" in kept[0]
    assert f"tmux -L {socket_name} attach -t gt-claude-loop" in kept[0]
    refused = chat(socket_name, b, env, "pwd\n/quit\n")
    assert refused.returncode == 2, refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert str(a) in line and str(b) in line and "claude-orchestrator stop --socket" in line
    assert "PWD" not in refused.stdout
    stopped = run_cli(["stop", "--socket", socket_name], env, timeout=30)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == (f"stopped tmux session gt-claude-loop (socket "
                                      f"{socket_name}) and the agent in it")
    assert tmux_cmd(socket_name, "list-sessions").returncode != 0  # the server went too
    again = run_cli(["stop", "--socket", socket_name], env, timeout=30)
    assert again.returncode == 0 and "nothing to stop" in again.stdout
    second = chat(socket_name, b, env, "pwd\n/quit\n", "--terminate-when-quit")
    assert second.returncode == 0, second.stderr
    assert f"PWD {b}" in second.stdout
    assert "keeps running" not in second.stderr


def test_stop_all_ends_every_session_but_one_being_driven(
        tmp_path: Path, env: dict[str, str]) -> None:
    """`stop --all` ends the sessions left running on every socket the tool used; a session
    an orchestrator drives right now is left alone, said in one line (exit 1)."""
    sockets = [f"co-test-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    try:
        for i, socket in enumerate(sockets[:2]):
            done = chat(socket, folder(tmp_path, f"w{i}"), env, "hello\n/quit\n")
            assert done.returncode == 0, done.stderr
        driven = subprocess.Popen(
            [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", sockets[2],
             "--agent", "generic", "--claude-cmd", fake_agent_cmd(), str(folder(tmp_path, "d"))],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        assert driven.stdin is not None
        driven.stdin.write("hello\n")
        driven.stdin.flush()
        assert wait_until(lambda: tmux_cmd(sockets[2], "list-sessions").returncode == 0, 30)
        stopped = run_cli(["stop", "--all"], env, timeout=60)
        assert stopped.returncode == 1, stopped.stderr
        for socket in sockets[:2]:
            assert f"(socket {socket}) and the agent in it" in stopped.stdout
            assert tmux_cmd(socket, "list-sessions").returncode != 0
        assert f"left running: session gt-claude-loop (socket {sockets[2]})" in stopped.stderr
        assert tmux_cmd(sockets[2], "list-sessions").returncode == 0
        driven.communicate("/quit\n", timeout=30)
    finally:
        for socket in sockets:
            tmux_cmd(socket, "kill-server")


def test_a_library_session_left_running_is_said_on_stderr(
        tmp_path: Path, socket_name: str, env: dict[str, str]) -> None:
    """The end of a `with Session(...)` block that keeps Claude: one warning (through
    logging) naming the session and how to stop it; none when the session is ended."""
    work = folder(tmp_path, "w")
    code = ("import sys\nfrom claude_orchestrator import Session\n"
            f"with Session({str(work)!r}, socket={socket_name!r}, agent='generic', "
            f"claude_cmd={fake_agent_cmd()!r}, terminate_when_quit=sys.argv[1] == 'end') as s:\n"
            "    print(s.send('hello').reply)\n")
    kept = subprocess.run([sys.executable, "-c", code, "keep"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert kept.returncode == 0, kept.stderr
    assert "ECHO: hello" in kept.stdout
    assert "keeps running in tmux session gt-claude-loop" in kept.stderr, kept.stderr
    ended = subprocess.run([sys.executable, "-c", code, "end"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert ended.returncode == 0, ended.stderr
    assert "keeps running" not in ended.stderr


def test_chat_prints_the_reply_before_claude_has_written_its_usage(
        tmp_path: Path, socket_name: str, env: dict[str, str]) -> None:
    """The reply is on stdout while the transcript does not yet hold the turn's usage (written
    1.5 s after the Stop hook here); the usage is still recorded, once per turn."""
    transcripts = folder(tmp_path, "transcripts")
    work = folder(tmp_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", socket_name,
         "--agent", "claude", "--terminate-when-quit", "--claude-cmd",
         fake_agent_cmd("--transcript-dir", str(transcripts), "--usage-delay", "1.5"),
         str(work)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    def written() -> str:
        return "".join(p.read_text() for p in transcripts.glob("*.jsonl"))

    for n in (1, 2):
        assert wait_until(lambda n=n: written().count("turn_duration") == n - 1, 10)
        proc.stdin.write(f"message {n}\n")
        proc.stdin.flush()
        line = ""
        while not line.startswith("ECHO: "):
            line = proc.stdout.readline().removeprefix("you> ")
            assert line, proc.stderr.read() if proc.stderr else ""
        assert line.strip() == f"ECHO: message {n}"
        assert written().count("turn_duration") == n - 1  # this turn's usage: not there yet
    _, err = proc.communicate("/quit\n", timeout=60)
    assert proc.returncode == 0, err
    with RunLog(Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])) as log:
        run = log.list_runs()[0]
        assert run.claude_tokens == 2 * 110
        assert [t.claude_tokens for t in log.turns(run.id)] == [110, 110]


def test_a_reply_that_comes_after_a_cancelled_wait_is_recorded(
        tmp_path: Path, socket_name: str, env: dict[str, str]) -> None:
    """Ctrl-C while chat waits gives up the wait, not the turn: Claude's reply to it, when it
    comes, is recorded on that turn (said as such), and show counts it as answered."""
    work = folder(tmp_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", socket_name,
         "--agent", "claude", "--terminate-when-quit", "--claude-cmd", fake_agent_cmd(),
         str(work)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write("sleep 3\n")
    proc.stdin.flush()
    log_path = Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])

    def sent() -> bool:
        try:
            with RunLog(log_path, readonly=True) as log:
                runs = log.list_runs()
                return bool(runs) and bool(log.turns(runs[0].id))
        except RunLogMissing:  # not made yet
            return False
    assert wait_until(sent, 30)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(4)  # the turn ends meanwhile
    out, err = proc.communicate("next one\n", timeout=60)
    assert proc.returncode == 0, err
    assert "wait cancelled" in out and "ECHO: next one" in out
    with RunLog(log_path) as log:
        run = log.list_runs()[0]
        first, second = log.turns(run.id)
    assert (first.status, first.reply, first.recovery) == (
        "done", "slept 3", "the reply came after the wait was cancelled")
    assert second.reply == "ECHO: next one"
    shown = run_cli(["show", run.id], env).stdout
    assert "turns:         2\n" in shown and "(chat) sleep 3" not in shown


def test_a_confirmed_message_is_in_the_log_while_claude_works(
        tmp_path: Path, socket_name: str, env: dict[str, str]) -> None:
    """The run log says a message was confirmed (UserPromptSubmit) as soon as it is, not when
    its turn ends: `runs --watch` and the page show `working`, and the delivery, meanwhile."""
    work = folder(tmp_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_orchestrator", "--chat", "--socket", socket_name,
         "--agent", "claude", "--terminate-when-quit", "--claude-cmd", fake_agent_cmd(),
         str(work)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write("sleep 4\n")
    proc.stdin.flush()
    log_path = Path(env["CLAUDE_ORCHESTRATOR_RUNLOG"])
    seen: list[tuple[str | None, bool]] = []

    def confirmed_in_flight() -> bool:
        try:
            with RunLog(log_path, readonly=True) as log:
                runs = log.list_runs()
                turns = log.turns(runs[0].id) if runs else []
                if turns:
                    seen.append((runs[0].activity, turns[0].delivered_at is not None))
                return bool(turns) and turns[0].status == "sent" and (
                    turns[0].delivered_at is not None)
        except RunLogMissing:
            return False
    assert wait_until(confirmed_in_flight, 30), seen
    assert seen[-1] == ("working", True)
    _, err = proc.communicate("/quit\n", timeout=60)
    assert proc.returncode == 0, err
