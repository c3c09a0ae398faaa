"""Where a batch's runs execute: the seam between scheduling and processes.

A run is started as `claude-orchestrator resume RUN_ID` against the batch's run log: the run's
task, folder and settings are already recorded there (queued), so an executor only needs to
start that one command somewhere that has tmux, Claude Code and the folder, and hand it the
supervisor's key (never through its environment or command line: `/proc/<pid>/environ` of a
run is readable by the code Claude runs until the run has made itself undumpable). Today that
is a local process; docs/scale.md describes a Kubernetes Job or a Ray task behind the same
interface.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from claude_orchestrator.process import (
    SECRETS_FD,
    child_environ,
    person_umask,
    secrets_channel,
)
from claude_orchestrator.runtime.state import open_private, private_dir
from claude_orchestrator.trust import runlog_password

RUNLOG_ENV = "CLAUDE_ORCHESTRATOR_RUNLOG"


class RunHandle(Protocol):
    """One run started by an executor."""

    run_id: str

    def poll(self) -> int | None:
        """Its exit status once it ended; None while it runs."""

    def stop(self) -> None:
        """Ask it to stop cleanly (it records itself as interrupted, resumable)."""

    def kill(self) -> None:
        """Stop it now (when a clean stop took too long)."""


class Executor(Protocol):
    """Starts runs; the batch decides which and when."""

    def start(self, run_id: str, args: Sequence[str] = ()) -> RunHandle:
        """Start `resume RUN_ID [args]`."""

    def wait(self, handles: Sequence[RunHandle], timeout: float) -> list[RunHandle]:
        """Those of `handles` that ended, waiting up to `timeout` seconds for one."""


class LocalProcess:
    def __init__(self, run_id: str, proc: subprocess.Popen[bytes], output: Path) -> None:
        self.run_id = run_id
        self.proc = proc
        self.output = output  # what the run printed (its progress), for a post-mortem

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)


class LocalProcesses:
    """Each run a child process of the batch, in a process group of its own (a Ctrl-C at the
    terminal reaches the batch, which stops its runs one by one, each recording its state).
    Its environment holds no secret; the secrets (the key, the withheld values it redacts)
    reach it through an inherited socket (`--secrets-fd N`), never its environment or argv."""

    def __init__(self, runlog: Path | str, outputs: Path,
                 environ: Mapping[str, str] | None = None,
                 python: str = sys.executable, *,
                 secrets: Mapping[str, str] | None = None) -> None:
        self.runlog = runlog
        self.outputs = outputs
        self.environ = child_environ(environ)
        self.python = python
        self.secrets = dict(secrets or {})

    def start(self, run_id: str, args: Sequence[str] = ()) -> LocalProcess:
        private_dir(self.outputs)
        output = self.outputs / f"{run_id}.log"
        fd = open_private(output, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        # A run log URL with a password goes with the secrets, never on the command line.
        secrets, where = dict(self.secrets), ["--runlog", str(self.runlog)]
        if runlog_password(str(self.runlog)):
            secrets[RUNLOG_ENV], where = str(self.runlog), []
        channel = secrets_channel(secrets)
        try:
            proc = subprocess.Popen(
                [self.python, "-m", "claude_orchestrator", "resume", run_id, "--json",
                 *where, *args, SECRETS_FD, str(channel.fileno())],
                stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=self.environ,
                pass_fds=(channel.fileno(),), start_new_session=True,
                umask=person_umask())  # the run keeps the person's for Claude's files
        finally:
            os.close(fd)
            channel.close()
        return LocalProcess(run_id, proc, output)

    def wait(self, handles: Sequence[RunHandle], timeout: float) -> list[RunHandle]:
        end = time.monotonic() + timeout
        while True:
            ended = [h for h in handles if h.poll() is not None]
            left = end - time.monotonic()
            if ended or left <= 0:
                return ended
            time.sleep(min(0.25, left))
