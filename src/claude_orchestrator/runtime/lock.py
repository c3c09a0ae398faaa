"""One orchestrator per tmux session: two would type into the same pane."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from claude_orchestrator.errors import SessionBusy
from claude_orchestrator.runtime.state import open_private


def lock_session(path: Path) -> int:
    """One orchestrator per tmux session: two would type into the same pane. `path` is keyed
    to the tmux socket's real path (runtime/state.py `lock_path`)."""
    fd = open_private(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SessionBusy(f"another claude-orchestrator (pid {holder}) is driving this tmux "
                          "session; use --session or --socket to run a second one") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd
