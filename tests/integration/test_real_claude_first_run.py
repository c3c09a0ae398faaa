"""A first run in a new folder against the real Claude Code: its trust question and bypass
warning answered while Claude is slow, stopped or redrawing (issue 16 §1).

Claude 2.1.332 guards its choice lists: keys read in the first 150 ms after a list opens (or
after the process was continued) are refused or undone, and the list is then remounted with
`No, exit` selected. After SIGSTOP/SIGCONT its classic renderer draws a new frame below the old
one, so the question stands on screen twice. Stopping Claude at a chosen moment is the
deterministic handle on both (shared/tmux-facts.md, last section).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from claude_orchestrator.turn import run_turn
from tests.fakes.claude_env import claude_env, claude_version, prepare_home
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.integration.conftest import run_cli, tmux_cmd
from tests.integration.realcli import API_KEY, SESSION, Real, base_environ, notes

pytestmark = pytest.mark.realcli

Lines = list[str]


def _marked(label: str) -> Callable[[Lines], bool]:
    return lambda lines: any(ln.lstrip().startswith("❯") and label in ln for ln in lines)


# Where Claude is stopped: as soon as the trust question shows; once its `Yes` is marked (on
# 2.1.332 after our Down, the moment before our Enter; on 2.1.197 `Yes` comes first); once the
# bypass warning's `Yes, I accept` is marked.
MOMENTS: dict[str, tuple[str, Callable[[Lines], bool]]] = {
    "trust-shown": ("Quick safety check",
                    lambda lines: any("Yes, I trust this folder" in ln for ln in lines)),
    "trust-yes-marked": ("Quick safety check", _marked("Yes, I trust this folder")),
    "bypass-yes-marked": ("Bypass Permissions mode", _marked("Yes, I accept")),
}


def process_tree(real: Real) -> list[int]:
    """Every process under the pane's (the wrapper `sh`, Claude, Claude's children)."""
    out = real.tmux("display-message", "-p", "-t", f"={SESSION}:", "#{pane_pid}")
    pids = [int(out.stdout.strip())]
    i = 0
    while i < len(pids):
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pids[i])],
                              capture_output=True, text=True).stdout.split()
        pids += [int(k) for k in kids]
        i += 1
    return pids


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # a short-lived child (git) has ended
            os.kill(pid, sig)


@dataclass
class Stopper:
    """Stops Claude's processes for `pause` seconds the first time `when` holds on its screen."""

    real: Real
    when: Callable[[Lines], bool]
    pause: float = 1.5
    stopped: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        deadline = time.monotonic() + 60
        try:
            while not self.done.is_set() and time.monotonic() < deadline:
                shot = self.real.tmux("capture-pane", "-p", "-J", "-t", f"={SESSION}:")
                if shot.returncode == 0 and self.when(shot.stdout.splitlines()):
                    pids = process_tree(self.real)
                    _signal(pids, signal.SIGSTOP)
                    self.stopped = True
                    time.sleep(self.pause)
                    _signal(pids, signal.SIGCONT)
                    return
                time.sleep(0.02)
        finally:
            self.done.set()


@pytest.fixture
def stopper_thread() -> Iterator[list[threading.Thread]]:
    threads: list[threading.Thread] = []
    yield threads
    for t in threads:
        t.join(5)


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_first_run_answers_both_questions_when_claude_is_stopped_midway(
        first_run: Real, moment: str, stopper_thread: list[threading.Thread]) -> None:
    heading, when = MOMENTS[moment]
    sess = first_run.session()
    stopper = Stopper(first_run, when)
    thread = threading.Thread(target=stopper.run, daemon=True)
    stopper_thread.append(thread)
    thread.start()
    try:
        sess.ensure_ready()
    finally:
        stopper.done.set()
    thread.join(10)
    assert stopper.stopped, f"Claude never showed the moment {moment!r}"
    if claude_version() >= (2, 1, 332):
        # The handle fired: the redraw after SIGCONT left an old frame of the question standing
        # above the prompt (a clean first run erases it).
        shown = sess.runtime.capture(history=500)
        assert any(heading in ln for ln in shown), "\n".join(shown)
    said = notes(sess)
    assert sum("folder-trust" in n for n in said) == 1, said
    assert sum("bypass-permissions" in n for n in said) == 1, said
    assert sess.starts == 1, said  # never exited and restarted
    r = run_turn(sess, "hello after a stop")
    assert r.ended_by == "hook" and r.reply == "ECHO: hello after a stop", r
    assert first_run.conversation() == ["hello after a stop"]
    cfg = json.loads((first_run.home / ".claude.json").read_text())
    assert cfg["projects"][str(first_run.work.resolve())]["hasTrustDialogAccepted"] is True
    settings = json.loads((first_run.home / ".claude" / "settings.json").read_text())
    assert settings.get("skipDangerousModePermissionPrompt") is True


# ----------------------------------------------------------------------------- under load

SOAK_RUNS = int(os.environ.get("CO_SOAK_RUNS", "40"))


@pytest.mark.soak
@pytest.mark.timeout(SOAK_RUNS * 60 + 60)
def test_first_runs_in_new_folders_reach_the_reply_under_load(
        tmp_path: Path, api: FakeAnthropic) -> None:
    """`CO_SOAK_RUNS` (40) first runs in a row through the installed command, chat mode, each
    with a new HOME and a new folder, while two processes burn both cores: every one answers
    both questions and gets Claude's reply. Not part of every run (`-m soak` runs it)."""
    burners = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    failures: list[str] = []
    try:
        for i in range(SOAK_RUNS):
            run = tmp_path / f"run{i}"
            run.mkdir()
            home = prepare_home(run / "home", API_KEY, fresh=True)
            work = run / "new-project"
            work.mkdir()
            env = claude_env(home, api.base_url, API_KEY, base=base_environ(run))
            socket = f"co-soak-{uuid.uuid4().hex[:10]}"
            try:
                proc = run_cli(["--chat", "--socket", socket, "--terminate-when-quit",
                                str(work)], env, input=f"hello {i}\n", timeout=150)
            finally:
                tmux_cmd(socket, "kill-server")
            if proc.returncode != 0 or f"ECHO: hello {i}" not in proc.stdout:
                failures.append(f"run {i}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    finally:
        for b in burners:
            b.kill()
            b.wait()
    assert not failures, f"{len(failures)} of {SOAK_RUNS} first runs failed:\n" + "\n".join(
        failures)
