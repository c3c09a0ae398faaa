"""The user's journey around a run (issue 18): typing the task, the folder a live session is
adopted in, what is left running and how to stop it. Real tmux, the simulated agent, the fake
supervisor; the CLI as the person runs it (in a terminal where that matters)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.integration.conftest import fake_agent_cmd
from tests.integration.terminal import Terminal

KEY = "sk-or-v1-JOURNEY-5ecr3t-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
DONE = "Summary: done.\nTASK_COMPLETE"


@pytest.fixture
def supervisor() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def env(cli_env: dict[str, str], supervisor: FakeOpenAI) -> dict[str, str]:
    return dict(cli_env, OPENROUTER_API_KEY=KEY, OPENROUTER_BASE_URL=supervisor.base_url)


def folder(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


def test_the_task_typed_at_the_prompt_takes_several_lines(
        tmp_path: Path, socket_name: str, env: dict[str, str], supervisor: FakeOpenAI) -> None:
    """At the task prompt on a terminal, Alt-Enter adds a line and Enter sends: the task
    arrives whole, with no raw ESC in it, and nothing is left over for the shell."""
    supervisor.responder = lambda request: DONE
    work = folder(tmp_path, "work")
    term = Terminal([sys.executable, "-m", "claude_orchestrator", "--socket", socket_name,
                     "--agent", "generic", "--claude-cmd", fake_agent_cmd(), str(work)], env)
    assert term.wait_for("task>"), term.text()
    term.type(b"Add a --verbose flag", every=0.01)
    term.type(b"\x1b\r")
    term.type(b"and its tests", every=0.01)
    term.type(b"\r")
    assert term.wait(60) == 0, term.text()
    first = supervisor.requests[0].json["messages"][1]["content"]
    assert "Task:\nAdd a --verbose flag\nand its tests\n" in first, first
    assert "\x1b" not in first
