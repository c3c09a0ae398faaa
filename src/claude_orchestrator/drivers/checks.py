"""`--verify`: the command that must pass before a task counts as complete, run in the work
folder through the shell, bounded in time, its output's end kept for the supervisor."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from claude_orchestrator.process import child_environ, person_umask

TAIL = 4000  # characters of output the supervisor sees


@dataclass(frozen=True)
class Check:
    status: int | None  # the exit status; None when it ran out of time
    seconds: float
    tail: str  # the last TAIL characters of its output (stdout and stderr together)


def run_check(command: str, workdir: Path, timeout: float) -> Check:
    """Run `command` with `sh -c` in `workdir`; on timeout its whole process group goes. It
    gets the environment without any secret, and the person's umask (its files are theirs)."""
    started = time.monotonic()
    proc = subprocess.Popen(["/bin/sh", "-c", command], cwd=workdir, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, env=child_environ(), umask=person_umask())
    try:
        out, _ = proc.communicate(timeout=timeout)
        status: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        status = None
    text = out.decode("utf-8", "replace")
    return Check(status, time.monotonic() - started, text[-TAIL:].strip())
