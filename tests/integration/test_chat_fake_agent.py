"""Chat mode end to end: the CLI as a subprocess, a real tmux server, the simulated agent.

Delivery is checked byte for byte in the agent's own log; recovery by killing tmux for real.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_orchestrator.config import resolve
from claude_orchestrator.progress import QuietReporter
from claude_orchestrator.session import AgentSession
from tests.integration.conftest import (
    fake_agent_cmd,
    logged_texts,
    run_cli,
    tmux_cmd,
    wait_until,
)

TRICKY = [
    "it's \"quoted\" and 'single'",
    "$(echo pwned) `uname` ; rm -rf / && echo no || true",
    "unicode: naïve café – Ωmega ✓ 日本語 and emoji 🚀🔥👩‍💻",
    "tab\tseparated\tcolumns",
    "back\\slash \\n not a newline %s %d {}",
]


def chat_args(socket: str, workdir: Path, *agent_opts: str, extra: tuple[str, ...] = ()
              ) -> list[str]:
    return ["--chat", "--socket", socket, "--agent", "generic",
            "--claude-cmd", fake_agent_cmd(*agent_opts), *extra, str(workdir)]


def spawn_chat(socket: str, workdir: Path, env: dict[str, str], agent_log: Path,
               first: str) -> subprocess.Popen[str]:
    """The chat CLI in the background, after it delivered `first` (stdin stays open)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_orchestrator", *chat_args(socket, workdir)], env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(first + "\n")
    proc.stdin.flush()
    assert wait_until(lambda: logged_texts(agent_log)[-1:] == [first], 15)
    return proc


def test_tricky_single_lines_arrive_exactly(socket_name: str, tmp_path: Path,
                                            cli_env: dict[str, str], agent_log: Path) -> None:
    proc = run_cli(chat_args(socket_name, tmp_path), cli_env, input="\n".join(TRICKY) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert logged_texts(agent_log) == [t for t in TRICKY]
    for text in TRICKY:
        # The echo reply shows the text (tabs rendered as spaces by the terminal).
        assert f"ECHO: {text.expandtabs(4).split(chr(9))[0][:30]}" in proc.stdout.replace(
            "\t", "    ") or text.split("\t")[0] in proc.stdout


def test_multiline_and_10kb_arrive_exactly(socket_name: str, tmp_path: Path,
                                           cli_env: dict[str, str], agent_log: Path) -> None:
    """Multi-line messages need the session API (a chat line is one line): one paste, one
    submit, newlines and tabs intact."""
    from claude_orchestrator.turn import run_turn

    config = resolve({"socket": socket_name, "agent": "generic",
                      "claude_cmd": fake_agent_cmd()}, cli_env, workdir=str(tmp_path))
    multi = "first line\n    indented line\n\n\tafter a blank, with a tab\nlast `line` $(x)"
    big = "".join(f"{i:05d} {'x' * 90}\n" for i in range(110)).rstrip("\n")
    assert len(big) > 10_000
    import os

    os.environ["FAKE_AGENT_LOG"] = str(agent_log)
    sess = AgentSession(config, QuietReporter(), environ=cli_env)
    try:
        first = run_turn(sess, multi)
        second = run_turn(sess, big)
    finally:
        sess.close(terminate=True)
    assert logged_texts(agent_log) == [multi, big]
    assert first.ended_by == "screen" and first.reply.startswith("ECHO: first line")
    assert "    indented line" in first.reply
    assert second.reply.endswith("x" * 90)
    assert first.enters == 1 and second.enters == 1


def test_control_characters_are_removed_but_tabs_kept(socket_name: str, tmp_path: Path,
                                                      cli_env: dict[str, str],
                                                      agent_log: Path) -> None:
    line = "bell\x07 esc\x1b[31mred\x1b[0m nul-free\ttab"
    proc = run_cli(chat_args(socket_name, tmp_path), cli_env, input=line + "\n")
    assert proc.returncode == 0, proc.stderr
    assert logged_texts(agent_log) == ["bell escred nul-free\ttab"]


def test_swallowed_enter_is_sent_again_and_message_submitted_once(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str], agent_log: Path) -> None:
    proc = run_cli(chat_args(socket_name, tmp_path, "--swallow-enters", "1"), cli_env,
                   input="please answer\n")
    assert proc.returncode == 0, proc.stderr
    assert logged_texts(agent_log) == ["please answer"]
    assert "ECHO: please answer" in proc.stdout


def test_code_reply_keeps_indentation_after_blank_lines(socket_name: str, tmp_path: Path,
                                                        cli_env: dict[str, str]) -> None:
    proc = run_cli(chat_args(socket_name, tmp_path), cli_env, input="code\n")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    body = out[out.index("def greet"):]
    lines = body.splitlines()
    blank = lines.index("")
    assert lines[blank + 1].startswith("    "), body


def test_long_turn_with_continuous_change_is_waited_for(socket_name: str, tmp_path: Path,
                                                        cli_env: dict[str, str]) -> None:
    """No fixed upper limit: a turn that keeps changing the screen for longer than the idle
    timeout (shortened to 2 s here; the Go tool's hard limit was 90 s) is waited for."""
    proc = run_cli(chat_args(socket_name, tmp_path, extra=("--idle-timeout", "2")), cli_env,
                   input="stream 6\n")
    assert proc.returncode == 0, proc.stderr
    for i in (1, 5):
        assert f"{i}" in proc.stdout
    assert "(no reply)" not in proc.stdout


def test_idle_timeout_reports_no_response(socket_name: str, tmp_path: Path,
                                          cli_env: dict[str, str]) -> None:
    proc = run_cli(chat_args(socket_name, tmp_path, extra=("--idle-timeout", "1")), cli_env,
                   input="silent\n")
    assert proc.returncode == 0, proc.stderr
    assert "(no reply)" in proc.stdout


@pytest.mark.parametrize("kill", ["kill-session", "kill-server"])
def test_recovers_when_tmux_is_killed_between_messages(kill: str, socket_name: str,
                                                       tmp_path: Path, cli_env: dict[str, str],
                                                       agent_log: Path) -> None:
    proc = spawn_chat(socket_name, tmp_path, cli_env, agent_log, "before")
    time.sleep(0.5)
    args = ["kill-session", "-t", "=gt-claude-loop"] if kill == "kill-session" else [kill]
    tmux_cmd(socket_name, *args)
    out, err = proc.communicate("after\n", timeout=60)
    assert proc.returncode == 0, err
    assert logged_texts(agent_log) == ["before", "after"]
    assert "ECHO: after" in out
    assert "restarting" in err


def test_dead_pane_is_restarted_and_next_message_delivered(socket_name: str, tmp_path: Path,
                                                           cli_env: dict[str, str],
                                                           agent_log: Path) -> None:
    proc = run_cli(chat_args(socket_name, tmp_path), cli_env, input="exit 3\nhello again\n")
    assert proc.returncode == 0, proc.stderr
    assert logged_texts(agent_log) == ["exit 3", "hello again"]
    assert "exited with status 3" in proc.stderr
    assert "ECHO: hello again" in proc.stdout


def test_command_that_dies_at_start_is_reported_with_status_and_screen(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str]) -> None:
    t0 = time.monotonic()
    proc = run_cli(chat_args(socket_name, tmp_path, "--die-at-start", "7"), cli_env, input="x\n")
    elapsed = time.monotonic() - t0
    assert proc.returncode == 5, proc.stderr
    assert "status 7" in proc.stderr
    assert "simulated start failure" in proc.stderr
    assert proc.stderr.count("trying again") == 2  # bounded: 3 attempts with backoff
    assert "Traceback" not in proc.stderr
    assert elapsed > 1.5  # backoff between attempts, never a tight loop


@pytest.mark.parametrize("terminate", [False, True])
def test_terminate_when_quit(terminate: bool, socket_name: str, tmp_path: Path,
                             cli_env: dict[str, str]) -> None:
    env = dict(cli_env, TERMINATE_WHEN_QUIT="true" if terminate else "false")
    proc = run_cli(chat_args(socket_name, tmp_path), env, input="hi\n/quit\n")
    assert proc.returncode == 0, proc.stderr
    alive = tmux_cmd(socket_name, "has-session", "-t", "=gt-claude-loop").returncode == 0
    assert alive is not terminate
    if terminate:
        assert tmux_cmd(socket_name, "list-sessions").returncode != 0  # server gone too


def test_ctrl_c_cancels_the_wait_then_chat_goes_on(socket_name: str, tmp_path: Path,
                                                   cli_env: dict[str, str],
                                                   agent_log: Path) -> None:
    proc = spawn_chat(socket_name, tmp_path, cli_env, agent_log, "sleep 4")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    time.sleep(4.5)  # the agent finishes its turn meanwhile
    out, err = proc.communicate("next one\n", timeout=60)
    assert proc.returncode == 0, err
    assert "wait cancelled" in out
    assert "ECHO: next one" in out
    assert logged_texts(agent_log) == ["sleep 4", "next one"]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_at_the_prompt_exits_with_its_status(sig: signal.Signals, status: int,
                                                    socket_name: str, tmp_path: Path,
                                                    cli_env: dict[str, str]) -> None:
    env = dict(cli_env, TERMINATE_WHEN_QUIT="true")
    proc = subprocess.Popen(
        [sys.executable, "-m", "claude_orchestrator", *chat_args(socket_name, tmp_path)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    assert wait_until(lambda: tmux_cmd(socket_name, "has-session", "-t",
                                       "=gt-claude-loop").returncode == 0, 15)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert wait_until(lambda: tmux_cmd(socket_name, "list-sessions").returncode != 0, 5)


def test_a_second_orchestrator_on_the_same_session_is_refused(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str], agent_log: Path) -> None:
    first = spawn_chat(socket_name, tmp_path, cli_env, agent_log, "hello")
    second = run_cli(chat_args(socket_name, tmp_path), cli_env, input="intruder\n")
    assert second.returncode == 2
    assert "another claude-orchestrator" in second.stderr
    assert "Traceback" not in second.stderr
    _, err = first.communicate("", timeout=30)
    assert first.returncode == 0, err
    assert logged_texts(agent_log) == ["hello"]


def _hook_session(socket: str, workdir: Path, env: dict[str, str],
                  *agent_opts: str) -> AgentSession:
    """An in-process session on the hook path (the simulated agent runs Claude-style hooks)."""
    config = resolve({"socket": socket, "agent": "claude",
                      "claude_cmd": fake_agent_cmd(*agent_opts)}, env, workdir=str(workdir))
    return AgentSession(config, QuietReporter(), environ=env)


def test_garbled_delivery_is_redelivered_once_after_its_turn(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str], agent_log: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from claude_orchestrator.turn import run_turn

    monkeypatch.setenv("FAKE_AGENT_LOG", str(agent_log))
    sess = _hook_session(socket_name, tmp_path, cli_env, "--garble-submits", "1")
    try:
        result = run_turn(sess, "please run the test suite")
    finally:
        sess.close(terminate=True)
    assert logged_texts(agent_log) == ["please run the test suit", "please run the test suite"]
    assert result.reply == "ECHO: please run the test suite"
    assert result.received_text == "please run the test suite"
    assert isinstance(sess.reporter, QuietReporter)
    assert any("garbled" in n for n in sess.reporter.notes)


def test_garbled_twice_stops_with_both_texts(socket_name: str, tmp_path: Path,
                                            cli_env: dict[str, str], agent_log: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from claude_orchestrator.turn import DeliveryError, run_turn

    monkeypatch.setenv("FAKE_AGENT_LOG", str(agent_log))
    sess = _hook_session(socket_name, tmp_path, cli_env, "--garble-submits", "2")
    try:
        with pytest.raises(DeliveryError) as info:
            run_turn(sess, "please run the test suite")
    finally:
        sess.close(terminate=True)
    assert "--- sent:\nplease run the test suite" in str(info.value)
    assert "--- received:\nplease run the test suit" in str(info.value)
    assert len(logged_texts(agent_log)) == 2


def test_an_unknown_prompt_glyph_is_ready_by_the_session_start_hook(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str], agent_log: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A Claude update that redraws its prompt must not break start-up or turns: the hooks say
    when it is ready and when a turn ended."""
    from claude_orchestrator.turn import run_turn

    monkeypatch.setenv("FAKE_AGENT_LOG", str(agent_log))
    sess = _hook_session(socket_name, tmp_path, cli_env, "--prompt-glyph", "λ")
    try:
        sess.ensure_ready()
        result = run_turn(sess, "hello new UI")
    finally:
        sess.close(terminate=True)
    assert isinstance(sess.reporter, QuietReporter)
    assert any("not recognised on screen" in n for n in sess.reporter.notes)
    assert result.ended_by == "hook" and result.reply == "ECHO: hello new UI"
    assert logged_texts(agent_log) == ["hello new UI"]


def test_a_detached_control_client_is_replaced_and_the_turn_completes(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str], agent_log: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone detaches every client of the session mid-turn (`tmux detach-client -s`): the
    orchestrator's control client goes; it attaches again and the turn still ends by its hook,
    without spinning."""
    import resource

    from claude_orchestrator.turn import run_turn

    monkeypatch.setenv("FAKE_AGENT_LOG", str(agent_log))
    sess = _hook_session(socket_name, tmp_path, cli_env)
    try:
        sess.ensure_ready()
        import threading

        first_client = sess.watcher.control
        timer = threading.Timer(1.0, lambda: tmux_cmd(socket_name, "detach-client", "-s",
                                                      "gt-claude-loop"))
        timer.start()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        result = run_turn(sess, "sleep 4")
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        timer.join()
        assert first_client is not None and first_client.proc.poll() is not None  # detached
        assert sess.watcher.control is not None and not sess.watcher.control.ended
    finally:
        sess.close(terminate=True)
    assert result.ended_by == "hook" and result.reply == "slept 4"
    # Not a busy loop: far less than a second of CPU for a 4-second wait.
    used = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    assert used < 1.0, used


def test_a_busy_screen_that_does_not_redraw_is_not_an_idle_timeout(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str], agent_log: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A long tool call may leave the screen still while Claude says it is busy: the idle
    timeout (1 s here) must not end the turn while the screen says busy."""
    from claude_orchestrator.turn import run_turn

    monkeypatch.setenv("FAKE_AGENT_LOG", str(agent_log))
    config = resolve({"socket": socket_name, "agent": "claude", "idle_timeout": "1",
                      "claude_cmd": fake_agent_cmd("--still-spinner")}, cli_env,
                     workdir=str(tmp_path))
    sess = AgentSession(config, QuietReporter(), environ=cli_env)
    try:
        result = run_turn(sess, "sleep 4")
    finally:
        sess.close(terminate=True)
    assert result.ended_by == "hook" and result.reply == "slept 4"


def test_a_line_of_control_characters_is_not_sent(socket_name: str, tmp_path: Path,
                                                 cli_env: dict[str, str],
                                                 agent_log: Path) -> None:
    """Nothing is left once control characters go: one line says so, the next message is
    delivered as usual (tmux is never asked to paste nothing)."""
    proc = run_cli(chat_args(socket_name, tmp_path), cli_env,
                   input="\x07\x1b[31m\x1b[0m\x00\nhello after\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("nothing to send") == 1
    assert "ECHO: hello after" in proc.stdout
    assert logged_texts(agent_log) == ["hello after"]


def test_two_sessions_on_one_socket_start_recover_and_stop_independently(
        socket_name: str, tmp_path: Path, cli_env: dict[str, str]) -> None:
    """Two orchestrators on one tmux server (the busy-session hint says to use --session): each
    starts its own agent, recovers when its own session is killed, and leaves the other alone
    when it quits and kills its session."""
    logs = {name: tmp_path / f"{name}.jsonl" for name in ("one", "two")}

    def spawn(name: str) -> subprocess.Popen[str]:
        env = dict(cli_env, FAKE_AGENT_LOG=str(logs[name]))
        proc = subprocess.Popen(
            [sys.executable, "-m", "claude_orchestrator", *chat_args(socket_name, tmp_path),
             "--session", name, "--terminate-when-quit"], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdin is not None
        proc.stdin.write(f"hello from {name}\n")
        proc.stdin.flush()
        return proc

    one, two = spawn("one"), spawn("two")
    for name in ("one", "two"):
        assert wait_until(lambda n=name: logged_texts(logs[n]) == [f"hello from {n}"], 20)
    tmux_cmd(socket_name, "kill-session", "-t", "=one")  # the first one's session dies
    out_one, err_one = one.communicate("after the crash\n", timeout=60)
    assert one.returncode == 0, err_one
    assert "ECHO: after the crash" in out_one and "restarting" in err_one
    # The first quit and killed its session; the second's session and agent live on.
    assert tmux_cmd(socket_name, "has-session", "-t", "=two").returncode == 0
    assert tmux_cmd(socket_name, "has-session", "-t", "=one").returncode != 0
    out_two, err_two = two.communicate("still here\n", timeout=60)
    assert two.returncode == 0, err_two
    assert "ECHO: still here" in out_two and "restarting" not in err_two
    assert logged_texts(logs["two"]) == ["hello from two", "still here"]
    assert tmux_cmd(socket_name, "has-session").returncode != 0  # the last one took the server
