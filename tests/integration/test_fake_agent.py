"""Real-tmux tests of the simulated agent (tests/fakes/fake_agent.py)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

FAKE_AGENT = Path(__file__).resolve().parents[1] / "fakes" / "fake_agent.py"
TARGET = "=fa:"
SPINNER_RE = re.compile(r"^\S \w+… \(\d+s · esc to interrupt\)$", re.MULTILINE)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Pane:
    """A private tmux server (unique socket) running the fake agent in a 200x50 pane."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.socket = f"fa-test-{uuid.uuid4().hex[:12]}"
        self.log = tmp_path / "agent-log.jsonl"
        self.events = tmp_path / "events.jsonl"
        self.status_file = tmp_path / "exit-status"
        self.conf = tmp_path / "tmux.conf"
        self.conf.write_text("set -g remain-on-exit on\n")

    def tmux(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            check=True,
            timeout=10,
        )
        return proc.stdout.decode()

    def start(self, *args: str) -> None:
        agent = shlex.join(
            ["env", f"FAKE_AGENT_LOG={self.log}", sys.executable, str(FAKE_AGENT), *args]
        )
        # a shell wrapper records the exit status: tmux 3.3a sometimes never fills in
        # #{pane_dead_status} (a race between the pty's EOF and SIGCHLD)
        status_file = shlex.quote(str(self.status_file))
        cmd = shlex.join(["sh", "-c", f"{agent}; s=$?; echo $s > {status_file}; exit $s"])
        self.tmux(
            "-f", str(self.conf), "new-session", "-d", "-s", "fa", "-x", "200", "-y", "50",
            "-c", str(self.tmp), cmd,
        )  # fmt: skip

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", TARGET)

    def paste(self, text: str) -> None:
        self.tmux("load-buffer", "-b", "fa", "-", stdin=text)
        self.tmux("paste-buffer", "-p", "-d", "-b", "fa", "-t", TARGET)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", TARGET, *keys)

    def pane_dead(self) -> bool:
        return self.tmux("display-message", "-p", "-t", TARGET, "#{pane_dead}").strip() == "1"

    def wait_exit(self, timeout: float = 5.0) -> int:
        """Wait for the pane to die; return the agent's exit status."""
        wait_for(
            lambda: self.pane_dead() and self.status_file.exists() and self.status_file.read_text(),
            timeout,
            "pane death",
        )
        code = int(self.status_file.read_text())
        time.sleep(0.05)
        tmux_status = self.tmux("display-message", "-p", "-t", TARGET, "#{pane_dead_status}")
        assert tmux_status.strip() in ("", str(code))  # empty: the tmux 3.3a race
        return code

    def logged(self) -> list[str]:
        if not self.log.exists():
            return []
        return [json.loads(line)["text"] for line in self.log.read_text().splitlines()]

    def hook_events(self) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        return [json.loads(line) for line in self.events.read_text().splitlines() if line]

    def write_settings(self) -> Path:
        cmd = f"cat >> {shlex.quote(str(self.events))}; echo >> {shlex.quote(str(self.events))}"
        hooks = {
            event: [{"hooks": [{"type": "command", "command": cmd}]}]
            for event in ("SessionStart", "UserPromptSubmit", "Stop", "StopFailure")
        }
        path = self.tmp / "settings.json"
        path.write_text(json.dumps({"hooks": hooks}))
        return path


def wait_for(pred: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_screen(
    pane: Pane, pred: Callable[[str], bool], timeout: float = 5.0, what: str = ""
) -> str:
    """Wait until ``pred(screen)`` holds; return that screen."""
    seen: list[str] = []

    def check() -> bool:
        seen[:] = [pane.screen()]
        return pred(seen[0])

    try:
        wait_for(check, timeout, what or "screen")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last screen:\n{seen[0] if seen else ''}") from None
    return seen[0]


def is_idle(screen: str) -> bool:
    lines = screen.rstrip("\n").splitlines()
    return bool(lines) and lines[-1] == "  ? for shortcuts" and "esc to interrupt" not in screen


def is_busy(screen: str) -> bool:
    return bool(SPINNER_RE.search(screen)) and screen.rstrip().endswith("  esc to interrupt")


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    p = Pane(tmp_path)
    try:
        yield p
    finally:
        p.close()


def submit(pane: Pane, text: str) -> None:
    pane.paste(text)
    pane.keys("Enter")


def test_idle_screen_layout(pane: Pane) -> None:
    pane.start("--dangerously-skip-permissions", "--model", "sonnet")
    screen = wait_screen(pane, is_idle, what="idle prompt")
    lines = screen.rstrip("\n").splitlines()
    assert lines[-5:] == ["", "─" * 200, "❯", "─" * 200, "  ? for shortcuts"]


def test_paste_is_logged_exactly_and_echoed(pane: Pane) -> None:
    pane.start()
    wait_for(lambda: is_idle(pane.screen()), what="idle prompt")
    text = "first line\n\tindented 'single' \"double\" 😀 ünï\n\nlast $HOME `x` \\n"
    pane.paste(text)
    wait_for(lambda: "❯ first line" in pane.screen(), what="pasted text in the input")
    assert pane.logged() == []  # a paste alone does not submit
    pane.keys("Enter")
    wait_for(lambda: pane.logged(), what="log line")
    assert pane.logged() == [text]
    screen = wait_screen(
        pane,
        lambda s: is_idle(s) and "✻ Worked for" in s,
        what="reply",
    )
    assert "● ECHO: first line\n      indented 'single' \"double\" 😀 ünï\n\n  last $HOME" in screen
    assert "❯ first line\n      indented" in screen  # the prompt echoed into history


def test_busy_spinner_queue_and_interrupt(pane: Pane) -> None:
    pane.start("--settings", str(pane.write_settings()))
    wait_for(lambda: is_idle(pane.screen()), what="idle prompt")
    submit(pane, "sleep 30")
    wait_for(lambda: is_busy(pane.screen()), what="busy screen")
    submit(pane, "queued one")
    screen = wait_screen(pane, lambda s: "  ❯ queued one" in s, what="queued message")
    assert "❯ Press up to edit queued messages" in screen
    assert pane.logged() == ["sleep 30", "queued one"]
    pane.keys("Escape")
    screen = wait_screen(pane, is_idle, what="idle after interrupt")
    assert "  ⎿  Interrupted by user" in screen
    assert (
        "❯ queued one" in screen.rstrip().splitlines()[-3]
    )  # queued text went back into the input
    events = [e["hook_event_name"] for e in pane.hook_events()]
    assert events == ["SessionStart", "UserPromptSubmit"]  # no Stop after an interrupt


def test_hooks_run_like_claude(pane: Pane) -> None:
    pane.start("--settings", str(pane.write_settings()), "--setting-sources", "user")
    wait_for(lambda: is_idle(pane.screen()), what="idle prompt")
    start = wait_for(lambda: pane.hook_events(), what="SessionStart")[0]
    assert start["hook_event_name"] == "SessionStart"
    assert start["source"] == "startup"
    session_id = start["session_id"]

    submit(pane, "hello\tthere  ")
    wait_for(lambda: len(pane.hook_events()) >= 3, what="Stop hook")
    _, ups, stop = pane.hook_events()
    assert ups["hook_event_name"] == "UserPromptSubmit"
    assert ups["prompt"] == "hello    there"
    assert ups["session_id"] == session_id
    assert stop["hook_event_name"] == "Stop"
    assert stop["last_assistant_message"] == "ECHO: hello    there"
    assert stop["stop_hook_active"] is False
    assert stop["prompt_id"] == ups["prompt_id"]
    wait_for(lambda: is_idle(pane.screen()), what="idle after reply")

    submit(pane, "lines 3")
    wait_for(lambda: len(pane.hook_events()) >= 5, what="second Stop")
    assert pane.hook_events()[-1]["last_assistant_message"] == "line 1\nline 2\nline 3"
    wait_for(lambda: is_idle(pane.screen()), what="idle after reply")
    assert "● line 1\n  line 2\n  line 3\n\n✻ Worked for" in pane.screen()

    submit(pane, "api-error")
    wait_for(lambda: len(pane.hook_events()) >= 7, what="StopFailure")
    failure = pane.hook_events()[-1]
    assert failure["hook_event_name"] == "StopFailure"
    assert failure["last_assistant_message"] == "API Error: 400 simulated"
    assert "error" in failure
    screen = wait_screen(pane, is_idle, what="idle")
    assert "● API Error: 400 simulated" in screen
    time.sleep(0.2)
    assert len(pane.hook_events()) == 7


def test_resume_reuses_session_id(pane: Pane) -> None:
    pane.start("--settings", str(pane.write_settings()), "--resume", "abc-123")
    start = wait_for(lambda: pane.hook_events(), what="SessionStart")[0]
    assert (start["session_id"], start["source"]) == ("abc-123", "resume")


def test_code_reply_keeps_indentation(pane: Pane) -> None:
    pane.start("--settings", str(pane.write_settings()))
    wait_for(lambda: is_idle(pane.screen()), what="idle prompt")
    submit(pane, "code")
    stop = wait_for(
        lambda: [e for e in pane.hook_events() if e["hook_event_name"] == "Stop"], what="Stop"
    )[0]
    assert "```python\ndef greet(name):\n" in stop["last_assistant_message"]
    screen = wait_screen(pane, is_idle, what="idle")
    assert "  def greet(name):\n      greeting = " in screen
    assert "```" not in screen


def test_stream_prints_lines_while_busy(pane: Pane) -> None:
    pane.start()
    wait_for(lambda: is_idle(pane.screen()), what="idle prompt")
    submit(pane, "stream 2")
    screen = wait_screen(pane, lambda s: "● stream line 1" in s, what="first line")
    assert is_busy(screen)
    screen = wait_screen(pane, is_idle, what="idle", timeout=5)
    assert "● stream line 1\n  stream line 2\n\n✻ Worked for 2s" in screen


def test_exit_status(pane: Pane) -> None:
    pane.start()
    wait_for(lambda: is_idle(pane.screen()), what="idle prompt")
    submit(pane, "exit 3")
    assert pane.wait_exit() == 3
    assert pane.logged() == ["exit 3"]


def test_crash_after(pane: Pane) -> None:
    pane.start()
    wait_for(lambda: is_idle(pane.screen()), what="idle prompt")
    submit(pane, "crash-after 0.3")
    assert pane.wait_exit() == 1


def test_die_at_start(pane: Pane) -> None:
    pane.start("--die-at-start", "7")
    assert pane.wait_exit() == 7
    assert "fatal: simulated start failure" in pane.tmux(
        "capture-pane", "-p", "-S", "-", "-t", TARGET
    )


def test_swallow_enters(pane: Pane) -> None:
    pane.start("--swallow-enters", "1")
    wait_for(lambda: is_idle(pane.screen()), what="idle prompt")
    submit(pane, "hello")
    time.sleep(0.5)
    assert pane.logged() == []
    assert pane.screen().rstrip().splitlines()[-3] == "❯ hello"  # still in the input
    pane.keys("Enter")
    wait_for(lambda: pane.logged() == ["hello"], what="second Enter submits")


def test_trust_dialog(pane: Pane) -> None:
    pane.start("--dialog", "trust", "--start-delay", "0.2")
    screen = wait_screen(
        pane,
        lambda s: "Quick safety check" in s,
    )
    assert " ❯ 1. Yes, I trust this folder" in screen
    assert "   2. No, exit" in screen
    pane.keys("Enter")
    wait_for(lambda: is_idle(pane.screen()), what="prompt after the dialog")
    assert "Quick safety check" not in pane.screen()


@pytest.mark.parametrize(("keys", "status"), [(["Down", "Enter"], None), (["Enter"], 1)])
def test_bypass_dialog(pane: Pane, keys: list[str], status: int | None) -> None:
    pane.start("--dialog", "bypass")
    wait_for(lambda: "Bypass Permissions mode" in pane.screen(), what="bypass dialog")
    assert " ❯ 1. No, exit\n   2. Yes, I accept" in pane.screen()
    for key in keys:
        pane.keys(key)
        time.sleep(0.1)
    if status is None:
        wait_for(lambda: is_idle(pane.screen()), what="prompt after the dialog")
    else:
        assert pane.wait_exit() == status
