"""One orchestrator per tmux session: two would type into the same pane."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from claude_orchestrator.errors import SessionBusy


def lock_session(folder: Path) -> int:
    """One orchestrator per tmux session: two would type into the same pane."""
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
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
