"""Fixtures for tests on a real tmux server: a unique socket per test (killed afterwards), the
simulated agent, and a way to run the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_AGENT = ROOT / "tests" / "fakes" / "fake_agent.py"


def tmux_cmd(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True)


@pytest.fixture
def socket_name() -> Iterator[str]:
    name = f"co-test-{uuid.uuid4().hex[:10]}"
    yield name
    tmux_cmd(name, "kill-server")


@pytest.fixture
def agent_log(tmp_path: Path) -> Path:
    return tmp_path / "agent-log.jsonl"


def logged_texts(path: Path) -> list[str]:
    """What the simulated agent received, one entry per submitted message."""
    if not path.exists():
        return []
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def fake_agent_cmd(*options: str) -> str:
    return " ".join([sys.executable, str(FAKE_AGENT), *options])


@pytest.fixture
def cli_env(tmp_path: Path, agent_log: Path) -> dict[str, str]:
    """An environment for the CLI: private run log and data dirs, no real keys."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENROUTER_", "CLAUDE_", "ANTHROPIC_", "TMUX"))}
    env.update({
        "CLAUDE_ORCHESTRATOR_RUNLOG": str(tmp_path / "runs.sqlite3"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "FAKE_AGENT_LOG": str(agent_log),
        "PYTHONUNBUFFERED": "1",
    })
    (tmp_path / "run").mkdir(mode=0o700)
    return env


def run_cli(args: list[str], env: dict[str, str], *, input: str | None = None,
            timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "claude_orchestrator", *args], env=env,
                          input=input, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0,
               interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# Fixtures for the real Claude Code CLI tests (defined beside their helpers).
from tests.integration.othercli import (  # noqa: E402, F401
    agent,
    new_folder,
    world,
)
from tests.integration.realcli import (  # noqa: E402, F401
    api,
    first_run,
    real,
    require_claude_cli,
)
from tests.integration.servers import postgres, ray_head  # noqa: E402, F401
from tests.integration.web import browser, page, shots  # noqa: E402, F401
