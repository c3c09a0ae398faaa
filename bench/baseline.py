"""The Go original's turn algorithm, re-implemented here from its description (not its code), so
both are measured side by side against the same Claude Code and the same fake API.

What it does, per seed-baseline.md and mission.md: before every message a 1.5 s liveness check
(waitForRuntimeReady), the text typed with `send-keys -l`, 500 ms of sleep, then Enter; then
poll `capture-pane` (2,000 lines of scrollback) every 500 ms until the pane changed and then
stayed the same for 2 s, giving up after 90 s.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

LIVENESS_CHECK = 1.5
BEFORE_ENTER = 0.5
POLL = 0.5
STABLE = 2.0
LIMIT = 90.0


@dataclass(frozen=True)
class BaselineTurn:
    sent_at: float  # wall clock when the message was handed over
    entered_at: float  # Enter pressed (the Go tool cannot confirm delivery)
    reply_at: float  # the output was declared final
    output: str


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=False).stdout


def baseline_turn(socket: str, session: str, text: str) -> BaselineTurn:
    target = f"={session}:"
    sent_at = time.time()
    time.sleep(LIVENESS_CHECK)
    if subprocess.run(["tmux", "-L", socket, "has-session", "-t", f"={session}"],
                      capture_output=True, check=False).returncode != 0:
        raise RuntimeError("session gone")
    before = _tmux(socket, "capture-pane", "-p", "-t", target, "-S", "-2000")
    _tmux(socket, "send-keys", "-t", target, "-l", text)
    time.sleep(BEFORE_ENTER)
    _tmux(socket, "send-keys", "-t", target, "Enter")
    entered_at = time.time()
    last = before
    changed = False
    stable_since = time.monotonic()
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        time.sleep(POLL)
        current = _tmux(socket, "capture-pane", "-p", "-t", target, "-S", "-2000")
        now = time.monotonic()
        if current != last:
            changed = True
            last = current
            stable_since = now
        elif changed and now - stable_since >= STABLE:
            return BaselineTurn(sent_at, entered_at, time.time(), current)
    raise TimeoutError("no stable output within 90 s")
