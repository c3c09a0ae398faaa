"""Shared setup for the tests that run the real Codex CLI and Gemini CLI: their fake APIs, a
prepared HOME, a git work folder, and a check that nothing can leave 127.0.0.1. Fixtures are
exported via conftest."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from claude_orchestrator.config import resolve
from claude_orchestrator.progress import QuietReporter
from claude_orchestrator.session import AgentSession
from tests.fakes.agent_env import (
    COMMANDS,
    VERSIONS,
    agent_bin,
    agent_env,
    codex_home,
    gemini_home,
    offline_problem,
)
from tests.fakes.fake_gemini import FakeGemini
from tests.fakes.fake_responses import FakeResponses
from tests.fakes.fake_sse import FakeModelApi
from tests.integration.conftest import tmux_cmd
from tests.integration.realcli import base_environ

SESSION = "co-agent"
_STRIPPED = ("OPENROUTER_", "CLAUDE_", "ANTHROPIC_", "TMUX", "CODEX_", "GEMINI_", "OPENAI_",
             "GOOGLE_")


def require(agent: str) -> None:
    """The pinned CLI is installed and the machine is offline, else the test fails (never
    skips) with what to do."""
    if agent_bin(agent) is None:
        pytest.fail(f"{agent} {VERSIONS[agent]} is not installed: run scripts/install-agent-cli "
                    f"{agent} {VERSIONS[agent]} (scripts/test installs it)", pytrace=False)
    problem = offline_problem()
    if problem is not None:
        pytest.fail(f"these tests must not reach the network, but {problem}: run them with no "
                    "route out (scripts/test runs them in a network namespace: unshare -n)",
                    pytrace=False)


def fake_api(agent: str) -> FakeModelApi:
    return FakeResponses() if agent == "codex" else FakeGemini()


@dataclass
class World:
    """One test's world: the agent, its fake API, a prepared HOME, a git work folder."""

    agent: str
    api: FakeModelApi
    socket: str
    home: Path
    work: Path
    env: dict[str, str]
    sessions: list[AgentSession] = field(default_factory=list)

    @property
    def command(self) -> str:
        return COMMANDS[self.agent]

    def session(self, **flags: object) -> AgentSession:
        config = resolve({"socket": self.socket, "session": SESSION,
                          "claude_cmd": self.command, **flags}, self.env,
                         workdir=str(self.work))
        sess = AgentSession(config, QuietReporter(), environ=self.env)
        self.sessions.append(sess)
        return sess

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return tmux_cmd(self.socket, *args)

    def type_at_pane(self, text: str) -> None:
        """A person types a line and presses Enter (a moment later, as a person does: Gemini
        takes an Enter within 30 ms of a key as a new line)."""
        self.tmux("send-keys", "-t", f"={SESSION}:", "-l", text)
        time.sleep(0.3)
        self.tmux("send-keys", "-t", f"={SESSION}:", "Enter")

    def conversation(self) -> list[str]:
        return [r.last_user_text for r in self.api.requests]

    def leftovers(self) -> list[str]:
        """Processes of this test (but for the test process itself) that still run: named with
        its HOME, or the agent's install run with its HOME in their environment. What teardown
        must have ended; another test's or another checkout's agents are not this one's (a
        cleanup that went by the install's path alone killed a second checkout's
        `gemini --version`)."""
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        mine = {str(os.getpid())}
        home = str(self.home)
        return [ln.strip() for ln in out.splitlines()
                if ln.split(None, 1)[0] not in mine and (home in ln or (
                    f".cache/{self.agent}/" in ln and "defunct" not in ln
                    and _has_home(ln.split(None, 1)[0], home)))]


def make_world(agent: str, tmp_path: Path, socket: str, api: FakeModelApi,
               monkeypatch: pytest.MonkeyPatch, *, fresh: bool) -> World:
    """A git work folder (new to the agent when `fresh`: it asks whether to trust it) and a
    HOME set up for the fake API. The tmux server inherits os.environ: the agent's variables go
    there too (monkeypatch undoes it)."""
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    home = tmp_path / "home"
    trusted = [] if fresh else [work]
    if agent == "codex":
        assert isinstance(api, FakeResponses)
        codex_home(home, api.base_url, trusted=trusted)
    else:
        assert isinstance(api, FakeGemini)
        gemini_home(home, trusted=trusted)
    env = agent_env(agent, home, getattr(api, "base_url", ""), base_environ(tmp_path))
    # As on a CI machine (GitHub's sets both): the agent still runs with its interface.
    env.update(CI="true", GITHUB_ACTIONS="true")
    for name in list(os.environ):
        if name.startswith(_STRIPPED):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return World(agent, api, socket, home, work, env)


def _has_home(pid: str, home: str) -> bool:
    """The process runs with HOME=`home` (False when it has gone or is not ours to read)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"HOME={home}".encode() in environ.split(b"\0")


def end_leftovers(world: World) -> None:
    """Cleanup only (the tests assert there are none where it matters): end what a failed test
    left running, by the process ids found."""
    for line in world.leftovers():
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.kill(int(line.split(None, 1)[0]), signal.SIGKILL)


@pytest.fixture(params=["codex", "gemini"])
def agent(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    require(name)
    return name


def _world(agent: str, tmp_path: Path, socket_name: str, monkeypatch: pytest.MonkeyPatch,
           fresh: bool) -> Iterator[World]:
    with fake_api(agent) as api:
        world = make_world(agent, tmp_path, socket_name, api, monkeypatch, fresh=fresh)
        try:
            yield world
        finally:
            for sess in world.sessions:
                with contextlib.suppress(Exception):
                    sess.close(terminate=True)
            end_leftovers(world)


@pytest.fixture
def world(agent: str, tmp_path: Path, socket_name: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The agent in a folder it trusts already."""
    yield from _world(agent, tmp_path, socket_name, monkeypatch, fresh=False)


@pytest.fixture
def new_folder(agent: str, tmp_path: Path, socket_name: str,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The agent meeting a git folder for the first time."""
    yield from _world(agent, tmp_path, socket_name, monkeypatch, fresh=True)
