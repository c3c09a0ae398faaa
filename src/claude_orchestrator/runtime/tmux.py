"""The tmux runtime: one private tmux server (its own socket) holding the agent's session.

The hot calls (status, paste, keys, capture) are single tmux commands, chained with `;` where
several must happen together, so each costs one fork of the tmux client. Every tmux client is
started here, with an environment that holds no secret (`child_environ`): libtmux, which this
layer used before, gives its clients the whole environment of the process.

No secret ever is on a command line: `new-session -e NAME=VALUE` would put the pane's whole
environment on the tmux server's command line for its life (`ps` shows it to every local user).
The pane's environment goes through a private file instead, read and deleted by the pane's
wrapper before the agent starts; the server itself starts with a bare environment, so nothing of
the user's enters tmux's global environment either, and with the person's own umask (the product
keeps 077 for its own files; Claude's are the person's). Several sessions can share one socket:
every target names its session exactly (`=name:`), and a session is only ever seen by its own
name.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.errors import OrchestratorError
from claude_orchestrator.process import child_environ, person_umask
from claude_orchestrator.runtime.state import write_private

PANE_WIDTH = 200
PANE_HEIGHT = 50
HISTORY_LIMIT = 50000
WORKDIR_OPTION = "@orchestrator-workdir"  # a user option on the session: where its agent works
_NOT_RUNNING = ("no server running", "error connecting", "server exited", "No such file")
# What the tmux server itself starts with: enough to run, nothing of the user's secrets.
SERVER_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ", "TMPDIR", "TMUX_TMPDIR")
# Variables tmux sets for a pane itself: never carried over from ours.
_TMUX_OWN = ("TMUX", "TMUX_PANE", "TERM")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The pane runs `sh -c WRAPPER ENVFILE STATUSFILE AGENT...`: read the environment (and remove
# its file), run the agent, keep its exit status (tmux 3.3a can lose #{pane_dead_status}).
_WRAPPER = ('e=$0; f=$1; shift; . "$e" || exit 127; rm -f "$e"; '
            '"$@"; s=$?; printf "%s" "$s" > "$f"; exit "$s"')


class TmuxError(OrchestratorError):
    """A tmux command failed in a way recovery cannot fix by itself (exit 1; the message is
    the one line tmux gave)."""


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

    def __init__(self, socket: str, session: str, folder: Path, *, tmux_bin: str | None = None,
                 width: int = PANE_WIDTH, height: int = PANE_HEIGHT,
                 history_limit: int = HISTORY_LIMIT) -> None:
        self.socket = socket
        self.session = session
        self.width = width
        self.height = height
        self.history_limit = history_limit
        self.tmux_bin = tmux_bin or "tmux"
        self.target = f"={session}:"
        self.folder = folder  # the session's private state folder (runtime/state.py)
        self._status_file = folder / "exit-status"
        self._env_file = folder / "pane-env"
        self.pane_pid: int | None = None  # the agent's process group (the pane's process)

    # ----------------------------------------------------------------- low level
    def _run(self, *args: str) -> tuple[int, list[str], list[str]]:
        """One tmux client command: exit status, stdout lines, stderr lines."""
        try:
            proc = subprocess.run([self.tmux_bin, "-f", "/dev/null", "-L", self.socket, *args],
                                  capture_output=True, text=True, encoding="utf-8",
                                  errors="backslashreplace", env=child_environ(),
                                  stdin=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.SubprocessError) as e:
            return 1, [], [str(e)]
        out = proc.stdout.split("\n")
        while out and out[-1] == "":
            out.pop()
        return proc.returncode, out, [ln for ln in proc.stderr.split("\n") if ln]

    def server_alive(self) -> bool:
        return self._run("list-sessions")[0] == 0

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
        """Server, session and pane state in one tmux call. The answer names its session: tmux
        3.3a answers a target that does not exist with empty fields and status 0."""
        fmt = ("#{session_name}|#{pane_dead}|#{pane_dead_status}|#{pane_pid}|#{history_size}|"
               "#{pane_in_mode}")
        code, out, err = self._run("display-message", "-p", "-t", self.target, fmt)
        if code != 0 or not out or out[0].split("|", 1)[0] != self.session:
            text = " ".join(err)
            if any(s in text for s in _NOT_RUNNING) or not self.server_alive():
                return PaneStatus(server=False, session=False)
            return PaneStatus(server=True, session=False)
        dead, status, pid, hist, mode = ([*out[0].split("|")[1:], "", "", "", "", ""])[:5]
        if dead == "1" and not status.lstrip("-").isdigit():
            with contextlib.suppress(OSError):
                status = self._status_file.read_text().strip()
        return PaneStatus(
            server=True, session=True, dead=dead == "1",
            exit_status=int(status) if status.lstrip("-").isdigit() else None,
            pid=int(pid) if pid.isdigit() else None,
            history_size=int(hist) if hist.isdigit() else 0, in_mode=mode == "1",
        )

    def person_idle(self) -> float | None:
        """Seconds since a person last typed in a terminal attached to this session (None when
        no terminal is attached). Control-mode clients (ours) are not people; `client_activity`
        moves when someone types in that client, not on `send-keys`."""
        code, out, _ = self._run("list-clients", "-t", f"={self.session}", "-F",
                                 "#{client_control_mode} #{client_activity}")
        if code != 0:
            return None
        latest = [int(act) for mode, _, act in (ln.partition(" ") for ln in out)
                  if mode == "0" and act.isdigit()]
        return max(0.0, time.time() - max(latest)) if latest else None

    def session_count(self) -> int:
        code, out, _ = self._run("list-sessions", "-F", "#{session_name}")
        return len(out) if code == 0 else 0

    # ----------------------------------------------------------------- lifecycle
    def start(self, argv: Sequence[str], workdir: Path, env: Mapping[str, str],
              unset: Sequence[str] = ()) -> None:
        """A new session running `argv` in `workdir` with environment `env` (an old session of
        that name is replaced). `unset` names variables the pane must not have, even when a
        server started earlier holds them in its global environment.
        """
        if self.status().session:
            self.kill_session()
        self.end_agent()  # one that outlived its tmux server (Gemini ignores SIGHUP)
        command = self._wrap(argv, env, unset)
        unset_args: list[str] = []
        for name in unset:
            unset_args += ["set-environment", "-g", "-u", name, ";"]
        args = [
            "-L", self.socket, "-f", "/dev/null", *unset_args,
            "set-option", "-g", "history-limit", str(self.history_limit), ";",
            "set-option", "-g", "remain-on-exit", "on", ";",
            "set-option", "-g", "focus-events", "on", ";",
            "set-option", "-g", "exit-empty", "on", ";",
            "new-session", "-d", "-s", self.session, "-c", str(workdir),
            "-x", str(self.width), "-y", str(self.height), *command, ";",
            "set-option", "-t", self.target, "remain-on-exit", "on", ";",
            "set-option", "-t", self.target, WORKDIR_OPTION, str(workdir),
        ]
        # A server started by this command inherits this environment (a bare one) and umask
        # (the person's: the pane's files are theirs).
        bare = child_environ({k: v for k, v in os.environ.items()
                              if k in SERVER_ENV or k.startswith("LC_")})
        try:
            proc = subprocess.run([self.tmux_bin, *args], env=bare, capture_output=True,
                                  text=True, timeout=30, stdin=subprocess.DEVNULL,
                                  umask=person_umask())
        except (OSError, subprocess.SubprocessError) as e:
            raise TmuxError(f"tmux new-session failed: {e}") from None
        if proc.returncode != 0:
            raise TmuxError("tmux new-session failed: "
                            f"{proc.stderr.strip() or f'exit status {proc.returncode}'}")
        self.pane_pid = self.status().pid

    def respawn(self, argv: Sequence[str], workdir: Path, env: Mapping[str, str],
                unset: Sequence[str] = ()) -> None:
        """Run `argv` again in the existing pane (after the agent died), history kept."""
        self.end_agent()
        self._check("respawn-pane", "respawn-pane", "-k", "-t", self.target,
                    "-c", str(workdir), *self._wrap(argv, env, unset), ";",
                    "set-option", "-t", self.target, WORKDIR_OPTION, str(workdir))
        self.pane_pid = self.status().pid

    def workdir(self) -> Path | None:
        """The folder the agent in this session was started in: what the orchestrator that
        started it recorded on the session, else the pane's current folder (a session an
        older release started). None when tmux cannot say."""
        for fmt in (f"#{{{WORKDIR_OPTION}}}", "#{pane_current_path}"):
            code, out, _ = self._run("display-message", "-p", "-t", self.target, fmt)
            if code == 0 and out and out[0].strip():
                return Path(out[0].strip())
        return None

    def _wrap(self, argv: Sequence[str], env: Mapping[str, str],
              unset: Sequence[str]) -> list[str]:
        """The pane's command: `argv` under a tiny `sh` that first reads the environment from
        a private file (then removes it) and afterwards writes the exit status to a file.

        Several arguments make tmux exec directly (no user shell, so no quoting issues and no
        dependence on $SHELL's syntax). The command line holds two paths and the agent's own
        arguments: no value of the environment.
        """
        with contextlib.suppress(OSError):
            self._status_file.unlink()
        write_private(self._env_file, env_script(env, unset).encode("utf-8",
                                                                    "surrogateescape"))
        return ["/bin/sh", "-c", _WRAPPER, str(self._env_file), str(self._status_file), *argv]

    def kill_session(self) -> None:
        pid = self.status().pid or self.pane_pid
        self._run("kill-session", "-t", f"={self.session}")
        self.pane_pid = pid
        self.end_agent()

    def end_agent(self) -> None:
        """End what is left of the agent's process group once its pane is gone (see
        `end_group`); a no-op when nothing is left."""
        if self.pane_pid is not None:
            end_group(self.pane_pid)
            self.pane_pid = None

    def kill_server(self) -> None:
        self._run("kill-server")

    def close(self, *, terminate: bool) -> None:
        """Leave the session running, or kill it (and the server when it was the last one)."""
        if terminate:
            self.kill_session()
            if self.session_count() == 0:
                self.kill_server()

    # ----------------------------------------------------------------- input
    def paste(self, text: str, *, then_enter: bool = False) -> None:
        """Put `text` into the pane as one bracketed paste, optionally followed by Enter.

        The text goes through a private file and `load-buffer`, never through a command line
        (no quoting, no length limit); `paste-buffer -p` wraps it in bracketed-paste markers so a
        TUI takes newlines as text, not as submit. Copy mode is left first, or the keys would
        drive copy mode instead of the agent.
        """
        path = self.folder / "message"
        write_private(path, text.encode("utf-8", "surrogateescape"))
        buffer = f"orchestrator-{self.session}"  # buffers are the server's: one per session
        args = ["copy-mode", "-q", "-t", self.target, ";",
                "load-buffer", "-b", buffer, str(path), ";",
                "paste-buffer", "-p", "-d", "-b", buffer, "-t", self.target]
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


def end_group(pgid: int, grace: float = 2.0) -> bool:
    """End a pane's process group: SIGTERM, then SIGKILL to what is left after `grace`
    seconds. tmux's SIGHUP is not enough: Gemini CLI ignores it and lives on as an orphan,
    still holding its conversation. The pane's process leads the group (tmux makes it so) and
    the agent's processes stay in it unless they start their own session (Codex's background
    server does: the Codex profile runs Codex without it). True when something was ended.

    A group id names live processes only while the group has members, so the id of a pane
    whose group is gone can only name another group after its number was reused."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.05)
    if group_alive(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    return True


def group_alive(pgid: int) -> bool:
    """A member of the group still runs. Zombies do not count: a pane's children whose parent
    died wait for init to reap them, which a container's init can leave undone for seconds."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        out = subprocess.run(["ps", "-A", "-o", "pgid=,stat="], capture_output=True, text=True,
                             timeout=5, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return True
    return any(fields[0] == str(pgid) and not fields[1].startswith("Z")
               for fields in (ln.split() for ln in out.splitlines()) if len(fields) >= 2)


def env_script(env: Mapping[str, str], unset: Sequence[str] = ()) -> str:
    """A `sh` script that gives the pane exactly `env` (tmux's own variables aside) and removes
    the `unset` ones. Values are single-quoted, so nothing in them is ever run.

    >>> print(env_script({'A': "it's", 'TERM': 'x', 'B': '$(no)'}, ['SECRET']))
    export A='it'"'"'s'
    export B='$(no)'
    unset SECRET
    <BLANKLINE>
    """
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()
             if name not in _TMUX_OWN and _ENV_NAME.match(name) and name not in unset]
    lines += [f"unset {name}" for name in unset if _ENV_NAME.match(name)]
    return "\n".join(lines) + "\n"


def pane_environment(environ: Mapping[str, str], withheld: Sequence[str]) -> dict[str, str]:
    """The orchestrator's environment minus its secrets: Claude's tools run model-written code."""
    return {k: v for k, v in environ.items() if k not in withheld}
