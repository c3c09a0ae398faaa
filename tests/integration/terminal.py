"""A command in a real terminal (a pty): what it drew, keys typed into it, its exit status."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import threading
import time
from collections.abc import Mapping, Sequence

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[=>]")


class Terminal:
    """`argv` run in a pty of `columns` x `lines`, its output drained in the background."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], *, columns: int = 80,
                 lines: int = 24) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execvpe(argv[0], list(argv), dict(env, TERM="xterm-256color",
                                                 COLUMNS=str(columns), LINES=str(lines)))
        self.seen = b""
        self.lock = threading.Lock()
        self.status: int | None = None
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                if ready:
                    data = os.read(self.fd, 65536)
                    if not data:
                        return
                    with self.lock:
                        self.seen += data

    def text(self) -> str:
        """What it drew so far, terminal escapes removed."""
        with self.lock:
            return _ESCAPES.sub("", self.seen.decode(errors="replace"))

    def wait_for(self, needle: str, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def type(self, data: bytes, every: float = 0.0) -> None:
        """Keys as the terminal sends them (b"\\x1b\\r" is Alt-Enter)."""
        if not every:
            os.write(self.fd, data)
            return
        for byte in data:
            os.write(self.fd, bytes([byte]))
            time.sleep(every)

    def wait(self, timeout: float = 60.0) -> int:
        """Its exit status (killed after `timeout`)."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
                raise AssertionError(f"still running after {timeout:g}s:\n{self.text()}")
            time.sleep(0.05)
        self.reader.join(2)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        return self.status
