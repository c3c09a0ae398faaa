"""`claude-orchestrator stop`: end an agent the tool left running, and its tmux session.

A chat that ended with `/quit`, a run that finished or stopped, or a `with Session(...)` block
leaves Claude running in its tmux session for the person to attach to (the seed's behaviour).
This ends it: the session is killed (its processes get SIGHUP, as when a terminal closes; Claude
saves its conversation as it goes, so `--resume` still finds it), the server goes when it holds
no other session, and the session's state folder is removed but for its hook record (a stopped
run's `resume` reads it). A session an orchestrator is driving right now is refused: that
orchestrator is stopped with Ctrl-C (or SIGTERM), which records its run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping

from claude_orchestrator.errors import SessionBusy
from claude_orchestrator.runtime.lock import lock_session, unlock_session
from claude_orchestrator.runtime.state import lock_path, remove_dir, state_root
from claude_orchestrator.runtime.tmux import SERVER_ENV, end_group


def _tmux(tmux_bin: str, socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k in SERVER_ENV or k.startswith("LC_")}
    return subprocess.run([tmux_bin, "-L", socket, "-f", "/dev/null", *args], env=env,
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                          check=False)


def sessions_on(tmux_bin: str, socket: str) -> list[str]:
    """The sessions of the tmux server on `socket` (none when no server runs there)."""
    out = _tmux(tmux_bin, socket, "list-sessions", "-F", "#{session_name}")
    return [name for name in out.stdout.split() if name] if out.returncode == 0 else []


def product_sockets(environ: Mapping[str, str], default: str) -> list[str]:
    """Every socket the tool has used for this user: the default, and each one a session's
    state folder (`SOCKET.SESSION` under the private state root) names."""
    found = {default}
    with contextlib.suppress(OSError):
        for folder in state_root(environ).iterdir():
            if folder.is_dir() and "." in folder.name:
                found.add(folder.name.rsplit(".", 1)[0])
    return sorted(found)


def stop_session(tmux_bin: str, socket: str, session: str,
                 environ: Mapping[str, str]) -> bool:
    """End the session's agent and the session (and the server when it was the last). False
    when there was no such session. Raises SessionBusy while an orchestrator drives it."""
    path = lock_path(socket, session, environ)
    lock = lock_session(path)  # nobody may drive it meanwhile
    try:
        if session not in sessions_on(tmux_bin, socket):
            return False
        pane = _tmux(tmux_bin, socket, "display-message", "-p", "-t", f"={session}:",
                     "#{pane_pid}").stdout.strip()
        _tmux(tmux_bin, socket, "kill-session", "-t", f"={session}")
        if pane.isdigit():
            end_group(int(pane))  # what ignores the SIGHUP (Gemini CLI)
        if not sessions_on(tmux_bin, socket):
            _tmux(tmux_bin, socket, "kill-server")
        folder = state_root(environ) / f"{socket}.{session}"
        if folder.is_dir() and not folder.is_symlink():
            remove_dir(folder, keep=("events.jsonl",))
        return True
    finally:
        unlock_session(lock, path)  # the lock file goes too


def stop_all(tmux_bin: str, environ: Mapping[str, str], default_socket: str
             ) -> tuple[list[tuple[str, str]], list[str]]:
    """Stop every session on every socket the tool used: the (socket, session) pairs ended,
    and one line for each that an orchestrator drives (left alone)."""
    ended: list[tuple[str, str]] = []
    busy: list[str] = []
    for socket in product_sockets(environ, default_socket):
        for session in sessions_on(tmux_bin, socket):
            try:
                if stop_session(tmux_bin, socket, session, environ):
                    ended.append((socket, session))
            except SessionBusy as e:
                busy.append(f"session {session} (socket {socket}): {e}")
    return ended, busy
