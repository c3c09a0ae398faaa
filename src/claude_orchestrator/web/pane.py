"""A run's pane, read-only: what `tmux capture-pane` shows of the run's own session on its own
private socket. Nothing is ever typed: no send-keys, no paste, no Ctrl-C.

The capture runs as a child with a bare environment (no secret of ours reaches it) and a
bounded time; it is cleaned as every capture is (escapes out, indentation kept), and the page
escapes and redacts it like any other text.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

from claude_orchestrator.runlog import RunRecord
from claude_orchestrator.screen import clean

LINES = 60  # how much of the pane (and its scrollback) a page shows
_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMUX_TMPDIR", "TMPDIR")


class Panes:
    """Captures of runs' panes, each kept `ttl` seconds (pages and the lane share them)."""

    def __init__(self, ttl: float = 1.5, ttl_missing: float = 30.0) -> None:
        self.ttl = ttl
        self.ttl_missing = ttl_missing  # a session that is not there is asked for less often
        self.tmux = shutil.which("tmux")
        self.host = socket.gethostname()
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def capture(self, run: RunRecord) -> str | None:
        """The pane's text now, or None (no tmux, another machine's run, no such session)."""
        if not self.tmux or not run.socket or not run.session or run.host != self.host:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(run.id)
            if hit is not None and now - hit[0] < (self.ttl if hit[1] is not None
                                                   else self.ttl_missing):
                return hit[1]
        text = self._capture(run.socket, run.session)
        with self._lock:
            self._cache[run.id] = (now, text)
            if len(self._cache) > 256:
                self._cache.pop(next(iter(self._cache)))
        return text

    def _capture(self, sock: str, session: str) -> str | None:
        env = {k: v for k, v in os.environ.items() if k in _ENV}
        try:
            out = subprocess.run(
                [str(self.tmux), "-L", sock, "capture-pane", "-p", "-J", "-S", f"-{LINES}",
                 "-t", f"={session}:"], capture_output=True, text=True, timeout=3, env=env,
                stdin=subprocess.DEVNULL, errors="replace")
        except (OSError, subprocess.SubprocessError):
            return None
        if out.returncode != 0:
            return None
        lines = clean(out.stdout).splitlines()
        return "\n".join(lines[-LINES:])
