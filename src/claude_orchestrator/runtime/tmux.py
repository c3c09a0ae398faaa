"""The tmux runtime: one private tmux server (its own socket) holding one session with the agent.

A thin layer over libtmux. The hot calls (status, paste, keys, capture) are single tmux commands,
chained with `;` where several must happen together, so each costs one fork of the tmux client.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import libtmux

PANE_WIDTH = 200
PANE_HEIGHT = 50
HISTORY_LIMIT = 50000
_NOT_RUNNING = ("no server running", "error connecting", "server exited", "No such file")


class TmuxError(Exception):
    """A tmux command failed in a way recovery cannot fix by itself."""


@dataclass(frozen=True)
class PaneStatus:
    """What tmux knows about the agent's pane, read with one command."""

    server: bool
    session: bool
    dead: bool = False
    exit_status: int | None = None
    pid: int | None = None
    history_size: int = 0
    in_mode: bool = False

    @property
    def alive(self) -> bool:
        """The pane exists and its process runs."""
        return self.session and not self.dead

    def describe(self) -> str:
        if not self.server:
            return "the tmux server is gone"
        if not self.session:
            return "the tmux session is gone"
        if self.dead:
            return f"the agent exited with status {self.exit_status}"
        return "running"


class TmuxRuntime:
    """The agent's session on a private tmux server.

    The server is started with no user configuration (`-f /dev/null`) so a person's tmux.conf
    cannot change how the pane behaves, with `remain-on-exit` so a dead pane and its exit status
    stay readable, and a large history so a long reply is still in the scrollback.
    """

    def __init__(self, socket: str, session: str, *, tmux_bin: str | None = None,
                 width: int = PANE_WIDTH, height: int = PANE_HEIGHT,
                 history_limit: int = HISTORY_LIMIT) -> None:
        self.socket = socket
        self.session = session
        self.width = width
        self.height = height
        self.history_limit = history_limit
        self.server = libtmux.Server(socket_name=socket, config_file="/dev/null",
                                     tmux_bin=tmux_bin)
        self.target = f"={session}:"
        self._scratch = Path(tempfile.mkdtemp(prefix="claude-orch-"))
        self._status_file = self._scratch / "exit-status"

    # ----------------------------------------------------------------- low level
    def _run(self, *args: str) -> tuple[int, list[str], list[str]]:
        proc = self.server.cmd(*args)
        return proc.returncode, proc.stdout, proc.stderr

    def _check(self, what: str, *args: str) -> list[str]:
        code, out, err = self._run(*args)
        if code != 0:
            raise TmuxError(f"tmux {what} failed: {' '.join(err) or f'exit status {code}'}")
        return out

    @property
    def attach_command(self) -> str:
        """What a person types to watch the agent live."""
        return f"tmux -L {shlex.quote(self.socket)} attach -t {shlex.quote(self.session)}"

    # ----------------------------------------------------------------- state
    def status(self) -> PaneStatus:
        """Server, session and pane state in one tmux call."""
        fmt = ("#{pane_dead}|#{pane_dead_status}|#{pane_pid}|#{history_size}|#{pane_in_mode}")
        code, out, err = self._run("display-message", "-p", "-t", self.target, fmt)
        if code != 0 or not out:
            text = " ".join(err)
            if any(s in text for s in _NOT_RUNNING) or not self.server.is_alive():
                return PaneStatus(server=False, session=False)
            return PaneStatus(server=True, session=False)
        dead, status, pid, hist, mode = ([*out[0].split("|"), "", "", "", "", ""])[:5]
        if dead == "1" and not status.lstrip("-").isdigit():
            with contextlib.suppress(OSError):
                status = self._status_file.read_text().strip()
        return PaneStatus(
            server=True, session=True, dead=dead == "1",
            exit_status=int(status) if status.lstrip("-").isdigit() else None,
            pid=int(pid) if pid.isdigit() else None,
            history_size=int(hist) if hist.isdigit() else 0, in_mode=mode == "1",
        )

    def session_count(self) -> int:
        code, out, _ = self._run("list-sessions", "-F", "#{session_name}")
        return len(out) if code == 0 else 0

    # ----------------------------------------------------------------- lifecycle
    def start(self, argv: Sequence[str], workdir: Path, env: Mapping[str, str],
              unset: Sequence[str] = ()) -> None:
        """A new session running `argv` in `workdir` (an old session of that name is replaced).

        `unset` names variables removed from the server's global environment, so a server
        started earlier cannot hand them to the pane.
        """
        if self.status().session:
            self.kill_session()
        command = self._wrap(argv)
        unset_args: list[str] = []
        for name in unset:
            unset_args += ["set-environment", "-g", "-u", name, ";"]
        self._check(
            "new-session", *unset_args,
            "set-option", "-g", "history-limit", str(self.history_limit), ";",
            "set-option", "-g", "remain-on-exit", "on", ";",
            "set-option", "-g", "focus-events", "on", ";",
            "set-option", "-g", "exit-empty", "on", ";",
            "new-session", "-d", "-s", self.session, "-c", str(workdir),
            "-x", str(self.width), "-y", str(self.height), *_env_args(env), *command, ";",
            "set-option", "-t", self.target, "remain-on-exit", "on",
        )

    def respawn(self, argv: Sequence[str], workdir: Path, env: Mapping[str, str]) -> None:
        """Run `argv` again in the existing pane (after the agent died), history kept."""
        self._check("respawn-pane", "respawn-pane", "-k", "-t", self.target,
                    "-c", str(workdir), *_env_args(env), *self._wrap(argv))

    def _wrap(self, argv: Sequence[str]) -> list[str]:
        """The pane's command: `argv` under a tiny `sh` that writes the exit status to a file.

        tmux 3.3a sometimes leaves `#{pane_dead_status}` empty for a process that died fast;
        the file keeps the status. Several arguments make tmux exec directly (no user shell, so
        no quoting issues and no dependence on $SHELL's syntax).
        """
        with contextlib.suppress(OSError):
            self._status_file.unlink()
        script = '"$@"; s=$?; printf "%s" "$s" > "$0"; exit "$s"'
        return ["/bin/sh", "-c", script, str(self._status_file), *argv]

    def kill_session(self) -> None:
        self._run("kill-session", "-t", f"={self.session}")

    def kill_server(self) -> None:
        self._run("kill-server")

    def close(self, *, terminate: bool) -> None:
        """Leave the session running, or kill it (and the server when it was the last one)."""
        if terminate:
            self.kill_session()
            if self.session_count() == 0:
                self.kill_server()
        with contextlib.suppress(OSError):
            for p in self._scratch.iterdir():
                p.unlink()
            self._scratch.rmdir()

    # ----------------------------------------------------------------- input
    def paste(self, text: str, *, then_enter: bool = False) -> None:
        """Put `text` into the pane as one bracketed paste, optionally followed by Enter.

        The text goes through a private file and `load-buffer`, never through a command line
        (no quoting, no length limit); `paste-buffer -p` wraps it in bracketed-paste markers so a
        TUI takes newlines as text, not as submit. Copy mode is left first, or the keys would
        drive copy mode instead of the agent.
        """
        path = self._scratch / "message"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        args = ["copy-mode", "-q", "-t", self.target, ";",
                "load-buffer", "-b", "orchestrator", str(path), ";",
                "paste-buffer", "-p", "-d", "-b", "orchestrator", "-t", self.target]
        if then_enter:
            args += [";", "send-keys", "-t", self.target, "Enter"]
        try:
            self._check("paste-buffer", *args)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

    def press(self, *keys: str) -> None:
        """Press keys by their tmux names (`Enter`, `Down`, `Escape`, `C-u`)."""
        self._check("send-keys", "copy-mode", "-q", "-t", self.target, ";",
                    "send-keys", "-t", self.target, *keys)

    # ----------------------------------------------------------------- output
    def capture(self, *, history: int | None = 0) -> list[str]:
        """The pane's lines: the visible screen plus `history` lines of scrollback
        (None = all). Wrapped lines are joined, so a long line stays one line."""
        args = ["capture-pane", "-p", "-J", "-t", self.target]
        if history is None:
            args += ["-S", "-"]
        elif history > 0:
            args += ["-S", str(-history)]
        code, out, err = self._run(*args)
        if code != 0:
            raise TmuxError(f"tmux capture-pane failed: {' '.join(err)}")
        return [line.rstrip() for line in out]


def _env_args(env: Mapping[str, str]) -> list[str]:
    """`-e NAME=VALUE` for each variable the pane should see (tmux's own are left out)."""
    args: list[str] = []
    for name, value in env.items():
        if name in ("TMUX", "TMUX_PANE") or "\n" in value or "=" in name:
            continue
        args += ["-e", f"{name}={value}"]
    return args


def pane_environment(environ: Mapping[str, str], withheld: Sequence[str]) -> dict[str, str]:
    """The orchestrator's environment minus its secrets: Claude's tools run model-written code."""
    return {k: v for k, v in environ.items() if k not in withheld}
