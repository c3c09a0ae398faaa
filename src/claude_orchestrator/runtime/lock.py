"""One orchestrator per tmux session: two would type into the same pane."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from claude_orchestrator.errors import SessionBusy
from claude_orchestrator.runtime.state import open_private


def lock_session(path: Path) -> int:
    """One orchestrator per tmux session: two would type into the same pane. `path` is keyed
    to the tmux socket's real path (runtime/state.py `lock_path`). The holder removes the file
    when it leaves (`unlock_session`): a lock taken on a file that was removed meanwhile is
    dropped and taken again on the new one, so two never hold it at once."""
    while True:
        fd = open_private(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise SessionBusy(f"another claude-orchestrator (pid {holder}) is driving this "
                              "tmux session; use --session or --socket to run a second one"
                              ) from None
        if _still_named(fd, path):
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def unlock_session(fd: int, path: Path) -> None:
    """Leave: the lock file goes (while still held, so no one else's is removed), then the
    lock."""
    with contextlib.suppress(OSError):
        if _still_named(fd, path):
            os.unlink(path)
    with contextlib.suppress(OSError):
        os.close(fd)


def _still_named(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except FileNotFoundError:
        return False
