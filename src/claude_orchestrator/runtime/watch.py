"""Waiting without polling: one `select()` over the hook FIFO and a tmux control-mode client.

The control client (`tmux -C attach -f ignore-size`) streams `%output` whenever the pane draws,
says `%exit` (or closes) when the session or server goes away, and reports a pane's death through
a format subscription. So the orchestrator sleeps until something happens instead of forking
`tmux capture-pane` every few hundred milliseconds.

It is not attached `read-only`: from tmux 3.7 on, a read-only client as the only one attached
makes every `send-keys` fail with "client is read-only" (shared/tmux-facts.md). It never sends
input itself; `ignore-size` keeps it from changing the pane's size.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from dataclasses import dataclass

from claude_orchestrator.process import child_environ


@dataclass
class Activity:
    """What happened during one wait."""

    hook: bool = False  # a hook poked the FIFO
    output: bool = False  # the pane drew something
    pane_died: bool = False
    gone: bool = False  # the session or the server went away (control client ended)
    clients: bool = False  # another client attached or detached


class ControlClient:
    """A control-mode client on the agent's session (it only listens)."""

    def __init__(self, tmux_bin: str, socket: str, session: str) -> None:
        self.proc = subprocess.Popen(
            [tmux_bin, "-L", socket, "-C", "attach-session", "-t", f"={session}",
             "-f", "ignore-size"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, env=child_environ(),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.proc.stdin.write(b"refresh-client -B 'dead:%*:#{pane_dead}'\n")
        self.proc.stdin.flush()
        self._buf = b""
        self.ended = False
        self.last_output = time.monotonic()

    def read(self, activity: Activity) -> None:
        """Consume what the client printed and note what it means."""
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.ended = True
            activity.gone = True
            return
        lines = (self._buf + data).split(b"\n")
        self._buf = lines.pop()
        for line in lines:
            if line.startswith(b"%output"):
                activity.output = True
                self.last_output = time.monotonic()
            elif line.startswith(b"%subscription-changed dead"):
                if line.rstrip().endswith(b": 1"):
                    activity.pane_died = True
            elif line.startswith(b"%exit"):
                self.ended = True
                activity.gone = True
            elif line.startswith((b"%client-session-changed", b"%client-detached")):
                activity.clients = True  # someone attached to (or left) the session

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            assert self.proc.stdout is not None
            self.proc.stdout.close()


class Watcher:
    """Sleeps until a hook fires, the pane draws, or the session changes state."""

    def __init__(self, tmux_bin: str, socket: str, session: str, wake_fd: int | None) -> None:
        self._tmux_bin = tmux_bin
        self._socket = socket
        self._session = session
        self._wake_fd = wake_fd
        self._selector = selectors.DefaultSelector()
        if wake_fd is not None:
            self._selector.register(wake_fd, selectors.EVENT_READ, "wake")
        self.control: ControlClient | None = None
        self._attached = False  # a control client was attached (and may have gone since)
        self._attached_at = 0.0
        self._last_output = time.monotonic()
        # Whether a person's terminal may be attached: true until tmux said nobody is, and
        # again whenever a client attaches or leaves (learnt from the control client).
        self.people_maybe = True

    def attach(self) -> None:
        """(Re)start the control client, after the session was (re)created."""
        self.detach()
        self.control = ControlClient(self._tmux_bin, self._socket, self._session)
        self._selector.register(self.control.fd, selectors.EVENT_READ, "control")
        self._attached = True
        self._attached_at = time.monotonic()

    def detach(self) -> None:
        if self.control is not None:
            self._last_output = max(self._last_output, self.control.last_output)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self.control.fd)
            self.control.close()
            self.control = None

    @property
    def last_output(self) -> float:
        """When the pane last drew (kept across control clients)."""
        if self.control is not None:
            return max(self._last_output, self.control.last_output)
        return self._last_output

    def wait(self, timeout: float) -> Activity:
        """Block up to `timeout` seconds; return what happened (maybe nothing)."""
        activity = Activity()
        if self.control is not None and self.control.ended:
            self.detach()
        if self.control is None and self._attached:
            # The control client is gone (the session was killed, or someone detached it).
            # Attach again at most once a second; in between say "gone" after a short sleep,
            # so a caller that finds the agent alive never spins.
            if time.monotonic() - self._attached_at >= 1.0:
                self.attach()
            else:
                pause = min(max(0.0, timeout), 1.0 - (time.monotonic() - self._attached_at))
                for key, _ in self._selector.select(max(0.0, pause)):
                    activity.hook = activity.hook or key.data == "wake"
                activity.gone = True
                return activity
        for key, _ in self._selector.select(max(0.0, timeout)):
            if key.data == "wake":
                activity.hook = True
            elif self.control is not None:
                self.control.read(activity)
        if activity.gone:
            self.detach()
        if activity.clients:
            self.people_maybe = True
        return activity

    def close(self) -> None:
        self.detach()
        self._selector.close()
