"""Which Claude processes hold a conversation: Claude Code registers every interactive session
in `~/.claude/sessions/<pid>.json` (`pid`, `sessionId`, `cwd`; 2.1.197 and 2.1.332 alike).

Claude refuses `--session-id ID` once a transcript of ID exists: `Error: Session ID ID is
already in use.` (both releases; `--resume ID` is not refused, even while another process has
the conversation open: two Claudes then write one conversation). So before a restart, and on
that refusal, the orchestrator looks here: a holder that is its own earlier Claude (its command
line carries this session's private settings file) is ended; anyone else's is named.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.process import child_environ

IN_USE = re.compile(r"Session ID (\S+) is already in use")


@dataclass(frozen=True)
class Holder:
    """A live Claude process that has the conversation open."""

    pid: int
    cwd: str
    command: str  # its command line, as `ps` shows it

    def describe(self) -> str:
        return f"pid {self.pid} ({self.command[:80]}) in {self.cwd}"


def refused_session(screen: str) -> str | None:
    """The conversation id Claude refused to start as already in use, if it did.

    >>> refused_session('Error: Session ID 4f3a-01 is already in use.')
    '4f3a-01'
    >>> refused_session('No conversation found') is None
    True
    """
    m = IN_USE.search(screen)
    return m.group(1).rstrip(".") if m else None


def holders(home: Path, session_id: str) -> list[Holder]:
    """The live processes registered with this conversation."""
    found: list[Holder] = []
    with contextlib.suppress(OSError):
        for record in sorted((home / ".claude" / "sessions").glob("*.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                data = json.loads(record.read_text(encoding="utf-8"))
                pid = int(data["pid"])
                if data.get("sessionId") != session_id or not _alive(pid):
                    continue
                found.append(Holder(pid, str(data.get("cwd", "?")), _command(pid)))
    return found


def end(holder: Holder, *, wait: float = 3.0,
        sleep: Callable[[float], None] = time.sleep) -> bool:
    """End a holder: SIGTERM (and SIGCONT, should it be stopped), then SIGKILL after `wait`
    seconds. Returns whether it is gone."""
    for sig in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(holder.pid, sig)
    for kill in (False, True):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(holder.pid):
                return True
            sleep(0.05)
        if kill:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(holder.pid, signal.SIGKILL)
    return not _alive(holder.pid)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a dead child not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = _ps(pid, "stat=")
    return not state.startswith("Z")


def _command(pid: int) -> str:
    return _ps(pid, "args=") or "?"


def _ps(pid: int, field: str) -> str:
    """One `ps` field (Linux and macOS alike)."""
    try:
        out = subprocess.run(["ps", "-ww", "-o", field, "-p", str(pid)], capture_output=True,
                             text=True, timeout=5, env=child_environ(),
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def free(home: Path, session_id: str, ours: str,
         note: Callable[[str], None]) -> list[Holder]:
    """End the holders of the conversation that are the orchestrator's own earlier Claude
    (`ours` is in their command line: this session's private settings file); returns the
    others, whom nobody here may end."""
    others: list[Holder] = []
    for h in holders(home, session_id):
        if ours and ours in h.command:
            gone = end(h)
            note(f"ended this session's earlier Claude (pid {h.pid}), still holding the "
                 f"conversation {session_id}" + ("" if gone else "; it did not exit"))
        else:
            others.append(h)
    return others
