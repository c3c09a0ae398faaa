"""Shared setup for the tests that run the real Claude Code CLI: the fake Anthropic API, a
prepared HOME, a private environment, and small helpers. Fixtures are exported via conftest."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from claude_orchestrator.config import resolve
from claude_orchestrator.progress import QuietReporter
from claude_orchestrator.session import AgentSession
from claude_orchestrator.turn import TurnResult
from tests.fakes.claude_env import (
    CLAUDE_CODE_VERSION,
    claude_bin,
    claude_env,
    claude_version,
    prepare_home,
)
from tests.fakes.fake_anthropic import FakeAnthropic
from tests.integration.conftest import tmux_cmd

API_KEY = "sk-ant-fake-0123456789abcdefghijklmnop"
# A Claude that asks before it runs a tool: the mode is `manual` from 2.1.332 on (where the
# default mode, `auto`, asks nothing) and `default` before.
ASKING_CMD = "claude --setting-sources user --permission-mode " + (
    "manual" if claude_version() >= (2, 1, 332) else "default")
SESSION = "gt-claude-loop"
_STRIPPED_PREFIXES = ("OPENROUTER_", "CLAUDE_", "ANTHROPIC_", "TMUX")


@pytest.fixture
def require_claude_cli() -> None:
    if claude_bin() is None:
        pytest.fail(f"Claude Code {CLAUDE_CODE_VERSION} is not installed: run "
                    f"scripts/install-claude-code {CLAUDE_CODE_VERSION} (scripts/test installs "
                    "the releases it tests into .cache/claude-code)", pytrace=False)


@pytest.fixture
def api(require_claude_cli: None) -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


def base_environ(tmp_path: Path) -> dict[str, str]:
    """The test process's environment without anything that would configure the orchestrator
    or Claude behind the test's back, plus the private runtime dir and run log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_PREFIXES)}
    run = tmp_path / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    env["XDG_RUNTIME_DIR"] = str(run)
    env["CLAUDE_ORCHESTRATOR_RUNLOG"] = str(tmp_path / "runs.sqlite3")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Real:
    """One test's world: a prepared HOME, a working directory, the fake API, and sessions."""

    api: FakeAnthropic
    socket: str
    home: Path
    work: Path
    env: dict[str, str]
    sessions: list[AgentSession] = field(default_factory=list)

    def session(self, **flags: object) -> AgentSession:
        config = resolve({"socket": self.socket, "session": SESSION, **flags}, self.env,
                         workdir=str(self.work))
        sess = AgentSession(config, QuietReporter(), environ=self.env)
        self.sessions.append(sess)
        return sess

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return tmux_cmd(self.socket, *args)

    def conversation(self) -> list[str]:
        """The last user text of each conversation request, in order."""
        return [r.last_user_text for r in self.api.requests]


def _world(tmp_path: Path, socket_name: str, api: FakeAnthropic,
           monkeypatch: pytest.MonkeyPatch, *, fresh: bool) -> Real:
    """HOME prepared (the folder trusted and bypass mode accepted, unless `fresh`: then Claude
    asks both questions, as on a first run in a new folder).

    The tmux server inherits os.environ, so Claude's variables go there too (monkeypatch undoes
    it after the test) and nothing from the outer environment configures the orchestrator.
    """
    work = tmp_path / "work"
    home = prepare_home(tmp_path / "home", API_KEY, trusted_dirs=[work], fresh=fresh)
    work.mkdir()
    env = claude_env(home, api.base_url, API_KEY, base=base_environ(tmp_path))
    for name in list(os.environ):
        if name.startswith(_STRIPPED_PREFIXES):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Real(api, socket_name, home, work, env)


@pytest.fixture
def real(tmp_path: Path, socket_name: str, api: FakeAnthropic,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Real]:
    """An in-process setup: HOME with the folder trusted and bypass mode accepted."""
    world = _world(tmp_path, socket_name, api, monkeypatch, fresh=False)
    yield world
    for sess in world.sessions:
        sess.close(terminate=True)


@pytest.fixture
def first_run(tmp_path: Path, socket_name: str, api: FakeAnthropic,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Real]:
    """An in-process setup where Claude meets the folder for the first time: it asks whether to
    trust it, then warns about bypass mode."""
    world = _world(tmp_path, socket_name, api, monkeypatch, fresh=True)
    yield world
    for sess in world.sessions:
        sess.close(terminate=True)


def notes(sess: AgentSession) -> list[str]:
    rep = sess.reporter
    assert isinstance(rep, QuietReporter)
    return rep.notes


def claude_pids(real: Real) -> list[int]:
    """The children of the pane's process (a small /bin/sh wrapper whose child is claude)."""
    out = real.tmux("display-message", "-p", "-t", f"={SESSION}:", "#{pane_pid}")
    assert out.returncode == 0, out.stderr
    shell = int(out.stdout.strip())
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(shell)],
                              capture_output=True, text=True).stdout.split()
    return [int(p) for p in children]


def in_thread(fn: Callable[[], TurnResult]) -> tuple[threading.Thread, dict[str, object]]:
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # reported by the test
            box["error"] = e
        box["done_at"] = time.monotonic()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def joined(t: threading.Thread, box: dict[str, object], timeout: float) -> TurnResult:
    t.join(timeout)
    assert not t.is_alive(), f"the turn did not end within {timeout:g}s"
    if "error" in box:
        raise AssertionError(f"the turn raised {box['error']!r}") from box["error"]  # type: ignore[arg-type]
    result = box["result"]
    assert isinstance(result, TurnResult)
    return result


def submits(sess: AgentSession) -> list[str]:
    """Every prompt Claude reported as submitted (UserPromptSubmit), from the hook record."""
    assert sess.channel is not None
    return [str(ev.payload.get("prompt", "")) for ev in sess.channel.read_all()
            if ev.name == "UserPromptSubmit"]


# ----------------------------------------------------------------------------- 1. fresh HOME
